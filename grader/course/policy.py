"""The late policy and the counting rule as pure functions: attempts in, one counting grade out.

Kept apart from the database so every rule can be checked with plain values, and so status, export and the summary
all apply the same rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from grader.config import SubmissionPolicy


@dataclass(frozen=True)
class Attempt:
    """One collected attempt with its latest grading (score None: not graded yet)."""

    id: int
    received_at: datetime
    score: float | None
    max_score: float
    feedback: str = ""  # the folder of its reports, "" if none yet


@dataclass(frozen=True)
class Judged:
    """An attempt seen through the policy."""

    attempt: Attempt
    late_seconds: float  # 0 when on time (grace and extension included)
    penalty: float  # points taken off
    within_limit: bool  # False: beyond max_attempts, kept but never counts

    @property
    def late(self) -> bool:
        return self.late_seconds > 0

    @property
    def score(self) -> float | None:
        if self.attempt.score is None:
            return None
        return max(0.0, self.attempt.score - self.penalty)


def due(policy: SubmissionPolicy, extension: datetime | None) -> datetime | None:
    """The deadline that applies to one student: their extension if it is later than the deadline."""
    if policy.deadline is None:
        return None
    return max(policy.deadline, extension) if extension is not None else policy.deadline


def late_seconds(policy: SubmissionPolicy, received: datetime, deadline: datetime | None) -> float:
    """Seconds past ``deadline``; 0 when on time or within the grace period (then the whole lateness counts)."""
    if deadline is None:
        return 0.0
    late = (received - deadline).total_seconds()
    return late if late > policy.late_penalty.grace_minutes * 60 else 0.0


def penalty_points(policy: SubmissionPolicy, late: float) -> float:
    """Points per started day or hour late, at most the cap."""
    rule = policy.late_penalty
    if late <= 0 or not rule.points:
        return 0.0
    return float(min(rule.cap, math.ceil(late / rule.unit_seconds) * rule.points))


def judge(policy: SubmissionPolicy, attempts: list[Attempt], extension: datetime | None = None) -> list[Judged]:
    """Every attempt, in the order received, with its lateness, penalty and whether it is within the attempt limit."""
    deadline = due(policy, extension)
    ordered = sorted(attempts, key=lambda a: (a.received_at, a.id))
    judged = []
    for number, attempt in enumerate(ordered, 1):
        late = late_seconds(policy, attempt.received_at, deadline)
        within = policy.max_attempts is None or number <= policy.max_attempts
        judged.append(Judged(attempt, late, penalty_points(policy, late), within))
    return judged


def counting(policy: SubmissionPolicy, judged: list[Judged]) -> Judged | None:
    """The attempt that counts. ``best``: the highest score after penalty (the earlier on a tie); ``last``: the last
    received; ``last_before_deadline``: the last on time, or the last at all (with its penalty) if none was on time.
    Attempts beyond the limit never count; ungraded attempts count only under ``last`` rules (then the grade waits)."""
    eligible = [j for j in judged if j.within_limit]
    if not eligible:
        return None
    if policy.counts == "best":
        graded = [j for j in eligible if j.score is not None]
        return max(graded, key=lambda j: (j.score or 0.0, -eligible.index(j))) if graded else None
    if policy.counts == "last_before_deadline":
        on_time = [j for j in eligible if not j.late]
        return (on_time or eligible)[-1]
    return eligible[-1]
