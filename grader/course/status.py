"""``grader status``: who submitted, who is late, who has not, and how the counting scores spread, as terminal text."""

from __future__ import annotations

import math

from grader.config import Assignment
from grader.course.course_grade import Standing, deadline_zone
from grader.reporting.report import fmt
from grader.text import clean_line

BINS = 10
BAR = 40  # characters of the longest histogram bar


def late_days(seconds: float) -> int:
    """Started days late (what a student means by 'a day late')."""
    return math.ceil(seconds / 86400) if seconds > 0 else 0


def is_late(standing: Standing) -> bool:
    """The counting attempt is late; before anything is graded, every attempt is (lateness needs no grading)."""
    if standing.counts is not None:
        return standing.counts.late
    return bool(standing.judged) and all(j.late for j in standing.judged)


def _row(standing: Standing) -> list[str]:
    grade = standing.grade
    counting = standing.counts
    if not standing.judged:
        state = "missing"
    elif counting is None:
        state = "not counted" if not any(j.within_limit for j in standing.judged) else "not graded"
    else:  # which attempt, numbered in the order received as on the student's page
        number = next(n for n, j in enumerate(standing.judged, 1) if j.attempt.id == counting.attempt.id)
        state = f"#{number} " + ("not graded" if counting.score is None else "late" if counting.late else "on time")
    if state == "not graded" and is_late(standing):
        state = "not graded, late"
    seconds = grade.late_seconds or (min(j.late_seconds for j in standing.judged) if is_late(standing) else 0.0)
    late = f"{late_days(seconds)} d" if seconds else ""
    score = f"{fmt(grade.score)}/{fmt(grade.max_score)}" if grade.score is not None else "-"
    if grade.penalty:
        score += f" (-{fmt(grade.penalty)})"
    extension = standing.extension.isoformat(timespec="minutes") if standing.extension else ""
    return [standing.student.id, clean_line(standing.student.name, 30), str(grade.attempts), state, late, score,
            extension]


def histogram(scores: list[float], max_score: float) -> list[str]:
    counts = [0] * BINS
    for score in scores:
        fraction = score / max_score if max_score else 0.0
        counts[min(BINS - 1, max(0, int(fraction * BINS)))] += 1
    most = max(counts) or 1
    lines = []
    for index, count in enumerate(counts):
        low, high = 100 * index // BINS, 100 * (index + 1) // BINS
        label = f"{low:>3}-{high}%" + (" " if high < 100 else "")
        lines.append(f"  {label:<9} {'#' * math.ceil(BAR * count / most) if count else '':<{BAR}} {count}")
    return lines


def status_text(assignment: Assignment, standings: list[Standing], pending: int,
                lms_late: frozenset[int] = frozenset()) -> str:
    """The status of one assignment: a line of totals, a table per student, the missing, the distribution.
    ``lms_late``: attempts the LMS marked late (Canvas's _LATE), named when the received time says on time."""
    policy = assignment.submission
    submitted = [s for s in standings if s.judged]
    late = [s for s in standings if is_late(s)]
    missing = [s for s in standings if not s.judged]
    scores = [s.grade.score for s in standings if s.grade.score is not None]
    deadline = f"due {policy.deadline.isoformat(timespec='minutes')}" if policy.deadline else "no deadline"
    lines = [f"{assignment.name} ({deadline}, counting: {policy.counts}"
             + (f", at most {policy.max_attempts} attempts" if policy.max_attempts else "") + ")",
             f"{len(submitted)} of {len(standings)} students submitted, {len(late)} late, {len(missing)} missing; "
             + (f"{pending} attempt(s) not graded with the current tests: `grader grade {assignment.name}` grades them"
                if pending else "every attempt graded with the current tests" if submitted
                else f"nothing collected yet (`grader collect {assignment.name} SOURCE...`)"), ""]
    header = ["student", "name", "attempts", "counting attempt", "late", "score", "extension"]
    rows = [header, *(_row(s) for s in standings)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    if missing:
        lines += ["", "missing: " + ", ".join(s.student.id for s in missing)]
    disputed = [f"{s.student.id} (attempt received "
                f"{j.attempt.received_at.astimezone(deadline_zone(assignment)).isoformat(timespec='minutes')})"
                for s in standings for j in s.judged
                if j.attempt.id in lms_late and not j.late and s.extension is None]
    if disputed:
        lines += ["", "the LMS marked late, but on time by the received time: " + ", ".join(disputed)
                  + " (are the download's times in the deadline's zone?)"]
    if scores:
        mean = sum(scores) / len(scores)
        lines += ["", f"counting scores of {len(scores)} student(s): mean {fmt(mean)}, lowest {fmt(min(scores))}, "
                      f"highest {fmt(max(scores))} (out of {fmt(assignment.max_score)})",
                  *histogram(scores, assignment.max_score)]
    return "\n".join(lines) + "\n"
