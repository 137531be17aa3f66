"""Feedback a student can act on: one block per mistake (shapes and numbers masked), one line for a function still
the template, a banner with advice and nothing else for a notebook that cannot be read."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.mistakes import Call, recognise
from grader.model import CheckResult, FunctionScore, GradeReport
from grader.reporting.report import failure_groups, normalised
from tests.conftest import ROOT, run_cli, sandbox_mode


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


def test_an_unreadable_notebook_gets_a_banner_with_advice_and_nothing_else(tmp_path: Path) -> None:
    run_cli("grade", "cnn_step_by_step", ROOT / "examples" / "submissions" / "dave_corrupted.ipynb", "--out", tmp_path,
            "--sandbox", sandbox_mode(), check=True)
    page = (tmp_path / "dave_corrupted" / "feedback.html").read_text()
    assert "save it again" in page and "merge conflict" in page
    assert "<table>" not in page and "exception" not in page and page.count("could not be read") == 1
    assert "could not be read" in (tmp_path / "dave_corrupted" / "feedback.md").read_text().split("| Function")[0]


def test_the_raised_form_of_an_empty_pad_slice_is_recognised(assignment, reference) -> None:
    from grader.grading.suite import load_catalogue

    catalogue = load_catalogue(assignment, reference)
    error = ('  File "cell 25", line 50, in conv_backward\n    dA_prev[i, :, :, :] = dA_prev_pad[pad:-pad, pad:-pad, :]\n'
             "ValueError: could not broadcast input array from shape (0,0,1) into shape (4,4,1)")
    call = Call((np.zeros((1, 4, 4, 1)), ()), {}, error=error)
    found = recognise(catalogue, "conv_backward", [call], reference.conv_backward)
    assert "negative-pad-slice" in [m.id for m in found]
