"""`grader check` runs the public tests without a reference, so without isolation: it names the failure to fix
first, shows the "Called ..." line and the known mistakes that need no reference, and prints no score."""

from __future__ import annotations

import json
import re
from pathlib import Path

from grader.grading.check import upstream
from grader.grading.extract import extract_submission
from grader.model import CheckResult, FunctionScore, GradeReport
from tests.conftest import ROOT, run_cli, sandbox_mode, write_notebook

WRONG_ZERO_PAD = "import numpy as np\ndef zero_pad(X, pad):\n    return np.pad(X, ((pad, pad), (pad, pad), (0, 0), (0, 0)))\n"
FLOAT_OF_B = "import numpy as np\ndef conv_single_step(a_slice_prev, W, b):\n    return np.sum(a_slice_prev * W) + float(b)\n"


def test_check_names_the_function_to_fix_first_and_gives_no_score(tmp_path: Path, solution_cells: dict[str, str]) -> None:
    cells = {**solution_cells, "zero_pad": WRONG_ZERO_PAD, "conv_single_step": FLOAT_OF_B}
    path = write_notebook(tmp_path / "mine.ipynb", "import numpy as np", *cells.values())
    result = run_cli("check", path, "--assignment", "cnn_step_by_step", "--sandbox", sandbox_mode())
    out = result.stdout
    assert result.returncode == 1
    blocks = {block.split(":", 1)[0]: block for block in ("\n" + out).split("\nFAIL ")[1:]}
    assert "calls zero_pad, which fails its own test: fix zero_pad first" in blocks["conv_forward_test"]
    assert "Called zero_pad(array of shape (4, 3, 3, 2)" in blocks["zero_pad_test"]
    # a known mistake recognised from the error alone, from the release's known_mistakes.json
    assert "This looks like a known mistake: float() of an array" in blocks["conv_single_step_test"]
    assert not re.search(r"\d+ ?/ ?100", out) and "No score here" in out


def _report(checks: tuple[CheckResult, ...]) -> GradeReport:
    names = ["zero_pad", "conv_forward", "pool_forward"]
    functions = tuple(FunctionScore(n, 10, False, 0, 1, int(all(c.passed for c in checks if c.function == n)))
                      for n in names)
    return GradeReport("cnn", "CNN", "s.ipynb", 0, 30, functions, checks)


def test_a_traceback_through_another_failed_function_is_named(tmp_path: Path) -> None:
    traceback = ('  File "cell 3", line 9, in conv_forward\n    A = zero_pad(A_prev, pad)\n'
                 '  File "cell 2", line 2, in zero_pad\n    return X[pad]\nIndexError: index 3 is out of bounds')
    report = _report((CheckResult("zero_pad", "zero_pad_test", "public", "wrong", "shape", failure="shape"),
                      CheckResult("conv_forward", "conv_forward_test", "public", "error", traceback),
                      CheckResult("pool_forward", "pool_forward_test", "public", "error", "ValueError: x")))
    chunks = extract_submission(write_notebook(tmp_path / "s.ipynb", "def pool_forward(A, h):\n    return A\n")).chunks
    found = upstream(report, chunks)
    assert found == {"conv_forward": "conv_forward failed inside zero_pad, which fails its own test: fix zero_pad first."}


def test_the_release_ships_only_reference_free_mistakes() -> None:
    entries = json.loads((ROOT / "assignments" / "cnn_step_by_step" / "known_mistakes.json").read_text())
    assert {e["id"] for e in entries} >= {"float-of-array", "negative-pad-slice", "modifies-input"}
    assert all(set(form) <= {"raises", "failed_as"} for e in entries for form in e["forms"])
    assert "pad-wrong-axis" not in {e["id"] for e in entries}  # recognised only by running a mistaken reference
