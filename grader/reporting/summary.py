"""Many reports → summary.html: what an instructor wants to know after a batch, computed as plain figures first.

The figures are small pure functions of the reports (testable without HTML); the page only lays them out.
Submissions that could not be graded count as 0 in the score figures (that is their grade) but are left out of the
check pass rates, where they would only drag every check down alike. The roster lists every submission, the lowest
score first (who needs help), already sorted on the server: the page has no script and works where scripts are refused.
"""

import math
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from grader.model import GradeReport
from grader.reporting.report import not_started, page_script, render_page, write_atomic
from grader.text import clean_line

BINS = 10
LOWEST = 5  # how many of the lowest check pass rates (ties included) the page highlights
SLOWEST = 5
ERROR_LIMIT = 300  # characters of an unreadable submission's error shown in the table
PARAMS_SHOWN = 3  # distinct parameter sets of one hidden check shown (they differ when hidden cases are seeded)
PARAMS_LIMIT = 200  # characters of one parameter set

Named = Sequence[tuple[str, GradeReport]]

# The page's figures are NamedTuples, not dataclasses: plain immutable records all the same, made in a tenth of the
# time (seven frozen dataclasses cost ~2.4 ms of building methods, at the end of every `grader grade`). No postponed
# annotations in this module: NamedTuple compiles each string annotation into a ForwardRef (~2 ms more).


class Bin(NamedTuple):
    """Scores from low up to high (high included in the last bin only)."""

    low: float
    high: float
    count: int  # type: ignore[assignment]  # the page's word for it; tuple's count() is not used on a Bin


class CheckRate(NamedTuple):
    function: str
    name: str
    kind: str  # public | hidden
    passed: int
    total: int
    low: bool = False  # among the lowest rates: worth a look at the exercise or the test
    params: tuple[str, ...] = ()  # distinct parameter sets, the most frequent first, at most PARAMS_SHOWN
    param_sets: int = 0  # how many distinct parameter sets there were in all

    @property
    def percent(self) -> int:
        return round(100 * self.passed / self.total) if self.total else 0


class MistakeCount(NamedTuple):
    function: str
    title: str
    hint: str
    submissions: int
    names: tuple[str, ...] = ()  # the submissions that made it, in name order


class RosterRow(NamedTuple):
    """One submission at a glance: what it scored, what failed and why."""

    name: str
    score: float
    max_score: float
    failed: tuple[str, ...]  # functions that did not pass every check (empty when not graded)
    mistakes: tuple[str, ...]  # titles of the known mistakes recognised
    grader_errors: int
    error: str = ""  # why it could not be graded at all


class CourseRow(NamedTuple):
    """One student of a course (``grader grade ASSIGNMENT``): the counting attempt after the late policy."""

    student: str
    name: str
    score: float | None  # None: nothing counts yet (no attempt, or none graded)
    max_score: float
    attempts: int
    late_days: int
    feedback: str = ""  # the counting attempt's feedback.html, relative to the summary page ("" when none)


class FunctionFigures(NamedTuple):
    """One function over the whole batch; not-graded submissions earn 0 here too but are not "not attempted"."""

    name: str
    points: float
    optional: bool
    mean: float
    full_marks: int  # passed every check
    not_attempted: int  # every check "missing", or the function left as the template had it
    submissions: int


class Summary(NamedTuple):
    submissions: int
    graded: int  # without an error: the submissions behind the check pass rates
    max_score: float
    mean: float
    median: float
    histogram: tuple[Bin, ...]
    checks: tuple[CheckRate, ...]
    mistakes: tuple[MistakeCount, ...]
    unreadable: tuple[tuple[str, str], ...]  # (name, error)
    slowest: tuple[tuple[str, float], ...]  # (name, seconds)
    grader_errors: tuple[tuple[str, int], ...] = ()  # (name, checks the grader failed on): the staff's to fix
    roster: tuple[RosterRow, ...] = ()
    functions: tuple[FunctionFigures, ...] = ()


def histogram(scores: Sequence[float], max_score: float, bins: int = BINS) -> tuple[Bin, ...]:
    """Equal bins from 0 to max_score; a score outside the range goes to the nearest end bin."""
    counts = [0] * bins
    for score in scores:
        index = int(score * bins / max_score) if max_score > 0 else 0  # multiply first: 30 * 10 / 100 is exactly 3
        counts[min(max(index, 0), bins - 1)] += 1
    return tuple(Bin(max_score * i / bins, max_score * (i + 1) / bins, count) for i, count in enumerate(counts))


def _natural(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key under which "hidden #2" comes before "hidden #10"."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part)


def _most_common(counts: Counter[str] | None, top: int = PARAMS_SHOWN) -> tuple[str, ...]:
    """The most frequent values first, ties in text order."""
    ranked = sorted((counts or Counter()).items(), key=lambda item: (-item[1], item[0]))
    return tuple(value for value, _ in ranked[:top])


def check_rates(reports: Sequence[GradeReport], lowest: int = LOWEST) -> tuple[CheckRate, ...]:
    """Pass rate of every check over the graded reports, by function (in the assignment's order) then check name."""
    passed: Counter[tuple[str, str, str]] = Counter()
    total: Counter[tuple[str, str, str]] = Counter()
    params: dict[tuple[str, str, str], Counter[str]] = {}
    order: dict[str, int] = {}
    for report in reports:
        if report.error:
            continue
        for function in report.functions:
            order.setdefault(function.name, len(order))
        for check in report.checks:
            key = (check.function, check.name, check.kind)
            total[key] += 1
            passed[key] += check.passed
            if check.params:
                params.setdefault(key, Counter())[clean_line(check.params, PARAMS_LIMIT)] += 1
    rates = [CheckRate(*key, passed=passed[key], total=count, params=_most_common(params.get(key)),
                       param_sets=len(params.get(key, ()))) for key, count in total.items()]
    rates.sort(key=lambda r: (order.get(r.function, len(order)), r.function, _natural(r.name)))
    threshold = sorted(r.percent for r in rates)[min(lowest, len(rates)) - 1] if rates and lowest > 0 else -1
    return tuple(r._replace(low=r.percent <= threshold and r.percent < 100) for r in rates)


def mistake_counts(named: Named) -> tuple[MistakeCount, ...]:
    """How many submissions made each known mistake (once per submission) and which, the most frequent first."""
    names: dict[tuple[str, str], set[str]] = {}
    hints: dict[tuple[str, str], str] = {}
    for name, report in named:
        for m in report.mistakes:
            names.setdefault((m.function, m.title), set()).add(name)
            hints.setdefault((m.function, m.title), m.hint)
    ranked = sorted(names.items(), key=lambda item: (-len(item[1]), item[0]))
    return tuple(MistakeCount(function, title, hints[(function, title)], len(who), tuple(sorted(who, key=_natural)))
                 for (function, title), who in ranked)


def roster(named: Named) -> tuple[RosterRow, ...]:
    """Every submission, the lowest score first (who needs help), then by name."""
    rows = [RosterRow(name, report.score, report.max_score,
                      () if report.error else tuple(f.name for f in report.functions if not f.passed),
                      tuple(dict.fromkeys(m.title for m in report.mistakes)), report.grader_errors,
                      clean_line(report.error, ERROR_LIMIT) if report.error else "")
            for name, report in named]
    return tuple(sorted(rows, key=lambda row: (row.score, _natural(row.name))))


def not_attempted(report: GradeReport, function: str) -> bool:
    """Every check of ``function`` is missing, or they all fail the way an untouched template fails."""
    own = [c for c in report.checks if c.function == function]
    return not report.error and bool(own) and (all(c.outcome == "missing" for c in own) or not_started(report, function))


def function_figures(reports: Sequence[GradeReport]) -> tuple[FunctionFigures, ...]:
    """Mean points, full marks and not attempted per function, in the assignment's order; over every submission."""
    scores: dict[str, list[float]] = {}
    info: dict[str, tuple[float, bool]] = {}
    full: Counter[str] = Counter()
    untouched: Counter[str] = Counter()
    for report in reports:
        for f in report.functions:
            scores.setdefault(f.name, []).append(f.score)
            info.setdefault(f.name, (f.points, f.optional))
            full[f.name] += f.passed and not report.error
            untouched[f.name] += not_attempted(report, f.name)
    count = len(reports)  # a report without the function (one not graded) earns 0 for it
    return tuple(FunctionFigures(name, *info[name], sum(points) / count, full[name], untouched[name], count)
                 for name, points in scores.items())


def slowest(named: Named, top: int = SLOWEST) -> tuple[tuple[str, float], ...]:
    ranked = sorted(named, key=lambda item: -item[1].execution_time)
    return tuple((name, report.execution_time) for name, report in ranked[:top])


def _median(values: list[float]) -> float:
    """The middle score (statistics.median, without the ~3 ms of imports it brings into every grade)."""
    if not values:
        return 0.0
    ordered, half = sorted(values), len(values) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


def summarise(named: Named) -> Summary:
    """The figures, with names made clean lines here: they become links and table cells."""
    named = [(clean_line(name), report) for name, report in named]
    reports = [report for _, report in named]
    scores = [report.score for report in reports]
    max_score = max((report.max_score for report in reports), default=0.0)
    return Summary(
        submissions=len(reports),
        graded=sum(not report.error for report in reports),
        max_score=max_score,
        mean=math.fsum(scores) / len(scores) if scores else 0.0,
        median=_median(scores),
        histogram=histogram(scores, max_score),
        checks=check_rates(reports),
        mistakes=mistake_counts(named),
        unreadable=tuple((name, clean_line(report.error, ERROR_LIMIT)) for name, report in named if report.error),
        slowest=slowest(named),
        grader_errors=tuple((name, report.grader_errors) for name, report in named if report.grader_errors),
        roster=roster(named),
        functions=function_figures(reports),
    )


def summary_page(named: Named, assignment_title: str, course: Sequence[CourseRow] = ()) -> str:
    """The page; ``course`` adds the course's students (counting score, attempts, late days, feedback link)."""
    students = tuple(row._replace(student=clean_line(row.student), name=clean_line(row.name)) for row in course)
    return render_page("summary.html.j2", summary=summarise(named), title=assignment_title, course=students,
                       script=page_script("sort-tables.js"))


def write_summary(named: Named, out_dir: Path, course: Sequence[CourseRow] = (), title: str = "") -> None:
    title = title or (named[0][1].title if named else "")
    write_atomic(out_dir / "summary.html", summary_page(named, title, course))
