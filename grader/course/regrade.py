"""After the tests change: grade the counting attempts again with the new suite, keep the old gradings, and say
per student what changed (old → new score, which checks changed) so the instructor can announce it."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from grader.config import Assignment
from grader.course.course_grade import (
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
    """One student's counting attempt graded again. Scores are before the late penalty; ``old_grade`` and
    ``new_grade`` are what the student gets (the penalty depends only on when it was received, so it is the same)."""

    student: str
    received_at: datetime
    old_score: float | None  # None: never graded before
    new_score: float
    penalty: float
    checks: tuple[str, ...]  # "name: old outcome → new outcome", only those that changed

    @property
    def changed(self) -> bool:
        return self.old_score != self.new_score or bool(self.checks)

    @property
    def old_grade(self) -> float | None:
        return None if self.old_score is None else max(0.0, self.old_score - self.penalty)

    @property
    def new_grade(self) -> float:
        return max(0.0, self.new_score - self.penalty)


def change_line(change: Change) -> str:
    """What an instructor announces: the grade the student gets, old → new, and the score behind it if late."""
    old = "ungraded" if change.old_grade is None else fmt(change.old_grade)
    line = f"{change.student:<16} {old} → {fmt(change.new_grade)}"
    if change.penalty:
        before = "ungraded" if change.old_score is None else fmt(change.old_score)
        line += f" (late: {fmt(change.penalty)} points off {before} → {fmt(change.new_score)})"
    return line + ("" if change.changed else "  (unchanged)")


def _check_changes(old: dict[str, str], report: GradeReport) -> tuple[str, ...]:
    new = {c.name: c.outcome for c in report.checks}
    return tuple(f"{name}: {old.get(name, 'absent')} → {new.get(name, 'absent')}"
                 for name in sorted(old.keys() | new.keys()) if old.get(name) != new.get(name))


def regrade(gradebook: Gradebook, course: Path, assignment: Assignment, mode: str, jobs: int = 1,
            dry_run: bool = False, annotate: bool = True, cluster: str | None = None) -> list[Change]:
    """Grade each student's counting attempt with the current suite unless it already has been. With ``dry_run``
    nothing is recorded and no feedback is written."""
    suite = suite_version(assignment)
    extensions = read_extensions(course, gradebook)
    with course_lock(gradebook.path):
        targets = {}
        penalties: dict[int, float] = {}
        previous: dict[int, tuple[float | None, dict[str, str]]] = {}
        rows = {row.id: row for row in gradebook.attempts(assignment.name)}
        for standing in standings(gradebook, assignment, suite, extensions):
            if standing.counts is None:
                continue
            attempt = standing.counts.attempt.id
            grading = gradebook.current_grading(attempt, suite)
            if grading is not None and grading.suite == suite:
                continue
            targets[attempt] = rows[attempt]
            penalties[attempt] = standing.counts.penalty
            previous[attempt] = (grading.score, gradebook.outcomes(grading.id)) if grading else (None, {})
        changes: list[Change] = []
        if not targets:  # nothing to do: start no sandbox and load no suite
            return changes
        for row, report in grade_attempts(assignment, list(targets.values()), mode, jobs, cluster):
            old_score, old_outcomes = previous[row.id]
            changes.append(Change(row.student, row.received_at, old_score, report.score, penalties[row.id],
                                  _check_changes(old_outcomes, report)))
            if dry_run:
                continue
            folder = report_folder(course, assignment.name, row, suite)
            write_attempt_reports(report, row, folder, annotate,
                                  history_with(gradebook, assignment, suite, row, report, folder, extensions))
            gradebook.record_grading(row.id, suite, report, folder, purpose="regrade")
        if not dry_run:
            refresh_histories(gradebook, assignment, suite, {c.student for c in changes}, extensions)
    return sorted(changes, key=lambda c: c.student)


def changes_csv(changes: list[Change], zone: tzinfo | None = None) -> str:
    """old_grade and new_grade are after the late penalty (what the student gets); the scores before it follow."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    rows: list[list[Any]] = [["student", "received_at", "old_grade", "new_grade", "difference", "late_penalty",
                              "old_score", "new_score", "checks_changed"]]
    for c in changes:
        old_grade = "" if c.old_grade is None else c.old_grade
        difference = "" if c.old_grade is None else c.new_grade - c.old_grade
        rows.append([c.student, c.received_at.astimezone(zone).isoformat(timespec="minutes"), old_grade,
                     c.new_grade, difference, c.penalty, "" if c.old_score is None else c.old_score, c.new_score,
                     "; ".join(c.checks)])
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
