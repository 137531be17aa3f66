"""The short paths that keep one submission fast (issue 14) give what the long ones gave: the code cells read straight
from JSON, the sandbox started early, and the modules a grade never needs are never imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from grader.config import Assignment, load_assignment
from grader.errors import NotebookError
from grader.grading import sandbox
from grader.notebooks import code_cells, read_code_cells, read_notebook
from tests.conftest import sandbox_mode

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples" / "submissions").glob("*.ipynb"))


def write(path: Path, notebook: Any) -> Path:
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def v4(*cells: dict[str, Any]) -> dict[str, Any]:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": list(cells)}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_code_cells_straight_from_json_are_those_nbformat_gives(path: Path) -> None:
    try:
        expected: Any = code_cells(read_notebook(path))
    except NotebookError as error:  # an unreadable example: the same refusal
        expected = str(error)
    try:
        got: Any = read_code_cells(path)
    except NotebookError as error:
        got = str(error)
    assert got == expected


def test_bent_notebooks_read_the_same_both_ways(tmp_path: Path) -> None:
    cases = {
        "lines.ipynb": v4({"cell_type": "markdown", "source": ["# t\n", "x"]},
                          {"cell_type": "code", "source": ["def f():\n", "    return 1\n"], "outputs": []},
                          {"source": "no type"}, {"cell_type": "code"}, {"cell_type": "raw", "source": "r"}),
        "v3.ipynb": {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"metadata": {}, "cells": [
            {"cell_type": "code", "input": ["x = 1\n", "y = 2"], "outputs": [], "language": "python", "metadata": {}},
            {"cell_type": "markdown", "source": "m", "metadata": {}},
            {"cell_type": "code", "input": "def g(): pass", "outputs": [], "language": "python", "metadata": {}}]}]},
    }
    for name, notebook in cases.items():
        path = write(tmp_path / name, notebook)
        assert read_code_cells(path) == code_cells(read_notebook(path)), name
    assert read_code_cells(tmp_path / "lines.ipynb") == [(2, "def f():\n    return 1\n"), (4, "")]
    assert read_code_cells(tmp_path / "v3.ipynb") == [(1, "x = 1\ny = 2"), (3, "def g(): pass")]


@pytest.mark.parametrize(("cell", "message"), [
    (["not", "a", "cell"], "a cell is malformed: it is not a JSON object"),
    ({"cell_type": "code", "source": ["x", 1]}, "its source is neither text nor a list of lines"),
    ({"cell_type": "code", "source": {"x": 1}}, "its source is neither text nor a list of lines"),
])
def test_a_malformed_cell_gets_the_same_clear_message_both_ways(tmp_path: Path, cell: Any, message: str) -> None:
    path = write(tmp_path / "bad.ipynb", v4({"cell_type": "code", "source": "x = 1"}, cell))
    for read in (read_code_cells, read_notebook):
        with pytest.raises(NotebookError, match=message):
            read(path)


GRADE = """
import sys
from grader.cli import main
try:
    main(sys.argv[1:-1])
except SystemExit:
    pass
prefixes = {".".join(m.split(".")[:n]) for m in list(sys.modules) for n in range(1, m.count(".") + 2)}
print("\\nLOADED", sorted(prefixes & set(sys.argv[-1].split(","))), file=sys.stderr)
"""


def loaded(*args: str, watch: str) -> list[str]:
    """The watched modules or packages (``numpy``, ``grader.course``) a whole ``grader`` command imported."""
    # not measured under `make coverage`: coverage.py itself imports sqlite3 and xml into the process it measures
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    done = subprocess.run([sys.executable, "-c", GRADE, *args, watch], cwd=ROOT, capture_output=True, text=True,
                          check=False, env=env)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("LOADED"), done.stderr[-2000:]
    return list(json.loads(last.removeprefix("LOADED ").replace("'", '"')))


def test_one_grade_imports_nothing_it_does_not_use(tmp_path: Path) -> None:
    """nbconvert, IPython, jsonschema and matplotlib cost ~0.5 s of start-up together, and grading uses none of them;
    nor tqdm for one notebook."""
    example = str(ROOT / "examples" / "submissions" / "bob_partly_right.ipynb")
    heavy = "nbconvert,IPython,jsonschema,matplotlib,tqdm,nbclient,bs4"
    common = ["--sandbox", sandbox_mode()]
    # feedback.ipynb and its page are read, built and written without nbformat (and jsonschema): ~0.1 s
    grade = heavy + ",nbformat,numpy"
    assert loaded("grade", "cnn_step_by_step", example, "--out", str(tmp_path / "a"), *common, watch=grade) == ["numpy"]
    assert json.loads((tmp_path / "a" / "bob_partly_right" / "results.json").read_text())["score"] > 0  # it did grade
    assert (tmp_path / "a" / "bob_partly_right" / "feedback-notebook.html").is_file()
    # a check prints text: no templates (Jinja), no gradebooks (the course's, SQLite), no summary page or JUnit
    text_only = heavy + ",nbformat,numpy,jinja2,markupsafe,sqlite3,xml,grader.course,grader.reporting.summary"
    assert loaded("check", example, "--assignment", "cnn_step_by_step", *common, watch=text_only) == ["numpy"]
    bare = ["--out", str(tmp_path / "b"), "--no-annotate", *common]
    assert loaded("grade", "cnn_step_by_step", example, *bare, watch=heavy + ",nbformat,mistune,numpy") == ["numpy"]


def test_a_prestarted_sandbox_is_taken_only_with_the_same_settings(assignment: Assignment) -> None:
    mode = sandbox_mode()
    sandbox.prestart(mode, assignment.limits, assignment.course_files)
    worker = sandbox.take_started(mode, assignment.limits, assignment.course_files, None)
    try:
        assert worker is not None and worker.process is not None and worker.process.poll() is None
        assert sandbox.take_started(mode, assignment.limits, assignment.course_files, None) is None  # taken once
    finally:
        if worker is not None:
            worker.close()
    sandbox.prestart(mode, assignment.limits, assignment.course_files)
    spare = sandbox._spare
    assert spare is not None and spare.process is not None
    process = spare.process
    assert sandbox.take_started(mode, assignment.limits, (), None) is None  # other course files: not this one
    assert process.poll() is not None  # and it was stopped, not left running


def test_the_annotated_notebook_is_valid_without_validating_it_at_run_time(tmp_path: Path) -> None:
    """annotate builds cells without nbformat's validating constructors (their first use compiles the schema): what it
    builds must be valid all the same, counts below zero and tags the schema refuses included."""
    code = """
import json, sys
import nbformat
from grader.model import GradeReport
from grader.reporting import annotate
bent = nbformat.from_dict({"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [
    {"cell_type": "code", "source": "def zero_pad(X, pad):\\n    return X", "execution_count": -3,
     "metadata": {"tags": ["a,b", "x", "x", "", "ok"]},
     "outputs": [{"output_type": "execute_result", "execution_count": -1, "data": {"text/plain": "1"}, "metadata": {}}]},
    {"cell_type": "markdown", "source": "m", "metadata": {"tags": "not a list"}}]})
report = GradeReport(assignment="cnn_step_by_step", title="t", submission="s.ipynb", score=0, max_score=10)
result = annotate.annotate(bent, report, annotate.find_places(bent))
print(json.dumps({"compiled": len(nbformat.validator.validators), "tags": result.cells[1].metadata.get("tags"),
                  "count": result.cells[1].execution_count, "out": result.cells[1].outputs[0].execution_count}))
nbformat.validate(result)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout) == {"compiled": 0, "tags": ["x", "ok"], "count": None, "out": None}


def _npy(array: Any) -> bytes:
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def test_arrays_read_through_the_short_header_path_are_those_numpy_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """np.save's own header is read without NumPy's (slow) header parser: the same arrays come out, and NumPy's
    parser is not even called for them."""
    import io

    import numpy as np

    from grader.grading import wire

    arrays = [np.float64(3.0).reshape(()), np.arange(5), np.random.default_rng(0).random((3, 4)),
              np.asfortranarray(np.arange(12.0).reshape(3, 4)), np.zeros((0, 3)), np.array([True, False]),
              np.array([1 + 2j]), np.arange(6, dtype=">i4").reshape(2, 3), np.ones((2, 3, 4, 5), dtype=np.float32),
              np.zeros((1,) * 20), np.arange(3, dtype=np.uint8), np.arange(12.0).reshape(3, 4)[:, ::2]]
    blobs = [_npy(a) for a in arrays]
    expected = [np.load(io.BytesIO(blob)) for blob in blobs]

    def refuse(*args: Any) -> None:
        raise AssertionError("NumPy's header parser was used")

    monkeypatch.setattr(np.lib.format, "read_array_header_1_0", refuse)
    for blob, want in zip(blobs, expected):
        got = wire._array(blob)
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)


@pytest.mark.parametrize(("old", "new"), [
    (b"(3, 4)", b"(9, 9)"),  # the shape lies about the size
    (b"'<f8'", b"'<f3'"),  # no such type
    (b"'<f8'", b"'|O8'"),  # objects: never
    (b"(3, 4)", b"(" + b"1, " * 40 + b"3)"),  # more dimensions than any answer has
])
def test_a_forged_header_is_refused_on_either_path(old: bytes, new: bytes) -> None:
    import numpy as np

    from grader.grading import wire

    blob = _npy(np.zeros((3, 4)))
    length = int.from_bytes(blob[8:10], "little")
    header = blob[10:10 + length].replace(old, new).rstrip(b" \n")
    header += b" " * ((-(10 + len(header) + 1)) % 64) + b"\n"
    forged = blob[:8] + len(header).to_bytes(2, "little") + header + blob[10 + length:]
    with pytest.raises(wire.WireError):
        wire.decode({"$array": 0}, [forged])


def test_the_sandbox_starts_before_the_grader_imports_numpy() -> None:
    """``prestart`` runs before the grading machinery is imported so that the sandbox's start-up (bubblewrap, Python and
    NumPy inside) overlaps the grader's own imports; it is worth that only if starting it imports no NumPy here. The
    sandbox so started then serves calls as any other."""
    code = f"""
import sys
from grader.config import load_assignment
from grader.grading import sandbox
from grader.model import Chunk, Submission
assignment = load_assignment("cnn_step_by_step")
sandbox.prestart({sandbox_mode()!r}, assignment.limits, assignment.course_files)
before = "numpy" in sys.modules
worker = sandbox.take_started({sandbox_mode()!r}, assignment.limits, assignment.course_files, None)
chunk = Chunk(cell=1, line=1, kind="def", names=("f",), code="def f(x):\\n    return x * 2\\n")
loaded = worker.load(Submission(path="s.ipynb", chunks=(chunk,)), ["f"])
outcome = worker.call("f", (21,), {{}})
worker.close()
print(before, loaded.defined, outcome.status, outcome.value)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["False", "('f',)", "returned", "42"]


BENT = v4(
    {"cell_type": "markdown", "source": ["# t\n", "![p](attachment:p.png)"], "metadata": {"trusted": True},
     "attachments": {"p.png": {"image/png": ["iVBORw0KGgo=\n", "AAAA"]}}},
    {"cell_type": "code", "source": ["def zero_pad(X, pad):\n", "    return X\n"], "execution_count": 3, "metadata": {},
     "outputs": [{"output_type": "stream", "name": "stdout", "text": ["a\n", "b\n"]},
                 {"output_type": "display_data", "metadata": {},
                  "data": {"text/html": ["<b>x</b>\n", "<i>y</i>"], "application/json": ["kept", "as a list"],
                           "text/plain": ["1\n", "2"], "image/png": "iVBORw0KGgo="}},
                 {"output_type": "error", "ename": "E", "evalue": "v", "traceback": ["\x1b[31mline\x1b[0m"]}]},
    {"cell_type": "raw", "source": "r", "metadata": {"tags": ["x"]}})
BENT["metadata"] = {"orig_nbformat": 3, "signature": "s", "kernelspec": {"name": "python3", "display_name": "P"}}
EVERY_EXAMPLE = sorted((ROOT / "examples" / "submissions").rglob("*.ipynb"))


@pytest.mark.parametrize("path", EVERY_EXAMPLE, ids=lambda p: p.stem)
def test_notebooks_read_without_nbformat_are_those_nbformat_reads(path: Path) -> None:
    from grader.notebooks import read_nodes

    outcomes = []
    for read in (read_notebook, read_nodes):
        try:
            outcomes.append(read(path))
        except NotebookError as error:  # an unreadable example: the same refusal
            outcomes.append(str(error))
    assert outcomes[0] == outcomes[1]


def test_bent_notebooks_read_and_write_as_nbformat_does(tmp_path: Path) -> None:
    import nbformat
    from nbformat.v4.nbjson import JSONWriter

    from grader.notebooks import Node, read_nodes, writes

    path = write(tmp_path / "bent.ipynb", BENT)
    got, expected = read_nodes(path), read_notebook(path)
    assert got == expected and isinstance(got.cells[1].outputs[0], Node)
    assert got.cells[1].outputs[1].data["application/json"] == ["kept", "as a list"]  # JSON types are never joined
    assert got.metadata == {"kernelspec": {"name": "python3", "display_name": "P"}} and got.cells[0].metadata == {}
    kept = json.dumps(got)
    assert writes(got) == JSONWriter().writes(nbformat.from_dict(json.loads(kept)))
    assert json.dumps(got) == kept  # writing changed nothing in the notebook written
    for cell in ({"cell_type": "code", "source": "x", "metadata": [1]}, {"cell_type": "code", "source": "x",
                 "attachments": []}, {"cell_type": "code", "source": "x", "outputs": [{"output_type": "stream"}], "metadata": {}}):
        bad = write(tmp_path / "bad.ipynb", v4(cell))
        outcomes = []
        for read in (read_notebook, read_nodes):
            try:
                outcomes.append(read(bad))
            except NotebookError as error:
                outcomes.append(str(error))
        assert outcomes[0] == outcomes[1], cell


@pytest.fixture(scope="module")
def graded_examples(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Any]]:
    """Each example of both assignments with its report (graded once, without annotation; a call may take half a
    second, so that carol's endless loop costs that rather than the assignment's limit)."""
    import dataclasses

    from grader.config import load_assignment
    from grader.running.batch import grade_paths

    graded = []
    for name, folder in (("cnn_step_by_step", ROOT / "examples" / "submissions"),
                         ("optimization_methods", ROOT / "examples" / "submissions" / "optimization_methods")):
        assignment = load_assignment(name)
        assignment = dataclasses.replace(assignment, limits=dataclasses.replace(assignment.limits, call_seconds=0.5))
        paths = sorted(folder.glob("*.ipynb"))
        graded += list(zip(paths, grade_paths(assignment, paths, sandbox_mode())))
    return graded


def test_annotated_views_are_byte_identical_with_and_without_nbformat(
        graded_examples: list[tuple[Path, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """feedback.ipynb and feedback-notebook.html come out the same whether nbformat reads, builds and writes the
    notebook (as before) or grader/notebooks.py does, for every example of both assignments."""
    import nbformat
    from nbformat.v4.nbjson import JSONWriter

    from grader.reporting import annotate

    for path, report in graded_examples:
        written = annotate.write_annotated(report, path, tmp_path / "light" / path.stem)
        with monkeypatch.context() as patched:
            patched.setattr(annotate, "read_nodes", read_notebook)
            patched.setattr(annotate, "nodes", nbformat.from_dict)
            patched.setattr(annotate, "writes", JSONWriter().writes)
            assert annotate.write_annotated(report, path, tmp_path / "nbformat" / path.stem) == written
        for name in (annotate.NOTEBOOK_FILE, annotate.PAGE_FILE) if written else ():
            light, full = (tmp_path / way / path.stem / name for way in ("light", "nbformat"))
            assert light.read_bytes() == full.read_bytes(), (path.name, name)
    assert len(list((tmp_path / "light").glob(f"*/{annotate.PAGE_FILE}"))) >= 5  # every readable example compared


@pytest.mark.parametrize("given", ["", "4"], ids=["unset", "the user's own"])
def test_the_commands_load_numpy_with_one_blas_thread_unless_told_otherwise(given: str) -> None:
    """OpenBLAS's thread pool made the grader's NumPy import and the sandbox's, side by side, each take twice as long."""
    environment = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    if given:
        environment["OPENBLAS_NUM_THREADS"] = given
    probe = "import grader.cli, os, numpy; print(os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'])"
    done = subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True)
    assert done.stdout.split() == [given or "1", "1"]


def test_the_command_skips_teardown_but_keeps_exit_handlers_output_and_code() -> None:
    """``grader`` ends with os._exit (no object-by-object teardown): what was printed, the exit handlers (temporary
    folders, coverage.py's data) and the exit code must all survive it."""
    script = ("import atexit, sys; from grader import cli; atexit.register(lambda: print('handler ran')); "
              "sys.argv = ['grader', 'grade', 'no_such_assignment']; print('before', end=''); cli.run()")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # output buffered, as by default
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2  # main's own code for a usage error
    assert result.stdout.startswith("before")
    assert result.stdout.rstrip().endswith("handler ran")


def test_the_kept_master_extraction_is_the_fresh_one_and_follows_edits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The master notebook is extracted once per version and read back after (grader/kept.py): the same Submission
    as a fresh extraction; a damaged kept file is extracted again; an edited notebook is never served the old one."""
    from grader.grading import extract

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    master = tmp_path / "master.ipynb"
    master.write_bytes((ROOT / "solutions" / "cnn_step_by_step" / "cnn_step_by_step.ipynb").read_bytes())
    fresh = extract.extract_submission(master)
    assert extract.extract_kept(master) == fresh
    (kept,) = (tmp_path / "cache" / "grader" / "extracted").iterdir()
    with monkeypatch.context() as patched:
        patched.setattr(extract, "extract_submission", lambda path: pytest.fail("extracted again"))
        assert extract.extract_kept(master) == fresh
    kept.write_text('{"path": 1}', encoding="utf-8")
    assert extract.extract_kept(master) == fresh
    notebook = json.loads(master.read_text(encoding="utf-8"))
    notebook["cells"].append({"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                              "source": "def added_later():\n    return 1\n"})
    master.write_text(json.dumps(notebook), encoding="utf-8")
    assert "added_later" in extract.extract_kept(master).defined


def test_the_kept_isolation_graph_is_the_fresh_one_and_follows_edits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Which references each function may be lent (isolation) is worked out once per version of the master notebook
    and kept: the same graph as working it out; a damaged kept file, or one naming what is not graded, is worked out
    again; an edited master never gets the old graph."""
    import shutil

    from grader.grading import suite

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    shutil.copytree(ROOT / "solutions" / "cnn_step_by_step", tmp_path / "cnn_step_by_step")
    assignment = load_assignment(tmp_path / "cnn_step_by_step")
    graded = [f.name for f in assignment.functions]
    fresh = suite.reference_depends(suite._master_chunks(assignment), graded)
    assert fresh["conv_forward"] == ("zero_pad", "conv_single_step")
    assert suite._kept_depends(assignment, graded) == fresh
    (kept,) = (tmp_path / "cache" / "grader" / "depends").iterdir()
    with monkeypatch.context() as patched:
        patched.setattr(suite, "reference_depends", lambda chunks, names: pytest.fail("worked out again"))
        assert suite._kept_depends(assignment, graded) == fresh
    for damaged in ('{"zero_pad": 1}', json.dumps({**fresh, "zero_pad": ["os"]}), "[", json.dumps({})):
        kept.write_text(damaged, encoding="utf-8")
        assert suite._kept_depends(assignment, graded) == fresh
    master = assignment.master_notebook
    notebook = json.loads(master.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and "def pool_forward(" in source:
            cell["source"] = source.replace("def pool_forward(A_prev, hparameters, mode=\"max\"):",
                                            "def pool_forward(A_prev, hparameters, mode = \"max\"):\n    zero_pad(A_prev, 0)")
    master.write_text(json.dumps(notebook), encoding="utf-8")
    assert suite._kept_depends(assignment, graded)["pool_forward"] == ("zero_pad",)


def test_an_extraction_started_ahead_is_the_one_taken_and_one_never_taken_is_collected(tmp_path: Path) -> None:
    """One grade extracts its notebook while the grader starts (extract_ahead): the same Submission as extracting then;
    other bounds than the default start afresh; a child never taken is stopped and collected, never left behind."""
    from grader.grading import extract

    path = ROOT / "examples" / "submissions" / "bob_partly_right.ipynb"
    fresh = extract.extract_bounded(path)
    extract.extract_ahead(path)
    ahead = extract._started[(os.fspath(path), ())]
    assert extract.extract_bounded(path) == fresh
    assert os.fspath(path) not in extract._started
    with pytest.raises(ChildProcessError):
        os.waitpid(ahead.pid, os.WNOHANG)
    extract.extract_ahead(path)
    other = extract._started[(os.fspath(path), ())]
    assert extract.extract_bounded(path, seconds=5.0) == fresh  # its own child, not the one ahead
    with pytest.raises(ChildProcessError):
        os.waitpid(other.pid, os.WNOHANG)
    extract.extract_ahead(path)
    never = extract._started[(os.fspath(path), ())]
    extract._cancel_started()
    with pytest.raises(ChildProcessError):
        os.waitpid(never.pid, os.WNOHANG)


def test_a_batch_extracts_each_next_notebook_ahead_and_leaves_no_child(assignment: Assignment) -> None:
    """--jobs 1 parses the next notebook while it grades one (extract_ahead): the same grades as one by one, a path
    given twice included, and no extraction child left once the batch is done."""
    from grader.grading import extract
    from grader.running.batch import grade_stream

    alice, bob = EXAMPLES[0], next(p for p in EXAMPLES if p.stem == "bob_partly_right")
    paths = [bob, alice, bob]
    graded = dict(grade_stream(assignment, paths, sandbox_mode()))
    assert [graded[i].score for i in range(3)] == [graded[0].score, 100, graded[0].score] and graded[0].score < 100
    assert extract._started == {}


def test_the_benchmarks_floor_runs_every_reference_through_its_public_test() -> None:
    """Issue 14's ratios are to this floor: one that stopped early (until session 11 it stopped at the master's first
    cell, whose ``%matplotlib inline`` is no Python) made every grade look slower than it was."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from bench_cohort import floor_command
    finally:
        sys.path.remove(str(ROOT / "bench"))
    try:
        command = floor_command({**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    except SystemExit as stopped:
        pytest.fail(str(stopped))
    assert command[0] == sys.executable
