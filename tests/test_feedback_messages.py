"""Feedback a student can act on: one block per mistake (shapes and numbers masked), one line for a function still
the template, a banner with advice and nothing else for a notebook that cannot be read."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from grader.mistakes import Call, recognise
from grader.model import CheckResult, FunctionScore, GradeReport
from grader.reporting.report import failure_groups, normalised
from tests.conftest import ROOT, master_source, run_cli, sandbox_mode, write_notebook


def _report(checks: tuple[CheckResult, ...], optional: bool = False) -> GradeReport:
    names = dict.fromkeys(c.function for c in checks)
    functions = tuple(FunctionScore(n, 10, optional, 0, 2, 0) for n in names)
    return GradeReport("cnn", "CNN", "s.ipynb", 0, 10, functions, checks)


def test_one_mistake_with_different_shapes_is_one_block() -> None:
    messages = ["ValueError: could not broadcast input array from shape (0,0,1) into shape (4,4,1)",
                "ValueError: could not broadcast input array from shape (0,0,3) into shape (5,5,3)"]
    checks = tuple(CheckResult("conv_backward", f"hidden #{i}", "hidden", "error", m, params=f"pad = 0, n = {i}")
                   for i, m in enumerate(messages))
    groups = failure_groups(_report(checks), "conv_backward")
    assert len(groups) == 1 and len(groups[0].checks) == 2
    assert normalised(messages[0]) == normalised(messages[1]) != normalised("TypeError: other")


def test_a_function_still_the_template_gets_one_line() -> None:
    untouched = tuple(CheckResult("pool_backward", f"hidden #{i}", "hidden", "error",
                                  f'  File "cell 3", line {i}\nNameError: name \'dA_prev\' is not defined') for i in range(5))
    optional = failure_groups(_report(untouched, optional=True), "pool_backward")
    assert [g.label for g in optional] == ["optional, not attempted"] and len(optional[0].checks) == 5
    assert "NameError: name 'dA_prev' is not defined" in optional[0].message
    required = failure_groups(_report(untouched), "pool_backward")
    assert [g.label for g in required] == ["not started"]
    started = (*untouched[:4], CheckResult("pool_backward", "hidden #9", "hidden", "wrong", "dA has 3 wrong values.",
                                           failure="values"))
    assert "not started" not in [g.label for g in failure_groups(_report(started), "pool_backward")]


def test_a_whole_function_not_started_or_not_graded_is_one_line_without_its_checks_listed() -> None:
    from grader.reporting.annotate import function_cell
    from grader.reporting.report import render

    untouched = tuple(CheckResult("zero_pad", f"zero_pad hidden #{i}", "hidden", "error",
                                  "NameError: name 'X_pad' is not defined", params=f"pad = {i}") for i in range(5))
    why = "conv_forward was not graded: the cell that defines `conv_forward` could not be read (line 3)"
    unparsed = tuple(CheckResult("conv_forward", f"conv_forward hidden #{i}", "hidden", "missing", why,
                                 params=f"stride = {i}") for i in range(4))
    report = _report(untouched + unparsed)
    assert [(g.label, g.whole) for g in failure_groups(report, "conv_forward")] == [("not graded", True)]
    pages = {"md": render("feedback.md.j2", report, "s"), "html": render("feedback.html.j2", report, "s"),
             "notebook": "".join(function_cell(report, f).source for f in report.functions)}
    for kind, page in pages.items():
        assert "pad = 1" not in page and "stride = 1" not in page and "hidden #3" not in page, kind  # no wall of checks
        assert page.count("not started") == 1 and "not graded" in page, kind
        assert page.count("could not be read") == 1 and "all 5 checks fail with" in page, kind
    some_missing = (*unparsed[:3], CheckResult("conv_forward", "conv_forward_test", "public", "missing", "other reason"))
    assert not any(g.whole for g in failure_groups(_report(some_missing), "conv_forward"))


def test_an_unreadable_notebook_gets_a_banner_with_advice_and_nothing_else(tmp_path: Path) -> None:
    run_cli("grade", "cnn_step_by_step", ROOT / "examples" / "submissions" / "dave_corrupted.ipynb", "--out", tmp_path,
            "--sandbox", sandbox_mode(), check=True)
    page = (tmp_path / "dave_corrupted" / "feedback.html").read_text()
    assert "save it again" in page and "merge conflict" in page
    assert "<table>" not in page and "exception" not in page and page.count("could not be read") == 1
    twin = (tmp_path / "dave_corrupted" / "feedback.md").read_text()
    assert "could not be read" in twin and "merge conflict" in twin and "| Function" not in twin and "##" not in twin


def test_the_raised_form_of_an_empty_pad_slice_is_recognised(assignment, reference) -> None:
    from grader.grading.suite import load_catalogue

    catalogue = load_catalogue(assignment, reference)
    error = ('  File "cell 25", line 50, in conv_backward\n    dA_prev[i, :, :, :] = dA_prev_pad[pad:-pad, pad:-pad, :]\n'
             "ValueError: could not broadcast input array from shape (0,0,1) into shape (4,4,1)")
    call = Call((np.zeros((1, 4, 4, 1)), ()), {}, error=error)
    found = recognise(catalogue, "conv_backward", [call], reference.conv_backward)
    assert "negative-pad-slice" in [m.id for m in found]


# Point 8: messages a student reads.

NUMPY_REPR = re.compile(r"np\.(?:float|int|uint|bool|complex)\w*\(|np\.(?:True|False)_")
PLAIN_NUMBERS = {  # each returns NumPy scalars where a number is checked, and gets it wrong
    "conv_single_step": "import numpy as np\ndef conv_single_step(a_slice_prev, W, b):\n"
                        "    return np.float64(np.sum(a_slice_prev * W))\n",
    "distribute_value": "import numpy as np\ndef distribute_value(dz, shape):\n"
                        "    return np.full(shape, np.float64(dz) / 3)\n",
}


@pytest.fixture(scope="module")
def numpy_scalars(tmp_path_factory: pytest.TempPathFactory, assignment) -> dict[str, str]:
    """Everything a student reads about a notebook whose answers are NumPy scalars: the pages, results.json, check."""
    folder = tmp_path_factory.mktemp("numpy_scalars")
    cells = {**master_source(assignment), **PLAIN_NUMBERS}
    path = write_notebook(folder / "scalars.ipynb", "import numpy as np", *cells.values())
    run_cli("grade", "cnn_step_by_step", path, "--out", folder / "out", "--sandbox", sandbox_mode(), check=True)
    check = run_cli("check", path, "--assignment", "cnn_step_by_step", "--sandbox", sandbox_mode())
    texts = {name: (folder / "out" / "scalars" / name).read_text() for name in ("feedback.html", "feedback.md", "results.json")}
    notebook = folder / "out" / "scalars" / "feedback.ipynb"
    if notebook.exists():  # the grader's cells only: the student's own code says np.float64 on purpose
        cells = json.loads(notebook.read_text())["cells"]
        texts["feedback.ipynb"] = "".join("".join(c["source"]) for c in cells if "grader_feedback" in c["metadata"])
    return {**texts, "check": check.stdout}


def test_no_numpy_repr_anywhere_a_student_reads(numpy_scalars: dict[str, str]) -> None:
    assert "conv_single_step(a_slice_prev, W, b) is wrong: expected -6.99" in numpy_scalars["check"]
    assert "numpy float64, shape = (2, 2)" in numpy_scalars["feedback.md"]  # a NumPy scalar named in the parameters
    for name, text in numpy_scalars.items():
        assert not NUMPY_REPR.search(text), (name, NUMPY_REPR.search(text))


def test_the_first_differing_element_is_an_index_into_the_named_array() -> None:
    from grader.checks import CheckFailed, expect_array

    expected = np.arange(8.0)
    with pytest.raises(CheckFailed) as failed:
        expect_array("Z[0, 2, 1]", expected + (np.arange(8) == 3), expected)
    assert "first differing element: Z[0, 2, 1, 3]: expected 3.0, got 4.0" in failed.value.message
    with pytest.raises(CheckFailed) as failed:
        expect_array('A[1, 1] (pool_forward with stride = 1, mode = "average")', np.ones((3, 3)), np.zeros((3, 3)))
    assert 'first differing element: A[1, 1, 0, 0] (pool_forward with stride = 1, mode = "average"): expected 0.0' \
        in failed.value.message
    with pytest.raises(CheckFailed) as failed:
        expect_array("X_pad", np.ones((2, 2)), np.eye(2), show_values=False)  # hidden: where, never what
    assert "the first at X_pad[0, 1]" in failed.value.message and "expected" not in failed.value.message
    with pytest.raises(CheckFailed) as failed:  # [0][0] may pick a tuple's item first: never merged into one index
        expect_array("mini_batches[0][0]", np.ones((2, 2)), np.eye(2), show_values=False)
    assert "the first at mini_batches[0][0][0, 1]" in failed.value.message


def test_the_float_hint_suggests_item_only_for_one_element() -> None:
    from grader.checks import CheckFailed, expect_scalar

    with pytest.raises(CheckFailed) as many:
        expect_scalar("Z", np.ones((1, 1, 1, 8)), 1.0)
    assert ".item()" not in many.value.message and "8 values" in many.value.message
    with pytest.raises(CheckFailed) as one:
        expect_scalar("Z", np.ones((1, 1, 1)), 1.0)
    assert ".item()" in one.value.message


def test_a_hidden_wrong_number_says_what_is_wrong_and_what_to_try() -> None:
    from grader.checks import CheckFailed, expect_like, expect_scalar

    with pytest.raises(CheckFailed) as failed:
        expect_scalar("Z", 2.0, 1.0, show_values=False)
    assert failed.value.message != "Z is wrong." and "a number, as it should be, but not the right one" in failed.value.message
    assert "parameters listed with this check" in failed.value.message and "1.0" not in failed.value.message
    with pytest.raises(CheckFailed) as text:
        expect_like("mode", "max", "average", show_values=False)
    assert "a string, as it should be, but not the right one" in text.value.message and "average" not in text.value.message


def test_the_footer_promises_only_what_hidden_messages_keep(tmp_path: Path) -> None:
    from grader.reporting.report import render

    shape = CheckResult("zero_pad", "zero_pad hidden #1", "hidden", "wrong", "X_pad has shape (3, 5, 3, 1), expected "
                        "(1, 5, 5, 1).", failure="shape", params="shape = (1, 3, 3, 1), pad = 1")
    page = render("feedback.html.j2", _report((shape,)), "s")
    assert "expected (1, 5, 5, 1)" in page  # a hidden shape message gives the expected shape...
    footer = page.split("<footer>", 1)[1]
    assert "never the expected values" not in footer and "shape" in footer  # ...and the footer says so


# Point 6: cells are cited as a student finds them, in every place a student reads.

CELL_NUMBER = re.compile(r"\bcell \d+|\bcells? #?\d+")
WRONG_FIRST_PAD = "import numpy as np\ndef zero_pad(X, pad):\n    return X\n"
RAISING_STEP = "def conv_single_step(a_slice_prev, W, b):\n    Z = np.sum(a_slice_prev * W)\n    return Z + float(b)\n"


@pytest.fixture(scope="module")
def cited(tmp_path_factory: pytest.TempPathFactory, assignment) -> dict[str, str]:
    """What a student reads about a notebook (Markdown between the cells, so numbers would count them) with a graded
    function defined twice, one that raises, and one whose cell does not parse."""
    folder = tmp_path_factory.mktemp("cited")
    cells = master_source(assignment)
    broken = cells["conv_forward"].replace("for h in range(n_H):", "for h in range(n_H)", 1)
    assert broken != cells["conv_forward"]
    sources = ["import numpy as np", WRONG_FIRST_PAD, cells["zero_pad"], RAISING_STEP, broken,
               *(source for name, source in cells.items() if name not in ("zero_pad", "conv_single_step", "conv_forward"))]
    notebook = nbformat.v4.new_notebook()
    for index, source in enumerate(sources):
        notebook.cells += [nbformat.v4.new_markdown_cell(f"## Part {index}"), nbformat.v4.new_code_cell(source)]
    path = folder / "cited.ipynb"
    nbformat.write(notebook, path)
    run_cli("grade", "cnn_step_by_step", path, "--out", folder / "out", "--sandbox", sandbox_mode(), check=True)
    check = run_cli("check", path, "--assignment", "cnn_step_by_step", "--sandbox", sandbox_mode())
    out = folder / "out" / "cited"
    texts = {name: (out / name).read_text() for name in ("feedback.html", "feedback.md", "results.json")}
    cells_out = json.loads((out / "feedback.ipynb").read_text())["cells"]
    texts["feedback.ipynb"] = "\n".join("".join(c["source"]) for c in cells_out if "grader_feedback" in c["metadata"])
    return {**texts, "check": check.stdout}


@pytest.mark.parametrize("name", ["feedback.html", "feedback.md", "results.json", "feedback.ipynb", "check"])
def test_cells_are_cited_by_function_not_by_number(cited: dict[str, str], name: str) -> None:
    text = html.unescape(cited[name]).replace("\\n", "\n").replace("\\_", "_").replace("\\`", "`")
    assert not CELL_NUMBER.search(text), CELL_NUMBER.search(text)
    assert "`zero_pad` is defined in two cells; the last one is graded" in text
    assert "the cell that defines `conv_forward` could not be read" in text and "for h in range(n_H)\n" in text
    if name != "feedback.ipynb":  # the notebook puts the notes in its summary, the checks' messages beside the cells
        assert "In the cell that defines `conv_single_step`, line 3, in conv_single_step" in text


def test_a_syntax_error_shows_the_line_with_a_caret_under_the_error(cited: dict[str, str]) -> None:
    lines = cited["check"].splitlines()
    row = next(i for i, line in enumerate(lines) if line.rstrip().endswith("for h in range(n_H)"))
    assert lines[row + 1].index("^") == len(lines[row].rstrip())  # where the ':' is missing


def test_one_wrong_value_and_several_are_the_same_mistake() -> None:
    one = "X_pad has 1 wrong value out of 9, the first at X_pad[0, 1]. Its shape and type are right: try ..."
    many = "X_pad has 4 wrong values out of 36, the first at X_pad[1, 0, 2]. Its shape and type are right: try ..."
    assert normalised(one) == normalised(many) != normalised("X_pad has shape (3, 5), expected (1, 5).")


def test_a_function_written_but_failing_like_the_template_is_not_called_untouched(tmp_path: Path, assignment) -> None:
    """"Not started" is for code that is still the release's template (a comment added changes nothing); a
    conv_forward the student wrote with a misspelt name fails with a NameError too, but is their work."""
    release = nbformat.read(assignment.student_notebook, as_version=4)
    cells = [c.source for c in release.cells if c.cell_type == "code"]
    conv_forward = master_source(assignment)["conv_forward"]
    assert 'stride = hparameters["stride"]' in conv_forward
    cells = [conv_forward.replace('stride = hparameters["stride"]', 'stride = hparameter["stride"]')
             if cell.startswith("# GRADED FUNCTION: conv_forward") else
             cell.replace("    # YOUR CODE STARTS HERE", "    # I will do this one later\n    # YOUR CODE STARTS HERE")
             if cell.startswith("# GRADED FUNCTION: zero_pad") else cell for cell in cells]
    path = write_notebook(tmp_path / "written.ipynb", *cells)
    run_cli("grade", "cnn_step_by_step", path, "--out", tmp_path / "out", "--sandbox", sandbox_mode(), check=True)
    page = (tmp_path / "out" / "written" / "feedback.md").read_text().replace("\\_", "_")
    assert "NameError: name 'hparameter' is not defined" in page
    assert "conv_forward looks untouched" not in page and "zero_pad looks untouched" in page


def test_a_missing_function_is_never_said_to_be_another_graded_one_renamed() -> None:
    from grader.grading.grade import why_missing
    from grader.model import Chunk, Submission

    graded = ("conv_forward", "pool_forward", "pool_backward")
    chunks = tuple(Chunk(1, 1, "def", (name,), f"def {name}(): pass") for name in ("conv_forward", "pool_forwrd"))
    submission = Submission("s.ipynb", chunks)
    assert "defines pool_forwrd: was it renamed? Keep the name pool_forward" in why_missing("pool_forward", submission, graded)
    assert why_missing("pool_backward", submission, graded) == "pool_backward is not defined in the notebook."
    alone = Submission("s.ipynb", chunks[:1])
    assert why_missing("pool_forward", alone, graded) == "pool_forward is not defined in the notebook."
