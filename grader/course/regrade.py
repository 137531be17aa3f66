"""After the tests change: grade the attempts that count (or, when the best one counts, every attempt that may)
again with the new suite, keep the old gradings, and say per student what changed (old → new grade, which checks
changed, whether another attempt counts now) so the instructor can announce it."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from grader.config import Assignment
from grader.course.course_grade import (
    Standing,
    grade_attempts,
    history_with,
    read_extensions,
    refresh_histories,
    report_folder,
    standings,
    suite_version,
    write_attempt_reports,
)
from grader.course.gradebook import Gradebook, course_lock, now
from grader.model import GradeReport
from grader.reporting.gradebook import csv_cell
from grader.reporting.report import fmt


@dataclass(frozen=True)
class Change:
    """One student's grade before and after the regrade. Grades are after the late penalty (what the student gets);
    ``new_score`` is the counting attempt's before it. Attempts are numbered in the order received, as on the
    student's page."""

    student: str
    attempt: int  # the attempt that counts now
    old_attempt: int  # the one that counted before
    received_at: datetime  # of the attempt that counts now
    old_grade: float | None  # None: it was not graded
    new_grade: float | None  # None: it is not graded (an attempt past the ones regraded, under a "last" rule)
    new_score: float | None
    penalty: float  # of the attempt that counts now
    checks: tuple[str, ...]  # "name: old outcome → new outcome" of the attempt that counts now, only those that changed

    @property
    def changed(self) -> bool:
        return self.old_grade != self.new_grade or self.attempt != self.old_attempt or bool(self.checks)


def change_line(change: Change) -> str:
    """What an instructor announces: the grade the student gets, old → new, the score behind it if late, and
    which attempt counts when that changed."""
    def shown(value: float | None) -> str:
        return "ungraded" if value is None else fmt(value)

    line = f"{change.student:<16} {shown(change.old_grade)} → {shown(change.new_grade)}"
    if change.penalty:
        line += f" (late: {fmt(change.penalty)} points off {shown(change.new_score)})"
    if change.attempt != change.old_attempt:
        line += f"; attempt {change.attempt} counts now, not attempt {change.old_attempt}"
    return line + ("" if change.changed else "  (unchanged)")


def _check_changes(old: dict[str, str], report: GradeReport) -> tuple[str, ...]:
    new = {c.name: c.outcome for c in report.checks}
    return tuple(f"{name}: {old.get(name, 'absent')} → {new.get(name, 'absent')}"
                 for name in sorted(old.keys() | new.keys()) if old.get(name) != new.get(name))


@dataclass(frozen=True)
class Regraded:
    suite: str  # the version of the tests regraded with
    changes: list[Change]
    broken: list[str]  # students whose grading the grader failed on: nothing recorded, their old grade stands


def regrade(gradebook: Gradebook, course: Path, assignment: Assignment, mode: str, jobs: int = 1,
            dry_run: bool = False, annotate: bool = True, cluster: str | None = None) -> Regraded:
    """Grade with the current suite each attempt that counts, or under ``best`` every attempt that may count (a
    fix that lowers the counting attempt's score can make another one the best), unless already done. With
    ``dry_run`` nothing is recorded and no feedback is written. A grading the grader failed on is never recorded
    (as in ``grade_course``): it is not the student's grade, and the next regrade tries it again."""
    suite = suite_version(assignment)
    extensions = read_extensions(course, gradebook)
    with course_lock(gradebook.path):
        rows = {row.id: row for row in gradebook.attempts(assignment.name)}
        before = {s.student.id: s for s in standings(gradebook, assignment, suite, extensions) if s.counts is not None}
        targets = {}
        previous: dict[int, dict[str, str]] = {}
        for standing in before.values():
            best = assignment.submission.counts == "best"
            for judged in (j for j in standing.judged if j.within_limit and (best or j is standing.counts)):
                grading = gradebook.current_grading(judged.attempt.id, suite)
                if grading is None or grading.suite != suite:
                    targets[judged.attempt.id] = rows[judged.attempt.id]
                    previous[judged.attempt.id] = gradebook.outcomes(grading.id) if grading else {}
        if not targets:  # nothing to do: start no sandbox and load no suite
            return Regraded(suite, [], [])
        overrides: dict[int, tuple[float, str]] = {}
        checks: dict[int, tuple[str, ...]] = {}
        broken: list[str] = []
        for row, report in grade_attempts(assignment, list(targets.values()), mode, jobs, cluster):
            if report.grader_errors:
                broken.append(row.student)
                continue
            folder = report_folder(gradebook, course, row, suite)
            overrides[row.id] = (report.score, str(folder))
            checks[row.id] = _check_changes(previous[row.id], report)
            if dry_run:
                continue
            write_attempt_reports(report, row, folder, annotate,
                                  history_with(gradebook, assignment, suite, row, report, folder, extensions),
                                  assignment.student_notebook)
            gradebook.record_grading(row.id, suite, report, folder, purpose="regrade")
        touched = {targets[attempt].student for attempt in overrides} - set(broken)
        after = {s.student.id: s for s in standings(gradebook, assignment, suite, extensions, overrides)
                 if s.student.id in touched}
        changes = [_change(before[student], standing, checks) for student, standing in sorted(after.items())]
        if not dry_run:
            refresh_histories(gradebook, assignment, suite, touched, extensions)
    return Regraded(suite, changes, sorted(set(broken)))


def _change(before: Standing, after: Standing, checks: dict[int, tuple[str, ...]]) -> Change:
    def number(standing: Standing, attempt: int) -> int:
        return next(n for n, j in enumerate(standing.judged, 1) if j.attempt.id == attempt)

    assert before.counts is not None and after.counts is not None  # a regraded student has an attempt that counts
    now_counts = after.counts
    return Change(after.student.id, number(after, now_counts.attempt.id), number(before, before.counts.attempt.id),
                  now_counts.attempt.received_at, before.counts.score, now_counts.score, now_counts.attempt.score,
                  now_counts.penalty, checks.get(now_counts.attempt.id, ()))


def changes_csv(changes: list[Change], zone: tzinfo | None = None) -> str:
    """old_grade and new_grade are after the late penalty (what the student gets); new_score is before it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    rows: list[list[Any]] = [["student", "attempt", "received_at", "old_attempt", "old_grade", "new_grade",
                              "difference", "late_penalty", "new_score", "checks_changed"]]
    for c in changes:
        difference = "" if c.old_grade is None or c.new_grade is None else c.new_grade - c.old_grade
        rows.append([c.student, c.attempt, c.received_at.astimezone(zone).isoformat(timespec="minutes"),
                     c.old_attempt, "" if c.old_grade is None else c.old_grade,
                     "" if c.new_grade is None else c.new_grade, difference, c.penalty,
                     "" if c.new_score is None else c.new_score, "; ".join(c.checks)])
    writer.writerows([csv_cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def write_changes(changes: list[Change], folder: Path, when: datetime | None = None,
                  zone: tzinfo | None = None) -> Path:
    """``regrade-<UTC time>.csv`` beside the assignment's feedback, never replacing an earlier one."""
    moment = (when or now()).strftime("%Y%m%dT%H%M%SZ")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"regrade-{moment}.csv"
    counter = 1
    while path.exists():
        counter += 1
        path = folder / f"regrade-{moment}-{counter}.csv"
    path.write_text(changes_csv(changes, zone), encoding="utf-8")
    return path
