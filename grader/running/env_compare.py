"""One batch graded in two environments: which functions change verdict, and the known mistake that explains it.

The NumPy 2 migration report an instructor wants: the same notebooks, the same checks, only the packages student
code runs with differ (the assignment's ``[environment]``, or the grader's own, against another specification).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.config import Assignment
from grader.model import GradeReport
from grader.running.batch import grade_paths
from grader.running.environments import EnvironmentSpec

GRADERS_OWN = "grader"  # the specification that names the grader's own environment


@dataclass(frozen=True)
class VerdictChange:
    submission: str
    function: str
    before: bool  # passed in the assignment's environment
    after: bool  # passed in the other one
    mistakes: tuple[str, ...]  # ids of the known mistakes seen where it fails
    hints: tuple[str, ...]  # "title: hint" of each


def parse_other(text: str) -> EnvironmentSpec | None:
    """``grader`` (the grader's own environment) or pinned requirements such as ``numpy==2.2.6``."""
    return None if text.strip() == GRADERS_OWN else EnvironmentSpec.from_text(text)


def label(spec: EnvironmentSpec | None) -> str:
    return str(spec) if spec is not None else "the grader's own environment"


def _known(report: GradeReport, function: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    seen = [m for m in report.mistakes if m.function == function]
    return tuple(m.id for m in seen), tuple(f"{m.title}: {m.hint}" for m in seen)


def changes(paths: Sequence[Path], first: Sequence[GradeReport], second: Sequence[GradeReport]) -> list[VerdictChange]:
    """Every function whose verdict differs between two gradings of the same notebooks."""
    found = []
    for path, one, two in zip(paths, first, second):
        after = {f.name: f.passed for f in two.functions}
        for function in one.functions:
            if function.name in after and function.passed != after[function.name]:
                failing = two if function.passed else one
                found.append(VerdictChange(str(path), function.name, function.passed, after[function.name],
                                           *_known(failing, function.name)))
    return found


def compare_environments(assignment: Assignment, paths: Sequence[Path], other: EnvironmentSpec | None, mode: str,
                         jobs: int = 1) -> list[VerdictChange]:
    """Grade ``paths`` in the assignment's environment and in ``other``; the verdicts that change."""
    first = list(grade_paths(assignment, paths, mode, jobs))
    second = list(grade_paths(dataclasses.replace(assignment, environment=other), paths, mode, jobs))
    return changes(paths, first, second)


def table(assignment: Assignment, other: EnvironmentSpec | None, found: list[VerdictChange], graded: int) -> str:
    """The changes as lines a person reads, hints indented below each."""
    lines = [f"{assignment.name}: {graded} notebook(s) graded in {label(assignment.environment)} and in {label(other)}"]
    if not found:
        return "\n".join([*lines, "no function changes verdict"])
    lines.append(f"{len(found)} verdict(s) change:")
    for change in found:
        verdict = f"{'passed' if change.before else 'failed'} -> {'passed' if change.after else 'failed'}"
        lines.append(f"  {change.submission}  {change.function}: {verdict}")
        lines += [f"      known mistake: {hint}" for hint in change.hints]
    return "\n".join(lines)
