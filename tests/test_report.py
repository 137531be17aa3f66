"""Reports only read a GradeReport; what a student's code printed is shown, escaped, never interpreted, and no
string a submission can produce stops a writer or breaks the format it writes."""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import mistune
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grader.model import CheckResult, FunctionScore, GradeReport
from grader.reporting import gradebook
from grader.reporting.gradebook import csv_cell, grades_csv, write_gradebook
from grader.reporting.junit import junit_xml
from grader.reporting.plots import comparison
from grader.reporting.report import (
    OUTPUT_LIMIT,
    TEST_OUTPUT_LIMIT,
    code_span,
    failure_groups,
    fence,
    gradescope_results,
    markdown_text,
    render,
    results_json,
    write_atomic,
    write_reports,
)

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


# Strings a submission can put into a report: a lone surrogate, control characters, Markdown and HTML, a formula.
NASTY = "bad \ud800 \x00\x1b[31m\x07 ```\n<script>alert(1)</script>\n``` =1+2"


def nasty_report(message: str = NASTY) -> GradeReport:
    checks = (CheckResult("zero_pad", "zero_pad_test", "public", "error", message, output=NASTY, called=NASTY),
              CheckResult("zero_pad", "zero_pad hidden #1", "hidden", "wrong", message, failure="values", params="pad = 0"))
    functions = (FunctionScore("zero_pad", 10, False, 0, 2, 0),)
    return GradeReport("cnn", "CNN", f"/tmp/{NASTY}.ipynb", 0, 10, functions, checks, (NASTY,), error=NASTY)


def test_every_writer_takes_any_string(tmp_path: Path) -> None:
    write_reports(nasty_report(), tmp_path / "s", NASTY)
    for name in ("results.json", "feedback.html", "feedback.md"):
        text = (tmp_path / "s" / name).read_bytes().decode("utf-8")
        assert not re.search("[\x00-\x08\x0b-\x1f]", text), name
    results = json.loads((tmp_path / "s" / "results.json").read_bytes())
    assert "ValueError" not in results["output"] and "\ufffd" in results["tests"][0]["output"]
    html = (tmp_path / "s" / "feedback.html").read_text(encoding="utf-8")
    assert "<script>" not in html


def test_results_stay_small_whatever_the_message() -> None:
    data = gradescope_results(nasty_report("ValueError: " + "x" * 4_000_000))
    assert len(results_json(data)) < 2 * TEST_OUTPUT_LIMIT + OUTPUT_LIMIT
    assert all(len(t["output"]) <= TEST_OUTPUT_LIMIT + 100 for t in data["tests"])
    assert "more characters not shown" in data["tests"][0]["output"]


@pytest.mark.parametrize("text", [PAYLOAD := "```\n<script>alert(1)</script>\n```", "``````` x `", "", "~~~\n<b>", "a\n    ```"])
def test_a_fence_holds_any_text_as_code(text: str) -> None:
    fenced = fence(text)
    assert fenced.split("\n")[0].strip("`") == "" and len(fenced.split("\n")[0]) > max(map(len, re.findall("`+", text)), default=0)
    assert mistune.html(fenced) == f"<pre><code>{html.escape(text, quote=False)}\n</code></pre>\n"


@given(st.text(alphabet="`~<>&*_ \nab#-", max_size=40))
def test_a_fence_holds_any_text_as_code_property(text: str) -> None:
    assert mistune.html(fence(text)) == f"<pre><code>{html.escape(text, quote=False)}\n</code></pre>\n"


@pytest.mark.parametrize("text", ["a`b", "`x`", "x``y`", "<b>"])
def test_a_code_span_holds_any_line(text: str) -> None:
    assert mistune.html(code_span(text)) == f"<p><code>{html.escape(text, quote=False)}</code></p>\n"


def test_markdown_text_makes_no_html_or_markup() -> None:
    rendered = mistune.html(markdown_text("<script>x</script> *em* [link](http://e) `code` | &amp;"))
    assert "<script" not in rendered and "<em>" not in rendered and "<a " not in rendered and "<code>" not in rendered
    assert "&lt;script&gt;" in rendered


def test_feedback_md_keeps_student_text_in_fences() -> None:
    markdown = render("feedback.md.j2", nasty_report(), NASTY)
    rendered = mistune.html(markdown)
    assert "<script" not in rendered
    assert rendered.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # message, output, called, note: as code


def test_write_atomic_leaves_no_temp_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    target.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "half \ud800 written")
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"] and target.read_text() == "old"


def test_write_atomic_leaves_no_temp_file_when_the_rename_fails(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("keeps the folder non-empty")
    with pytest.raises(OSError):
        write_atomic(tmp_path / "taken", "text")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_junit_is_valid_xml_whatever_the_strings() -> None:
    text = junit_xml([(NASTY, nasty_report()), ("plain", report())])
    root = ET.fromstring(text.encode("utf-8"))
    assert [s.get("name") for s in root.findall("testsuite")][1] == "plain"
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and "<script>" in (failure.text or "")  # kept as text, escaped by the XML writer
    assert "pad = 0" in text and len(junit_xml([("huge", nasty_report("x" * 1_000_000))])) < 100_000


@pytest.mark.parametrize(("cell", "written"), [("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+1", "'+1"), ("-1+2", "'-1+2"),
                                               ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "' =1"), ("\r=1", "'\ufffd=1"),
                                               ("alice", "alice"), ("a=1", "a=1")])
def test_csv_text_cells_that_would_run_are_quoted(cell: str, written: str) -> None:
    assert csv_cell(cell) == written


def test_csv_numbers_stay_numbers() -> None:
    assert csv_cell(-5.0) == -5.0 and csv_cell(0) == 0
    negative = dataclasses.replace(report(), score=-5.0, submission="=cmd|' /C calc'!A0", error="-bad\nline")
    rows = list(csv.reader(io.StringIO(grades_csv([("-name", negative)]))))
    assert rows[1][:4] == ["'-name", "'=cmd|' /C calc'!A0", "-5.0", "20"] and rows[1][-1] == "'-bad␤line"


def test_the_gradebook_is_written_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    def tables() -> list[str]:
        with sqlite3.connect(tmp_path / "grades.sqlite") as db:
            return sorted(row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))

    real = gradebook._sql
    calls = iter(range(1_000))
    monkeypatch.setattr(gradebook, "_sql", lambda values: real(values) if next(calls) < 2 else 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write_gradebook([("alice", report())], tmp_path)
    assert tables() == []  # neither the schema nor a row of the batch that failed
    monkeypatch.setattr(gradebook, "_sql", real)
    write_gradebook([("alice", report())], tmp_path)
    with sqlite3.connect(tmp_path / "grades.sqlite") as db:
        assert db.execute("SELECT count(*) FROM checks WHERE submission = 'alice'").fetchone() == (4,)
    assert tables() == ["checks", "submissions"]


def test_a_picture_only_for_arrays_about_the_expected_size() -> None:
    def drawn(expected: np.ndarray, got: np.ndarray) -> bool:  # a heatmap, not the placeholder that says why not
        return not comparison(expected, got).alt.startswith("No picture")

    expected = np.zeros((4, 9, 9, 2))
    assert not drawn(expected, np.zeros((1, 5792, 5792, 1)))  # calloc'd: untouched unless converted
    assert not drawn(expected, np.zeros((4, 9, 9)))  # not the same number of dimensions
    assert not drawn(np.zeros((2, 65, 3)), np.ones((2, 65, 3)))  # the drawn slice would be too large
    assert drawn(expected, np.ones((4, 36, 36, 2)))  # 4× along each axis still drawn
    assert not drawn(expected, np.ones((4, 37, 9, 2)))
    wrong = expected.copy()
    wrong[3, 2, 2, 1] = np.nan
    assert drawn(expected, wrong)
