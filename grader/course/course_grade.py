"""Grade a course's collected attempts, each recorded the moment its grading finishes, and read grades back.

Recording per attempt (not per batch) is what makes an interrupted run resumable: the next ``grader grade ASSIGNMENT``
asks the gradebook what the current suite has not graded yet, so nothing is graded twice and nothing finished is lost.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any

from grader.config import Assignment, files_below, parse_instant
from grader.course.gradebook import AttemptRow, Gradebook, course_lock
from grader.course.policy import Attempt, Judged, counting, judge
from grader.course.records import FinalGrade, Student
from grader.errors import UsageError
from grader.grading.seeds import key_path
from grader.model import GradeReport
from grader.reporting.report import write_atomic
from grader.text import clean_line

EXTENSIONS = "extensions.csv"
REPORT_JSON = "grade-report.json"  # the whole GradeReport, written by the grader beside the feedback it rendered


def suite_version(assignment: Assignment) -> str:
    """A content hash of the assignment's solutions folder and of whether the course key exists (never of the key
    itself, which would then be guessable from a hash printed everywhere): any change of a test, the reference or
    the configuration is a new version, and only that."""
    digest = hashlib.sha256()
    root = assignment.source_dir
    for path in files_below(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    digest.update(b"course key: " + (b"present" if key_path(assignment).is_file() else b"absent"))
    return digest.hexdigest()[:16]


def read_extensions(course: Path, gradebook: Gradebook | None = None) -> dict[tuple[str, str], datetime]:
    """``extensions.csv`` at the course root (student, assignment, until: ISO 8601 with a time zone), if any. With
    the ``gradebook``, a student not on its roster or an assignment not in ``solutions/`` refuses the file: a typo
    there would otherwise give no one the extension and its student a late penalty, without a word."""
    path = course / EXTENSIONS
    if not path.is_file():
        return {}
    from grader.course.roster import decode

    reader = csv.DictReader(io.StringIO(decode(path.read_bytes(), path), newline=""))
    header = [(name or "").strip().lower() for name in reader.fieldnames or ()]
    if not {"student", "assignment", "until"} <= set(header):
        raise UsageError(f"{path}, line 1: the header must name the columns student, assignment, until")
    reader.fieldnames = header
    found: dict[tuple[str, str], datetime] = {}
    roster = {student.id for student in gradebook.students()} if gradebook is not None else None
    for row in reader:
        where = f"{path}, line {reader.line_num}"
        student, assignment, until = ((row.get(k) or "").strip() for k in ("student", "assignment", "until"))
        if not (student and assignment and until):
            raise UsageError(f"{where}: student, assignment and until are all needed")
        if (student, assignment) in found:
            raise UsageError(f"{where}: a second extension for {student!r} on {assignment!r}")
        if roster is not None and student not in roster:
            raise UsageError(f"{where}: {student!r} is not on the roster (the student column holds roster ids)")
        if roster is not None and not (course / "solutions" / assignment).is_dir():
            raise UsageError(f"{where}: no assignment {assignment!r} (a folder name under solutions/)")
        found[(student, assignment)] = parse_instant(until, where)
    return found


@dataclass(frozen=True)
class Standing:
    """One student on one assignment: every attempt through the policy, and the one that counts."""

    student: Student
    judged: tuple[Judged, ...]
    counts: Judged | None
    extension: datetime | None
    grade: FinalGrade


def _attempt(gradebook: Gradebook, row: AttemptRow, suite: str, max_score: float,
             overrides: dict[int, tuple[float, str]]) -> Attempt:
    if row.id in overrides:
        return Attempt(row.id, row.received_at, overrides[row.id][0], max_score, overrides[row.id][1])
    grading = gradebook.current_grading(row.id, suite)
    return Attempt(row.id, row.received_at, grading.score if grading else None, max_score,
                   grading.report_dir if grading else "")


def standings(gradebook: Gradebook, assignment: Assignment, suite: str, extensions: dict[tuple[str, str], datetime],
              overrides: dict[int, tuple[float, str]] | None = None, only: str | None = None) -> list[Standing]:
    """Every roster student's standing (or only student ``only``'s), in roster order, students with no attempt
    included. ``overrides`` gives attempt id → (score, report folder) of gradings not recorded yet."""
    by_student: dict[str, list[AttemptRow]] = {}
    for row in gradebook.attempts(assignment.name, only):
        by_student.setdefault(row.student, []).append(row)
    result = []
    for student in gradebook.students(only):
        attempts = [_attempt(gradebook, row, suite, assignment.max_score, overrides or {}) for row in by_student.get(student.id, [])]
        extension = extensions.get((student.id, assignment.name))
        judged = judge(assignment.submission, attempts, extension)
        chosen = counting(assignment.submission, judged)
        grade = FinalGrade(
            student=student, assignment=assignment.name, max_score=assignment.max_score,
            score=chosen.score if chosen else None,
            raw_score=chosen.attempt.score if chosen else None,
            penalty=chosen.penalty if chosen else 0.0,
            late_seconds=chosen.late_seconds if chosen else 0.0,
            attempts=len(attempts),
            received_at=chosen.attempt.received_at if chosen else None,
            feedback=Path(chosen.attempt.feedback) / "feedback.html" if chosen and chosen.attempt.feedback else None)
        result.append(Standing(student, tuple(judged), chosen, extension, grade))
    return result


def counting_sources(gradebook: Gradebook, assignment: str, found: list[Standing]) -> dict[str, str]:
    """Student id → where their counting attempt came from (the LMS download's entry name, which Canvas's feedback
    upload needs)."""
    rows = {row.id: row for row in gradebook.attempts(assignment)}
    return {s.student.id: rows[s.counts.attempt.id].source for s in found
            if s.counts is not None and s.counts.attempt.id in rows}


def history(standing: Standing, zone: tzinfo | None = None, this: int | None = None) -> list[dict[str, Any]]:
    """The attempt history a feedback page shows (plain values, so it travels in GradeReport.extra), times in
    ``zone`` (the deadline's: the one students know); ``this`` is the attempt the page is about."""
    return [{"attempt": number, "received_at": j.attempt.received_at.astimezone(zone).isoformat(timespec="minutes"),
             "score": j.attempt.score, "after_penalty": j.score, "late": j.late, "penalty": j.penalty,
             "counts": standing.counts is not None and j.attempt.id == standing.counts.attempt.id,
             "within_limit": j.within_limit, "this": j.attempt.id == this}
            for number, j in enumerate(standing.judged, 1)]


def deadline_zone(assignment: Assignment) -> tzinfo:
    """The zone times are shown in: the deadline's, the one students and instructor know (UTC without a deadline)."""
    deadline = assignment.submission.deadline
    return deadline.tzinfo if deadline and deadline.tzinfo else timezone.utc


def report_folder(gradebook: Gradebook, course: Path, row: AttemptRow, suite: str) -> Path:
    """``feedback/<assignment>/<student>/attempt-<n>-<suite>``: n counts the student's attempts in the order they
    were collected (the same as the page's order received unless an earlier one was collected later), so the
    name stays put as attempts are added; the gradebook's row id, shared by every student, would read as
    'attempt 6' for someone's first."""
    return course / "feedback" / row.assignment / row.student / f"attempt-{gradebook.collected_number(row)}-{suite}"


def grade_attempts(assignment: Assignment, rows: list[AttemptRow], mode: str, jobs: int,
                   cluster: str | None = None) -> Iterator[tuple[AttemptRow, GradeReport]]:
    """Each attempt's report as its grading finishes (through the same batch machinery as ``grade --out``)."""
    from grader.running.batch import grade_stream

    for index, report in grade_stream(assignment=assignment, paths=[row.stored for row in rows], mode=mode, jobs=jobs,
                                      cluster=cluster):
        yield rows[index], report


def write_attempt_reports(report: GradeReport, row: AttemptRow, folder: Path, annotate: bool,
                          attempts: list[dict[str, Any]] | None = None, release: Path | None = None) -> GradeReport:
    """The attempt's feedback files, with the student's attempt history on the page when known (``release``: the
    assignment's student notebook, see ``write_submission_reports``)."""
    from grader.running.batch import write_submission_reports

    if attempts is not None:
        report = dataclasses.replace(report, extra={**report.extra, "attempts": attempts})
    troubles = write_submission_reports(report, row.stored, folder, row.student, annotate, release)
    try:
        write_atomic(folder / REPORT_JSON, json.dumps(report.to_dict()) + "\n")
    except (OSError, TypeError, ValueError) as error:
        troubles.append(f"{REPORT_JSON} could not be written ({error}); the summary will leave this attempt out")
    for trouble in troubles:
        print(clean_line(f"{row.student}: {trouble}", 500), file=sys.stderr)
    return report


def history_with(gradebook: Gradebook, assignment: Assignment, suite: str, row: AttemptRow, report: GradeReport,
                 folder: Path, extensions: dict[tuple[str, str], datetime]) -> list[dict[str, Any]] | None:
    """The student's history as it will be once this grading is recorded (None if it cannot be worked out: the
    page is then written without it, which costs only the history)."""
    try:
        found = standings(gradebook, assignment, suite, extensions, {row.id: (report.score, str(folder))}, row.student)
        return next(history(s, deadline_zone(assignment), row.id) for s in found if s.student.id == row.student)
    except (StopIteration, ValueError, OSError):
        return None


def refresh_histories(gradebook: Gradebook, assignment: Assignment, suite: str, students: set[str],
                      extensions: dict[tuple[str, str], datetime]) -> int:
    """Rewrite the pages of these students' other attempts whose history changed since they were written (a later
    attempt graded, another one counting now), so no page names as counting an attempt that no longer does.
    Returns how many were rewritten; a page that cannot be rewritten keeps its old history and costs nothing else."""
    from grader.running.batch import write_or_explain

    rewritten = 0
    zone = deadline_zone(assignment)
    found = (s for student in sorted(students) for s in standings(gradebook, assignment, suite, extensions, only=student))
    for standing in found:  # only these students' rows are read (see standings)
        for judged in standing.judged:
            folder = Path(judged.attempt.feedback) if judged.attempt.feedback else None
            if folder is None:
                continue
            attempts = history(standing, zone, judged.attempt.id)
            try:
                report = GradeReport.from_dict(json.loads((folder / REPORT_JSON).read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError, KeyError):
                continue
            if report.extra.get("attempts") == attempts:
                continue
            report = dataclasses.replace(report, extra={**report.extra, "attempts": attempts})
            annotated = (folder / "feedback.ipynb").is_file() and (folder / "feedback-notebook.html").is_file()
            if write_or_explain(report, folder, standing.student.id, annotated):
                continue
            try:
                write_atomic(folder / REPORT_JSON, json.dumps(report.to_dict()) + "\n")
            except (OSError, TypeError, ValueError):
                continue
            rewritten += 1
    return rewritten


def first_sentence(message: str) -> str:
    """What a progress line has room for: the page says the rest (and how to fix it)."""
    return message.splitlines()[0].split(". ")[0].rstrip(".") if message.strip() else message


@dataclass(frozen=True)
class GradeRun:
    graded: list[tuple[AttemptRow, GradeReport]]
    already: int  # attempts the current suite had graded before this run
    suite: str


def grade_course(gradebook: Gradebook, course: Path, assignment: Assignment, mode: str, jobs: int = 1,
                 annotate: bool = True, cluster: str | None = None, wait: bool = True,
                 log: Any = print) -> GradeRun:
    """Grade every collected attempt the current suite has not graded, recording each as it finishes."""
    suite = suite_version(assignment)
    extensions = read_extensions(course, gradebook)
    with course_lock(gradebook.path, wait=wait):
        rows = gradebook.pending(assignment.name, suite)
        total = len(gradebook.attempts(assignment.name))
        already = total - len(rows)
        graded: list[tuple[AttemptRow, GradeReport]] = []
        if not total:
            log(f"{assignment.name}: nothing collected yet: take submissions in with "
                f"`grader collect {assignment.name} SOURCE...`")
            return GradeRun(graded, already, suite)
        if not rows:
            log(f"{assignment.name}: nothing to grade: all {total} collected attempt(s) are graded with the current "
                f"tests (suite {suite})")
            return GradeRun(graded, already, suite)
        log(f"{assignment.name}: {len(rows)} attempt(s) to grade with suite {suite}, {already} already graded")
        zone = deadline_zone(assignment)
        for row, report in grade_attempts(assignment, rows, mode, jobs, cluster):
            folder = report_folder(gradebook, course, row, suite)
            # Reports first, the row last: killed in between, the attempt is still pending and its folder is rewritten.
            attempts = history_with(gradebook, assignment, suite, row, report, folder, extensions)
            write_attempt_reports(report, row, folder, annotate, attempts, assignment.student_notebook)
            if not report.grader_errors:  # the grader's failure is not the student's grade: left pending, graded again
                gradebook.record_grading(row.id, suite, report, folder)
            graded.append((row, report))
            left = len(rows) - len(graded)
            log(clean_line(f"[{len(graded)}/{len(rows)}, {left} left] {row.student}, attempt received "
                           f"{row.received_at.astimezone(zone).isoformat(timespec='minutes')}: "
                           f"{report.score:g}/{report.max_score:g}" + (f" ({first_sentence(report.error)})" if report.error else ""),
                           400))
        refresh_histories(gradebook, assignment, suite, {row.student for row, _ in graded}, extensions)
        return GradeRun(graded, already, suite)

