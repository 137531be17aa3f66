"""The instructor's summary: figures computed from hand-built reports, and a page that escapes what submissions wrote."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grader.model import CheckResult, FunctionScore, GradeReport, MistakeMatch
from grader.reporting.summary import check_rates, histogram, mistake_counts, summarise, summary_page, write_summary

HOSTILE = "<script>alert('x')</script>"
PAD_AXIS = MistakeMatch("zero_pad", "pad-axis", "Padding on the batch axis", "Pad only height and width.", "zero_pad_test")
AVG_SUM = MistakeMatch("pool_forward", "avg-sum", "Average as a sum", "Take the mean.", "pool_forward hidden #2")


def graded(score: float, passed: set[str], mistakes: tuple[MistakeMatch, ...] = (), seconds: float = 1.0) -> GradeReport:
    """A report over two functions (in the assignment's order: zero_pad, then pool_forward) with the named checks passed."""
    names = [("zero_pad", "zero_pad_test", "public"), ("zero_pad", "zero_pad hidden #1", "hidden"),
             ("pool_forward", "pool_forward hidden #10", "hidden"), ("pool_forward", "pool_forward hidden #2", "hidden")]
    checks = tuple(CheckResult(f, n, k, "passed" if n in passed else "wrong", failure="values") for f, n, k in names)
    functions = (FunctionScore("zero_pad", 50, False, 0, 2, 0), FunctionScore("pool_forward", 50, False, 0, 2, 0))
    return GradeReport("cnn", "CNN step by step", "s.ipynb", score, 100, functions, checks, mistakes=mistakes,
                       execution_time=seconds)


def unreadable(name: str = "dave") -> GradeReport:
    checks = (CheckResult("zero_pad", "zero_pad_test", "public", "error", "not graded"),)
    return GradeReport("cnn", "CNN step by step", f"{name}.ipynb", 0, 100, checks=checks,
                       error="This file could not be read as a notebook: bad JSON.", execution_time=0.01)


def batch() -> list[tuple[str, GradeReport]]:
    every = {"zero_pad_test", "zero_pad hidden #1", "pool_forward hidden #10", "pool_forward hidden #2"}
    return [
        ("alice", graded(100, every, seconds=0.2)),
        ("bob", graded(50, {"zero_pad hidden #1", "pool_forward hidden #10"}, (PAD_AXIS, AVG_SUM, AVG_SUM), seconds=3.0)),
        ("carol", graded(30, {"zero_pad_test", "zero_pad hidden #1"}, (AVG_SUM,), seconds=7.5)),
        ("dave", unreadable()),
    ]


def test_score_figures_count_ungraded_submissions_as_zero() -> None:
    summary = summarise(batch())
    assert (summary.submissions, summary.graded, summary.max_score) == (4, 3, 100)
    assert summary.mean == pytest.approx(45) and summary.median == pytest.approx(40)
    assert summary.unreadable == (("dave", "This file could not be read as a notebook: bad JSON."),)
    assert [b.count for b in summary.histogram] == [1, 0, 0, 1, 0, 1, 0, 0, 0, 1]


def test_histogram_has_ten_equal_bins_and_puts_edges_in_the_upper_bin() -> None:
    bins = histogram([0, 9.99, 10, 30, 70, 99.99, 100, 120, -5], 100)
    assert len(bins) == 10 and (bins[0].low, bins[0].high, bins[-1].low, bins[-1].high) == (0, 10, 90, 100)
    assert [b.count for b in bins] == [3, 1, 0, 1, 0, 0, 0, 1, 0, 3]
    assert [b.count for b in histogram([0.3, 0.7], 1)] == [0, 0, 0, 1, 0, 0, 0, 1, 0, 0]
    assert sum(b.count for b in histogram([0, 0], 0)) == 2  # no maximum: nothing is lost


def test_check_rates_by_function_then_name_over_graded_submissions() -> None:
    rates = check_rates([report for _, report in batch()], lowest=1)
    assert [(r.function, r.name, r.kind, r.passed, r.total) for r in rates] == [
        ("zero_pad", "zero_pad hidden #1", "hidden", 3, 3),
        ("zero_pad", "zero_pad_test", "public", 2, 3),
        ("pool_forward", "pool_forward hidden #2", "hidden", 1, 3),
        ("pool_forward", "pool_forward hidden #10", "hidden", 2, 3),
    ]
    assert [r.percent for r in rates] == [100, 67, 33, 67]
    assert [r.name for r in rates if r.low] == ["pool_forward hidden #2"]
    assert [r.name for r in check_rates([report for _, report in batch()], lowest=3) if r.low] == [
        "zero_pad_test", "pool_forward hidden #2", "pool_forward hidden #10"]


def test_a_perfect_check_is_never_highlighted() -> None:
    every = {"zero_pad_test", "zero_pad hidden #1", "pool_forward hidden #10", "pool_forward hidden #2"}
    assert not any(r.low for r in check_rates([graded(100, every)]))


def test_mistakes_count_submissions_most_frequent_first() -> None:
    counts = mistake_counts([report for _, report in batch()])
    assert [(m.function, m.title, m.submissions) for m in counts] == [
        ("pool_forward", "Average as a sum", 2),  # bob matched it twice: one submission
        ("zero_pad", "Padding on the batch axis", 1),
    ]
    assert counts[1].hint == "Pad only height and width."


def test_slowest_are_the_top_five_by_execution_time() -> None:
    many = [(f"s{i}", graded(50, set(), seconds=float(i))) for i in range(8)]
    assert summarise(many).slowest == tuple((f"s{i}", float(i)) for i in (7, 6, 5, 4, 3))
    assert [name for name, _ in summarise(batch()).slowest] == ["carol", "bob", "alice", "dave"]


def test_page_escapes_text_from_submissions() -> None:
    hostile = unreadable()
    hostile = GradeReport(**{**hostile.__dict__, "error": f"bad JSON near {HOSTILE}"})
    html = summary_page([(HOSTILE, hostile), *batch()], "CNN <step> by step")
    assert HOSTILE not in html and "<script" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "bad JSON near &lt;script&gt;" in html and "CNN &lt;step&gt; by step" in html
    assert 'href="%3Cscript%3Ealert' in html  # a name in a link is URL-encoded as well


def test_page_shows_the_figures(tmp_path: Path) -> None:
    write_summary(batch(), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["summary.html"]  # written atomically: no temporary left behind
    html = (tmp_path / "summary.html").read_text()
    assert "<title>CNN step by step: summary of 4 submissions</title>" in html
    assert "45" in html and "40" in html and "Average as a sum" in html and "dave/feedback.html" in html
    assert html.count('<tr class="low') == 3  # the lowest rates (ties included, 100% never)
    assert "http://" not in html and "https://" not in html  # self-contained


def test_an_empty_batch_still_renders() -> None:
    html = summary_page([], "CNN")
    assert "summary of 0 submissions" in html and "No check was run." in html


def test_page_takes_any_string_and_caps_errors(tmp_path: Path) -> None:
    nasty = "\ud800\x00\x1b[31m\x07"
    hostile = GradeReport(**{**unreadable().__dict__, "error": "bad JSON " + nasty + "x" * 100_000})
    write_summary([(f"eve{nasty}", hostile), *batch()], tmp_path)
    html = (tmp_path / "summary.html").read_bytes().decode("utf-8")
    assert "eve\ufffd" in html and not re.search("[\x00-\x08\x0b-\x1f]", html)
    assert "x" * 1000 not in html and len(html) < 50_000
