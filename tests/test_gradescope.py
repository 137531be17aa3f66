"""Gradescope's autograder.zip, run as Gradescope runs it: unpacked into <root>/source, the student's files in
<root>/submission, run_autograder started in <root> with this checkout's Python, results read from
<root>/results/results.json."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from grader.config import Assignment
from grader.course.gradescope import SANDBOX_NOTES, build_autograder, find_notebook
from grader.errors import UsageError
from tests.conftest import ROOT, sandbox_mode, write_notebook

EXAMPLES = ROOT / "examples" / "submissions"


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from grader.config import load_assignment

    return build_autograder(load_assignment("cnn_step_by_step", ROOT), tmp_path_factory.mktemp("zip") / "autograder.zip")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")  # the reference is checked once for the module's runs


def _layout(autograder_zip: Path, root: Path) -> Path:
    """A folder as Gradescope's image has it: the zip unpacked in source/, run_autograder copied beside it."""
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    shutil.copyfile(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    return root


def _run(root: Path, cache: Path, sandbox: str = "auto") -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cache), "XDG_CACHE_HOME": str(cache),
           "GRADER_GS_ROOT": str(root), "GRADER_GS_PYTHON": sys.executable, "GRADER_GS_SANDBOX": sandbox}
    done = subprocess.run([str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    results = root / "results" / "results.json"
    return done, (json.loads(results.read_text(encoding="utf-8")) if results.exists() else {})


def telling_line(path: Path) -> str:
    """A line of the file that JSON writes as it is (no quote or backslash), so `in json.dumps(...)` can find it."""
    return next(line for line in path.read_text(encoding="utf-8").splitlines()
                if len(line) > 30 and '"' not in line and "\\" not in line)


def test_the_zip_has_what_gradescope_needs_at_its_root(autograder_zip: Path) -> None:
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    assert {"setup.sh", "run_autograder", "requirements.txt"} <= names
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111  # unzip keeps them executable
    assert "course/solutions/course.key" in names and "course/solutions/cnn_step_by_step/hidden_tests.py" in names
    assert "lib/grader/grading/worker.py" in names and "lib/grader/templates/feedback.html.j2" in names
    assert not any("__pycache__" in name or name.startswith("submission") for name in names)
    with zipfile.ZipFile(autograder_zip) as archive:
        wanted = archive.read("requirements.txt").decode().splitlines()
    assert any(line.startswith("numpy") for line in wanted) and not any(line.startswith("pytest") for line in wanted)


def test_a_full_marks_notebook_gets_full_marks_from_the_bundled_grader(autograder_zip: Path, cache: Path, tmp_path: Path) -> None:
    root = _layout(autograder_zip, tmp_path / "autograder")
    shutil.copyfile(EXAMPLES / "alice_full_marks.ipynb", root / "submission" / "cnn_step_by_step.ipynb")
    done, results = _run(root, cache)
    assert done.returncode == 0, done.stderr
    assert results["score"] == 100 and results["extra_data"]["max_score"] == 100
    assert sum(t["score"] for t in results["tests"]) == pytest.approx(100)
    assert f"from {root / 'source' / 'lib' / 'grader'}" in done.stdout  # the zip's own copy of the grader ran
    assert results["extra_data"]["sandbox"]["mode"] == sandbox_mode()


def test_a_failing_notebook_loses_its_points_and_hidden_checks_wait(autograder_zip: Path, cache: Path, tmp_path: Path) -> None:
    root = _layout(autograder_zip, tmp_path / "autograder")
    shutil.copyfile(EXAMPLES / "bob_partly_right.ipynb", root / "submission" / "my work.ipynb")  # the only notebook
    done, results = _run(root, cache)
    assert done.returncode == 0, done.stderr
    assert 0 <= results["score"] < 100
    assert any(t["status"] == "failed" for t in results["tests"])
    assert {t["visibility"] for t in results["tests"]} == {"visible", "after_published"}


def test_an_unreadable_notebook_or_none_at_all_scores_zero_and_says_why(autograder_zip: Path, cache: Path, tmp_path: Path) -> None:
    root = _layout(autograder_zip, tmp_path / "corrupt")
    shutil.copyfile(EXAMPLES / "dave_corrupted.ipynb", root / "submission" / "cnn_step_by_step.ipynb")
    done, results = _run(root, cache)
    assert done.returncode == 0, done.stderr
    assert results["score"] == 0 and results["output"]

    root = _layout(autograder_zip, tmp_path / "empty")
    (root / "submission" / "notes.txt").write_text("forgot the notebook", encoding="utf-8")
    done, results = _run(root, cache)
    assert done.returncode == 0, done.stderr
    assert results["score"] == 0 and "upload cnn_step_by_step.ipynb" in results["output"]


def test_hostile_submissions_see_nothing_of_the_bundle(autograder_zip: Path, cache: Path, tmp_path: Path) -> None:
    """A notebook that reads the bundled hidden tests, and a link to the master notebook, earn nothing and show
    none of it. Under bubblewrap the bundle is out of sight; without it only the container protects it (below)."""
    if sandbox_mode() != "bwrap":
        pytest.skip("needs bubblewrap")
    root = _layout(autograder_zip, tmp_path / "reader")
    hidden = root / "source" / "course" / "solutions" / "cnn_step_by_step" / "hidden_tests.py"
    secret = telling_line(hidden)
    write_notebook(root / "submission" / "cnn_step_by_step.ipynb",
                   f"def zero_pad(X, pad):\n    raise RuntimeError(open({str(hidden)!r}).read())\n")
    done, results = _run(root, cache, "bwrap")
    assert done.returncode == 0, done.stderr
    assert results["score"] == 0 and results["extra_data"]["sandbox"]["mode"] == "bwrap"
    assert secret not in json.dumps(results) and "No such file" in json.dumps(results)

    root = _layout(autograder_zip, tmp_path / "link")
    master = root / "source" / "course" / "solutions" / "cnn_step_by_step" / "cnn_step_by_step.ipynb"
    (root / "submission" / "cnn_step_by_step.ipynb").symlink_to(master)
    done, results = _run(root, cache, "bwrap")
    assert done.returncode == 0, done.stderr
    assert results["score"] == 0 and "not a regular file" in results["output"]


def test_without_bubblewrap_the_results_say_the_container_is_the_only_sandbox(autograder_zip: Path, cache: Path,
                                                                               tmp_path: Path) -> None:
    root = _layout(autograder_zip, tmp_path / "autograder")
    shutil.copyfile(EXAMPLES / "alice_full_marks.ipynb", root / "submission" / "cnn_step_by_step.ipynb")
    done, results = _run(root, cache, "none")
    assert done.returncode == 0, done.stderr
    assert results["score"] == 100
    sandbox = results["extra_data"]["sandbox"]
    assert sandbox["mode"] == "none" and sandbox["note"] == SANDBOX_NOTES["none"]
    assert "could have read the files in /autograder/source" in sandbox["note"]
    assert "only sandbox" in done.stdout  # the staff's log (Gradescope keeps stdout hidden from students)


def test_a_broken_bundle_writes_no_score(autograder_zip: Path, cache: Path, tmp_path: Path) -> None:
    """A grader that cannot grade must not give a 0: no results.json, so Gradescope marks the run as failed."""
    root = _layout(autograder_zip, tmp_path / "autograder")
    (root / "source" / "course" / "solutions" / "course.key").write_text("short", encoding="utf-8")
    shutil.copyfile(EXAMPLES / "alice_full_marks.ipynb", root / "submission" / "cnn_step_by_step.ipynb")
    done, results = _run(root, cache)
    assert done.returncode != 0 and results == {}
    assert "course key" in done.stderr


def test_the_notebook_is_chosen_by_name_then_alone(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "hw.ipynb").write_text("{}", encoding="utf-8")
    assert find_notebook(tmp_path, "hw.ipynb") == (tmp_path / "a" / "b" / "hw.ipynb", "")
    (tmp_path / "other.ipynb").write_text("{}", encoding="utf-8")
    assert find_notebook(tmp_path, "hw.ipynb")[0] == tmp_path / "a" / "b" / "hw.ipynb"
    found, why = find_notebook(tmp_path, "expected.ipynb")
    assert found is None and "2 notebooks" in why
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "__MACOSX" / "expected.ipynb").write_text("{}", encoding="utf-8")
    assert find_notebook(tmp_path, "expected.ipynb")[0] is None  # resource forks of a Mac zip are not notebooks


def test_a_student_release_cannot_be_bundled(assignment: Assignment, tmp_path: Path) -> None:
    from dataclasses import replace

    with pytest.raises(UsageError, match="student release"):
        build_autograder(replace(assignment, source_dir=assignment.release_dir), tmp_path / "autograder.zip")
    assert not (tmp_path / "autograder.zip").exists()


def test_the_scripts_parse_and_setup_prepares_the_image(autograder_zip: Path, cache: Path, tmp_path: Path) -> None:
    """setup.sh needs root, apt and the network, so only its last step (the grader's own) runs here; both scripts
    must at least parse as bash."""
    root = _layout(autograder_zip, tmp_path / "autograder")
    for script in ("setup.sh", "run_autograder"):
        assert subprocess.run(["bash", "-n", str(root / "source" / script)], capture_output=True).returncode == 0
    setup_text = (root / "source" / "setup.sh").read_text(encoding="utf-8")
    assert "bubblewrap" in setup_text and "requirements.txt" in setup_text
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cache), "XDG_CACHE_HOME": str(cache),
           "PYTHONPATH": str(root / "source" / "lib")}
    done = subprocess.run([sys.executable, "-B", "-m", "grader.course.gradescope", "setup", "--root", str(root)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "cnn_step_by_step 1.0.0 ready; sandbox" in done.stdout


def test_a_folder_as_destination_gets_autograder_zip_inside(assignment: Assignment, tmp_path: Path) -> None:
    written = build_autograder(assignment, tmp_path / "export" / "cnn_step_by_step")
    assert written == tmp_path / "export" / "cnn_step_by_step" / "autograder.zip"
    assert zipfile.ZipFile(written).read("run_autograder").startswith(b"#!/usr/bin/env bash")
    assert build_autograder(assignment, written.parent) == written  # an existing folder too


def test_as_root_without_bubblewrap_student_code_runs_as_nobody_and_cannot_reach_the_bundle(
        autograder_zip: Path, python_for_anyone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Gradescope's container as root, no bubblewrap: setup makes the bundled course root's alone and finds that a
    worker can run as nobody; the run then starts student code as nobody. A notebook that reads the hidden tests and
    writes the results and the grader's own code gets PermissionError for each, and 0. In process, with the worker's
    interpreter one nobody can run (this machine's lies under /root); the layout in a folder anyone may enter."""
    from grader.course import gradescope

    top = Path(tempfile.mkdtemp(prefix="grader-gradescope-"))
    try:
        top.chmod(0o755)
        root = _layout(autograder_zip, top / "autograder")
        hidden = root / "source" / "course" / "solutions" / "cnn_step_by_step" / "hidden_tests.py"
        secret = telling_line(hidden)
        code_file = root / "source" / "lib" / "grader" / "__init__.py"
        before = code_file.read_text(encoding="utf-8")
        write_notebook(root / "submission" / "cnn_step_by_step.ipynb",
                       "def zero_pad(X, pad):\n"
                       f"    raise RuntimeError(open({str(hidden)!r}).read())\n",
                       "def conv_single_step(a_slice_prev, W, b):\n"
                       f"    open({str(root / 'results' / 'results.json')!r}, 'w').write('{{\"score\": 100}}')\n",
                       "def pool_forward(A_prev, hparameters, mode='max'):\n"
                       f"    open({str(code_file)!r}, 'a').write('SCORE = 100')\n")
        monkeypatch.setattr(sys, "executable", str(python_for_anyone))
        monkeypatch.delenv("GRADER_COVERAGE", raising=False)  # `make coverage`: that interpreter has no coverage.py
        monkeypatch.setenv("GRADER_WORKER_USER", "")  # restored after the test: the run sets it
        assert gradescope.setup(root, "none") == 0
        assert (root / "source" / gradescope.WORKER_USER_FILE).read_text().strip() == "nobody"
        assert stat.S_IMODE((root / "source" / "course").stat().st_mode) == 0o700
        assert gradescope.run(root, "none") == 0
        results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
        text = json.dumps(results)
        assert results["score"] == 0 and secret not in text and "PermissionError" in text
        assert results["extra_data"]["sandbox"]["worker_user"] == "nobody"
        assert "unprivileged user nobody" in results["extra_data"]["sandbox"]["note"]
        assert code_file.read_text(encoding="utf-8") == before
    finally:
        shutil.rmtree(top)
