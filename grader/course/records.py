"""Plain data between the course gradebook and what reads it (status, exports, the summary's roster)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class Student:
    """One row of the roster. ``lms_id`` is the LMS's own number for the student (Canvas user id, Moodle participant
    id), used to match downloads and to write imports."""

    id: str
    name: str
    email: str = ""
    lms_id: str = ""
    section: str = ""
    sis_id: str = ""  # Canvas "SIS User ID"
    login: str = ""  # Canvas "SIS Login ID"


@dataclass(frozen=True)
class FinalGrade:
    """A student's grade on one assignment: the counting attempt after the late policy, or no submission."""

    student: Student
    assignment: str
    max_score: float
    score: float | None  # None: nothing submitted (or nothing graded yet)
    raw_score: float | None = None  # before the late penalty
    penalty: float = 0.0  # points taken off for lateness
    late_seconds: float = 0.0  # after grace and extension; 0 when on time
    attempts: int = 0
    received_at: datetime | None = None  # of the counting attempt
    feedback: Path | None = None  # the counting attempt's feedback.html
