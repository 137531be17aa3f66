"""The instructor's summary: figures computed from hand-built reports, and a page that escapes what submissions wrote."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grader.model import CheckResult, FunctionScore, GradeReport, MistakeMatch
from grader.reporting.summary import (
    check_rates,
    function_figures,
    histogram,
    mistake_counts,
    roster,
    summarise,
    summary_page,
    write_summary,
)

HOSTILE = "<script>alert('x')</script>"
PAD_AXIS = MistakeMatch("zero_pad", "pad-axis", "Padding on the batch axis", "Pad only height and width.", "zero_pad_test")
AVG_SUM = MistakeMatch("pool_forward", "avg-sum", "Average as a sum", "Take the mean.", "pool_forward hidden #2")


def graded(score: float, passed: set[str], mistakes: tuple[MistakeMatch, ...] = (), seconds: float = 1.0,
           failing: str = "wrong", message: str = "", seed: int = 0) -> GradeReport:
    """A report over two functions (in the assignment's order: zero_pad, then pool_forward) with the named checks passed,
    the others failed with ``failing`` and ``message``. Hidden #10 is drawn from ``seed``; the other hidden checks are fixed."""
    names = [("zero_pad", "zero_pad_test", "public", ""), ("zero_pad", "zero_pad hidden #1", "hidden", "x: (4, 3, 3, 2), pad=2"),
             ("pool_forward", "pool_forward hidden #10", "hidden", f"A_prev: ({seed + 1}, 5, 5, 3), f=2"),
             ("pool_forward", "pool_forward hidden #2", "hidden", "A_prev: (2, 4, 4, 3), f=3, mode='average'")]
    checks = tuple(CheckResult(f, n, k, "passed" if n in passed else failing, message="" if n in passed else message,
                               failure="values", params=p) for f, n, k, p in names)
    functions = tuple(FunctionScore(f, 50, False, 50 if all(c.passed for c in checks if c.function == f) else 0, 2,
                                    sum(c.passed for c in checks if c.function == f)) for f in ("zero_pad", "pool_forward"))
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
    counts = mistake_counts(batch())
    assert [(m.function, m.title, m.submissions, m.names) for m in counts] == [
        ("pool_forward", "Average as a sum", 2, ("bob", "carol")),  # bob matched it twice: one submission
        ("zero_pad", "Padding on the batch axis", 1, ("bob",)),
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
    assert HOSTILE not in html and html.count("<script") == 1 == html.count("<script>// Sorts a table.sortable")
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


def test_hidden_checks_carry_their_parameters_most_frequent_first() -> None:
    reports = [graded(0, set(), seed=1), graded(0, set(), seed=1), graded(0, set(), seed=2), graded(0, set(), seed=3),
               graded(0, set(), seed=4), unreadable()]
    rates = {r.name: r for r in check_rates(reports)}
    assert rates["zero_pad_test"].params == () and rates["zero_pad_test"].param_sets == 0
    assert rates["zero_pad hidden #1"].params == ("x: (4, 3, 3, 2), pad=2",) and rates["zero_pad hidden #1"].param_sets == 1
    seeded = rates["pool_forward hidden #10"]  # drawn per submission: the commonest set first, then three at most
    assert seeded.params == ("A_prev: (2, 5, 5, 3), f=2", "A_prev: (3, 5, 5, 3), f=2", "A_prev: (4, 5, 5, 3), f=2")
    assert seeded.param_sets == 4


def test_roster_puts_the_lowest_score_first_with_what_went_wrong() -> None:
    errored = graded(50, {"zero_pad_test", "zero_pad hidden #1"}, seed=9)
    errored = GradeReport(**{**errored.__dict__, "checks": (*errored.checks[:2], CheckResult(
        "pool_forward", "pool_forward hidden #10", "hidden", "grader-error"), *errored.checks[3:])})
    rows = roster([*batch(), ("erin", errored), ("bea", graded(50, set()))])
    assert [(r.name, r.score) for r in rows] == [
        ("dave", 0), ("carol", 30), ("bea", 50), ("bob", 50), ("erin", 50), ("alice", 100)]
    by_name = {r.name: r for r in rows}
    assert by_name["alice"].failed == () and by_name["alice"].mistakes == ()
    assert by_name["carol"].failed == ("pool_forward",) and by_name["carol"].mistakes == ("Average as a sum",)
    assert by_name["bob"].failed == ("zero_pad", "pool_forward")
    assert by_name["bob"].mistakes == ("Padding on the batch axis", "Average as a sum")  # bob's two matches: one title
    assert by_name["dave"].failed == () and by_name["dave"].error.startswith("This file could not be read")
    assert by_name["erin"].grader_errors == 1 and by_name["alice"].grader_errors == 0


def test_function_figures_mean_points_full_marks_and_not_attempted() -> None:
    every = {"zero_pad_test", "zero_pad hidden #1", "pool_forward hidden #10", "pool_forward hidden #2"}
    pad_only = {"zero_pad_test", "zero_pad hidden #1"}
    reports = [
        graded(100, every),
        graded(50, pad_only, failing="missing", message="pool_forward is not defined in the notebook."),
        graded(50, pad_only, failing="error", message="NotImplementedError"),  # the template, untouched
        graded(50, pad_only, failing="error", message="IndexError: index 3 is out of bounds"),  # tried, and failed
        graded(0, set(), failing="wrong", message="expected shape (2, 3), got None."),  # both untouched
    ]
    pad, pool = function_figures(reports)
    assert (pad.name, pad.points, pad.submissions) == ("zero_pad", 50, 5)
    assert pad.mean == pytest.approx(40) and pad.full_marks == 4 and pad.not_attempted == 1
    assert pool.mean == pytest.approx(10) and pool.full_marks == 1 and pool.not_attempted == 3


def test_an_ungraded_submission_scores_zero_but_is_not_counted_as_not_attempted() -> None:
    every = {"zero_pad_test", "zero_pad hidden #1", "pool_forward hidden #10", "pool_forward hidden #2"}
    failed = graded(0, set(), failing="error", message="not graded: NotImplementedError")
    ungraded = GradeReport(**{**failed.__dict__, "error": "This file could not be read as a notebook."})
    (pad, _) = function_figures([graded(100, every), ungraded])
    assert pad.mean == pytest.approx(25) and pad.full_marks == 1 and pad.not_attempted == 0


def test_page_shows_the_roster_who_made_each_mistake_and_the_function_figures() -> None:
    html = summary_page([*batch(), ("a b&c", graded(10, set(), (PAD_AXIS,)))], "CNN")
    roster_html = html[html.index('id="roster"'):html.index('id="functions"')]
    order = [roster_html.index(f'href="{name}/feedback.html"') for name in ("dave", "a%20b%26c", "carol", "bob", "alice")]
    assert order == sorted(order)  # lowest score first, as listed (the page's script only re-sorts on request)
    assert "not graded" in roster_html and "Average as a sum" in roster_html
    mistakes_html = html[html.index("<h2>Known mistakes"):html.index("<h2>Check pass rates")]
    assert 'href="a%20b%26c/feedback.html"><code>a b&amp;c</code>' in mistakes_html
    assert 'href="carol/feedback.html"' in mistakes_html and 'href="alice/feedback.html"' not in mistakes_html
    assert "<code>x: (4, 3, 3, 2), pad=2</code>" in html and "mode=&#39;average&#39;" in html
    functions_html = html[html.index('id="functions"'):html.index("<h2>Known mistakes")]
    assert "<code>zero_pad</code>" in functions_html and "2 / 5" in functions_html  # full marks: alice and carol


@pytest.mark.parametrize("scores", [[70.0], [10.0, 90.0, 40.0], [0.0, 100.0, 55.5, 20.0], [5.0] * 6])
def test_the_median_is_statistics_median(scores: list[float]) -> None:
    import statistics

    from grader.reporting.summary import _median

    assert _median(scores) == statistics.median(scores) and _median([]) == 0.0


def test_the_pages_only_script_is_the_one_its_policy_lets_run() -> None:
    import base64
    import hashlib

    page = summary_page(batch(), "T")
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    scripts = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert policy and len(scripts) == 1 and "table.sortable" in scripts[0]
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert policy.group(1).replace("&#39;", "'").endswith(f"; script-src 'sha256-{digest}'")
    assert "default-src 'none'" in policy.group(1).replace("&#39;", "'")
