"""Reports only read a GradeReport; what a student's code printed is shown, escaped, never interpreted."""

from __future__ import annotations

import json

from grader.model import CheckResult, FunctionScore, GradeReport
from grader.report import failure_groups, gradescope_results, render, write_reports

HOSTILE_OUTPUT = "<script>alert('x')</script>"


def report() -> GradeReport:
    checks = (
        CheckResult("zero_pad", "zero_pad_test", "public", "wrong", "zero_pad(x, 3) has shape (4, 9, 3, 2), expected (4, 9, 9, 2).",
                    failure="shape", output=HOSTILE_OUTPUT),
        CheckResult("zero_pad", "zero_pad hidden #1", "hidden", "error", "NameError: name 'X_pad' is not defined", params="pad = 0"),
        CheckResult("zero_pad", "zero_pad hidden #2", "hidden", "error", "NameError: name 'X_pad' is not defined", params="pad = 2"),
        CheckResult("conv_single_step", "conv_single_step_test", "public", "passed"),
    )
    functions = (FunctionScore("zero_pad", 10, False, 0, 3, 0), FunctionScore("conv_single_step", 10, False, 10, 1, 1))
    return GradeReport("cnn", "CNN <step> by step", "s.ipynb", 10, 20, functions, checks, ("cell 3 was skipped",))


def test_html_escapes_everything_from_the_submission() -> None:
    html = render("feedback.html.j2", report(), "s")
    assert HOSTILE_OUTPUT not in html
    assert "&lt;script&gt;" in html and "CNN &lt;step&gt; by step" in html
    assert "10 / 20" in html and "pad = 0" in html and "cell 3 was skipped" in html


def test_identical_failures_are_shown_once() -> None:
    groups = failure_groups(report(), "zero_pad")
    assert [len(g.checks) for g in groups] == [1, 2]
    assert render("feedback.md.j2", report(), "s").count("NameError: name 'X_pad' is not defined") == 1


def test_gradescope_scores_add_up_and_hide_hidden_checks() -> None:
    data = gradescope_results(report())
    assert data["score"] == 10
    assert sum(t["max_score"] for t in data["tests"]) == 20
    assert sum(t["score"] for t in data["tests"]) == 10
    assert {t["visibility"] for t in data["tests"] if t["extra_data"]["kind"] == "hidden"} == {"after_published"}


def test_reports_are_written_atomically_and_round_trip(tmp_path) -> None:
    write_reports(report(), tmp_path / "s", "s")
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["feedback.html", "feedback.md", "results.json"]
    assert json.loads((tmp_path / "s" / "results.json").read_text())["score"] == 10
    assert GradeReport.from_dict(json.loads(json.dumps(report().to_dict()))) == report()
