"""A public test that fails inside Jupyter shows the check's message and the student's own lines, never the
checking code (``public_tests.py``, ``grader_checks.py``, ``call_unchanged``): run in a real kernel, as a student
runs the released notebook (issue 14, point 10)."""

from __future__ import annotations

import re
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT

pytestmark = pytest.mark.kernel

RELEASE = ROOT / "assignments" / "cnn_step_by_step"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
WRONG_PAD = "import numpy as np\ndef zero_pad(X, pad):\n    return np.pad(X, ((0, 0), (pad, pad), (pad, pad + 1), (0, 0)))\n"
RAISES = ("def conv_single_step(a_slice_prev, W, b):\n    s = a_slice_prev * W\n"
          "    return float(np.sum(s) + b)  # b has shape (1, 1, 1)\n")
#: The kernel runs in the grader's environment; a student's has no grader package, so the public tests import the
#: grader_checks.py shipped beside the notebook: the file under test here.
STUDENT_MACHINE = "import sys\nsys.modules['grader'] = None"
GRADER_FRAMES = ("grader_checks", "public_tests", "call_unchanged", "expect_array", "__tracebackhide__")


@pytest.fixture(scope="module")
def errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """test cell → its error output's traceback lines (colours removed), from one kernel run of a failing notebook."""
    folder = tmp_path_factory.mktemp("student")
    for name in ("grader_checks.py", "public_tests.py", "conv_backward_dZ.npy"):
        shutil.copy(RELEASE / name, folder / name)
    tests = ["zero_pad_test(zero_pad)", "conv_single_step_test(conv_single_step)"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in (
        STUDENT_MACHINE, "from public_tests import *", WRONG_PAD, tests[0], RAISES, tests[1])])
    NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    found = {}
    for cell in notebook.cells:
        if cell.source in tests:
            (error,) = [o for o in cell.outputs if o.output_type == "error"]
            found[cell.source] = [ANSI.sub("", line) for line in error.traceback]
    return found


def test_a_wrong_answer_shows_the_checks_message_and_nothing_of_the_checking_code(errors: dict[str, list[str]]) -> None:
    text = "\n".join(errors["zero_pad_test(zero_pad)"])
    assert "CheckFailed: zero_pad(x, 3) has shape (4, 9, 10, 2), expected (4, 9, 9, 2)." in text
    assert not [frame for frame in GRADER_FRAMES if frame in text], text
    assert len(errors["zero_pad_test(zero_pad)"]) == 1  # one line: what is wrong


def test_an_exception_shows_the_students_line_and_no_grader_frame(errors: dict[str, list[str]]) -> None:
    text = "\n".join(errors["conv_single_step_test(conv_single_step)"])
    assert "return float(np.sum(s) + b)" in text and "TypeError" in text  # where their code failed, and why
    assert "conv_single_step_test(conv_single_step)" in text  # the cell the student ran
    assert not [frame for frame in GRADER_FRAMES if frame in text], text
