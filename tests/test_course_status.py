"""``grader status`` as an instructor reads it before and after grading: lateness is known from when an attempt was
received, so it shows before any grading; the pending line says what to run."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from grader.config import Assignment, load_assignment
from grader.course.course_grade import Standing
from grader.course.policy import Attempt, counting, judge
from grader.course.records import FinalGrade, Student
from grader.course.status import status_text

DEADLINE = datetime.fromisoformat("2026-10-01T23:59:00+02:00")
TOML = f"""title = "T"
version = "1"
notebook = "t.ipynb"

[submission]
deadline = "{DEADLINE.isoformat()}"
late_penalty = {{ per = "day", points = 10, cap = 50 }}

[[functions]]
name = "f"
points = 100
"""


def assignment(tmp_path: Path) -> Assignment:
    folder = tmp_path / "solutions" / "t"
    folder.mkdir(parents=True)
    (folder / "assignment.toml").write_text(TOML)
    return load_assignment(folder)


def standing(task: Assignment, student: str, *attempts: tuple[timedelta, float | None]) -> Standing:
    judged = judge(task.submission, [Attempt(n, DEADLINE + after, score, 100.0)
                                     for n, (after, score) in enumerate(attempts, 1)])
    chosen = counting(task.submission, judged)
    grade = FinalGrade(Student(student, student.title()), "t", 100.0, chosen.score if chosen else None,
                       late_seconds=chosen.late_seconds if chosen else 0.0, attempts=len(judged))
    return Standing(Student(student, student.title()), tuple(judged), chosen, None, grade)


def rows(text: str) -> dict[str, str]:
    return {line.split()[0]: line for line in text.splitlines() if line.split() and line.split()[0] in ("ann", "bo", "cy")}


def test_a_late_attempt_is_late_before_it_is_graded(tmp_path: Path) -> None:
    task = assignment(tmp_path)
    found = [standing(task, "ann", (timedelta(hours=-2), None)),
             standing(task, "bo", (timedelta(days=1, hours=3), None)),  # two started days late, not graded yet
             standing(task, "cy")]
    text = status_text(task, found, pending=2)
    assert "2 of 3 students submitted, 1 late, 1 missing" in text
    assert "not graded, late  2 d" in rows(text)["bo"]
    assert "late" not in rows(text)["ann"] and "not graded" in rows(text)["ann"]
    assert "2 attempt(s) not graded with the current tests: `grader grade t` grades them" in text


def test_once_graded_the_counting_attempt_decides_and_nothing_pending_is_said_plainly(tmp_path: Path) -> None:
    task = assignment(tmp_path)
    # bo resubmitted late, but his on-time attempt is the better one after the penalty: he is not late
    found = [standing(task, "ann", (timedelta(hours=-2), 90.0)),
             standing(task, "bo", (timedelta(hours=-1), 80.0), (timedelta(days=1), 85.0)),
             standing(task, "cy", (timedelta(hours=5), 70.0))]
    text = status_text(task, found, pending=0)
    assert "3 of 3 students submitted, 1 late, 0 missing; every attempt graded with the current tests" in text
    assert " #1 on time " in rows(text)["bo"] and "80/100" in rows(text)["bo"]  # which attempt counts
    assert " #1 late " in rows(text)["cy"] and "60/100" in rows(text)["cy"]


def test_an_assignment_with_nothing_collected_says_so(tmp_path: Path) -> None:
    task = assignment(tmp_path)
    text = status_text(task, [standing(task, "ann"), standing(task, "bo")], pending=0)
    assert "0 of 2 students submitted, 0 late, 2 missing; nothing collected yet (`grader collect t SOURCE...`)" in text
    assert "every attempt graded" not in text
