"""The course's summary.html: the counting attempts' reports laid out as for a batch, plus the students' roster."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from grader.config import Assignment
from grader.course.course_grade import REPORT_JSON, Standing, read_extensions, standings, suite_version
from grader.course.gradebook import Gradebook
from grader.course.status import late_days
from grader.model import GradeReport
from grader.reporting.summary import CourseRow, write_summary


def course_rows(found: list[Standing], page_folder: Path) -> list[CourseRow]:
    """Nothing counted first (who to chase), then the lowest counting score, then by id."""
    rows = []
    for s in found:
        feedback = s.grade.feedback
        link = feedback.relative_to(page_folder).as_posix() if feedback and feedback.is_relative_to(page_folder) else ""
        rows.append(CourseRow(s.student.id, s.student.name, s.grade.score, s.grade.max_score, s.grade.attempts,
                              late_days(s.grade.late_seconds), link))
    return sorted(rows, key=lambda r: (r.score is not None, r.score or 0.0, r.student))


def counting_reports(found: list[Standing], page_folder: Path) -> list[tuple[str, GradeReport]]:
    """(folder relative to the page, report) of each counting attempt whose report the grader saved, its score the
    student's grade after the late penalty, so the page's mean, median and distribution agree with its roster,
    ``grader status`` and the exports."""
    named = []
    for s in found:
        if s.counts is None or not s.counts.attempt.feedback:
            continue
        folder = Path(s.counts.attempt.feedback)
        try:
            report = GradeReport.from_dict(json.loads((folder / REPORT_JSON).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError):
            continue
        name = folder.relative_to(page_folder).as_posix() if folder.is_relative_to(page_folder) else s.student.id
        if s.grade.score is not None:
            report = dataclasses.replace(report, score=s.grade.score)
        named.append((name, report))
    return named


def write_course_summary(gradebook: Gradebook, course: Path, assignment: Assignment, suite: str = "") -> Path:
    page_folder = course / "feedback" / assignment.name
    found = standings(gradebook, assignment, suite or suite_version(assignment), read_extensions(course, gradebook))
    write_summary(counting_reports(found, page_folder), page_folder, course_rows(found, page_folder), assignment.title)
    return page_folder / "summary.html"
