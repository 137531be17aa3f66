"""[submission] in assignment.toml and the late policy as pure functions: deadlines, grace, caps, counting rules."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from grader.config import LatePenalty, SubmissionPolicy, load_assignment
from grader.course.policy import Attempt, counting, judge, late_seconds, penalty_points
from grader.errors import UsageError

BASE = """title = "T"
version = "1"
notebook = "t.ipynb"

[[functions]]
name = "f"
points = 10
"""
DEADLINE = datetime.fromisoformat("2026-10-01T23:59:00+02:00")


def load_with(tmp_path: Path, submission: str):
    folder = tmp_path / "solutions" / "t"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "assignment.toml").write_text(BASE + "\n" + submission)
    return load_assignment(folder)


def test_the_policy_table_is_read(tmp_path: Path) -> None:
    assignment = load_with(tmp_path, '[submission]\ndeadline = "2026-10-01T23:59:00+02:00"\n'
                                     'late_penalty = {per = "hour", points = 1, cap = 5, grace_minutes = 15}\n'
                                     'counts = "last_before_deadline"\nmax_attempts = 3\n')
    policy = assignment.submission
    assert policy.deadline == DEADLINE
    assert policy.late_penalty == LatePenalty(per="hour", points=1, cap=5, grace_minutes=15)
    assert policy.counts == "last_before_deadline" and policy.max_attempts == 3


def test_a_toml_datetime_with_an_offset_is_accepted(tmp_path: Path) -> None:
    assert load_with(tmp_path, "[submission]\ndeadline = 2026-10-01T23:59:00+02:00\n").submission.deadline == DEADLINE


@pytest.mark.parametrize("deadline", ['"2026-10-01T23:59:00"', "2026-10-01T23:59:00"])
def test_a_deadline_without_a_time_zone_is_refused(tmp_path: Path, deadline: str) -> None:
    with pytest.raises(UsageError, match="has no time zone"):
        load_with(tmp_path, f"[submission]\ndeadline = {deadline}\n")


@pytest.mark.parametrize(("table", "message"), [
    ('deadline = "tomorrow"', "not an ISO 8601"),
    ('deadline = "2026-10-01T23:59:00Z"\ncounts = "first"', "counts must be one of"),
    ('deadline = "2026-10-01T23:59:00Z"\nmax_attempts = 0', "max_attempts"),
    ('deadline = "2026-10-01T23:59:00Z"\nlate_penalty = {per = "week", points = 1}', "per must be"),
    ('late_penalty = {points = 1}', "no deadline"),
    ('deadline = "2026-10-01T23:59:00Z"\ndue = 1', "unknown keys"),
    ('deadline = "2026-10-01T23:59:00Z"\nlate_penalty = {per = "day", points = nan}', "nan"),
])
def test_a_bad_policy_is_a_clear_error(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        load_with(tmp_path, f"[submission]\n{table}\n")


POLICY = SubmissionPolicy(deadline=DEADLINE, late_penalty=LatePenalty(per="day", points=2, cap=5, grace_minutes=15))


def test_grace_forgives_and_then_the_whole_lateness_counts() -> None:
    assert late_seconds(POLICY, DEADLINE + timedelta(minutes=15), DEADLINE) == 0
    assert late_seconds(POLICY, DEADLINE + timedelta(minutes=16), DEADLINE) == 16 * 60
    assert late_seconds(POLICY, DEADLINE - timedelta(days=1), DEADLINE) == 0


def test_penalty_per_started_day_up_to_the_cap() -> None:
    assert penalty_points(POLICY, 0) == 0
    assert penalty_points(POLICY, 1) == 2
    assert penalty_points(POLICY, 86400) == 2
    assert penalty_points(POLICY, 86401) == 4
    assert penalty_points(POLICY, 10 * 86400) == 5
    hourly = SubmissionPolicy(deadline=DEADLINE, late_penalty=LatePenalty(per="hour", points=1))
    assert penalty_points(hourly, 3601) == 2 and math.isinf(hourly.late_penalty.cap)


def attempt(number: int, hours_after_deadline: float, score: float | None) -> Attempt:
    return Attempt(number, DEADLINE + timedelta(hours=hours_after_deadline), score, 10.0)


ATTEMPTS = [attempt(1, -10, 6.0), attempt(2, -1, 4.0), attempt(3, 30, 10.0)]  # the last is 2 started days late


@pytest.mark.parametrize(("counts", "chosen", "score"), [
    ("best", 1, 6.0),  # 10 - 4 for two days late is 6, a tie with attempt 1: the earlier wins
    ("last", 3, 6.0),
    ("last_before_deadline", 2, 4.0),
])
def test_which_attempt_counts(counts: str, chosen: int, score: float) -> None:
    policy = SubmissionPolicy(deadline=DEADLINE, late_penalty=POLICY.late_penalty, counts=counts)
    judged = counting(policy, judge(policy, ATTEMPTS))
    assert judged is not None and judged.attempt.id == chosen and judged.score == score


def test_last_before_deadline_falls_back_to_the_last_with_its_penalty() -> None:
    policy = SubmissionPolicy(deadline=DEADLINE, late_penalty=POLICY.late_penalty, counts="last_before_deadline")
    judged = counting(policy, judge(policy, [attempt(7, 2, 9.0)]))
    assert judged is not None and judged.attempt.id == 7 and judged.score == 7.0


def test_attempts_beyond_the_limit_never_count() -> None:
    policy = SubmissionPolicy(deadline=DEADLINE, counts="best", max_attempts=2)
    judged = judge(policy, [attempt(3, -1, 10.0), attempt(1, -5, 2.0), attempt(2, -3, 3.0)])
    assert [j.within_limit for j in judged] == [True, True, False]  # in the order received
    chosen = counting(policy, judged)
    assert chosen is not None and chosen.attempt.id == 2


def test_an_extension_moves_the_deadline_for_that_student_only() -> None:
    late = [attempt(1, 30, 10.0)]
    assert judge(POLICY, late)[0].penalty == 4
    extended = judge(POLICY, late, extension=DEADLINE + timedelta(days=2))[0]
    assert extended.penalty == 0 and not extended.late
    earlier = judge(POLICY, late, extension=DEADLINE - timedelta(days=2))[0]  # never shortens the deadline
    assert earlier.penalty == 4


def test_ungraded_attempts_do_not_count_as_best_but_do_as_last() -> None:
    waiting = [attempt(1, -5, 5.0), attempt(2, -1, None)]
    best = counting(POLICY, judge(POLICY, waiting))
    assert best is not None and best.attempt.id == 1
    last = SubmissionPolicy(deadline=DEADLINE, counts="last")
    chosen = counting(last, judge(last, waiting))
    assert chosen is not None and chosen.attempt.id == 2 and chosen.score is None


@pytest.mark.parametrize(("text", "message"), [
    ("student,until\nal,2026-10-05T23:59:00Z\n", "line 1: the header must name"),
    ("student,assignment,until\nal,t,2026-10-05T23:59:00\n", "line 2: .* has no time zone"),
    ("student,assignment,until\nal,t,\n", "line 2: student, assignment and until are all needed"),
    ("student,assignment,until\nal,t,2026-10-05T23:59:00Z\nal,t,2026-10-06T23:59:00Z\n", "line 3: a second extension"),
])
def test_a_bad_extensions_file_names_the_line(tmp_path: Path, text: str, message: str) -> None:
    from grader.course.course_grade import read_extensions

    (tmp_path / "extensions.csv").write_text(text)
    with pytest.raises(UsageError, match=message):
        read_extensions(tmp_path)


def test_extensions_are_read_per_student_and_assignment(tmp_path: Path) -> None:
    from grader.course.course_grade import read_extensions

    assert read_extensions(tmp_path) == {}
    (tmp_path / "extensions.csv").write_text("Student,Assignment,Until\nal,t,2026-10-05T23:59:00+02:00\n")
    assert read_extensions(tmp_path) == {("al", "t"): datetime.fromisoformat("2026-10-05T23:59:00+02:00")}


@pytest.mark.parametrize(("row", "message"), [
    ("erni,t,2026-10-05T23:59:00+02:00", r"line 3: 'erni' is not on the roster"),
    ("al,tt,2026-10-05T23:59:00+02:00", r"line 3: no assignment 'tt'"),
])
def test_an_extension_for_no_one_is_refused_with_the_gradebook(tmp_path: Path, row: str, message: str) -> None:
    """A typo would give no one the extension and its student a late penalty; with the roster it is caught."""
    from grader.course.course_grade import read_extensions
    from grader.course.gradebook import Gradebook
    from grader.course.records import Student

    (tmp_path / "solutions" / "t").mkdir(parents=True)
    (tmp_path / "extensions.csv").write_text(f"student,assignment,until\nal,t,2026-10-05T23:59:00+02:00\n{row}\n")
    with Gradebook(tmp_path / "gradebook.sqlite", root=tmp_path) as gradebook:
        gradebook.put_students([Student("al", "Al"), Student("erin", "Erin")])
        with pytest.raises(UsageError, match=message):
            read_extensions(tmp_path, gradebook)
    assert len(read_extensions(tmp_path)) == 2  # without the roster (a file read alone) it is only parsed
