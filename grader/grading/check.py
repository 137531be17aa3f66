"""``grader check``'s text: the public tests' results as a student reads them.

The student has no reference, so a function is tested with the student's own versions of the graded
functions it calls: a wrong ``zero_pad`` can make ``conv_forward``'s test fail too. Grading isolates it,
this check cannot; so it names the function to fix first instead, found from the student's own code
(the traceback runs through the other function, or the function calls it), and it prints no score:
grading, with hidden tests and isolation, would give another one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from grader.config import Assignment
from grader.model import Chunk, GradeReport
from grader.reporting.report import label

_FRAME = re.compile(r'line \d+, in (\w+)')
INDENT = "     "


def _calls(chunks: Sequence[Chunk], graded: list[str]) -> dict[str, tuple[str, ...]]:
    """Graded function → the graded functions the student's own code of it calls (through helpers too)."""
    from grader.grading.suite import reference_depends

    try:
        return reference_depends(tuple(chunks), graded)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # code extraction kept but we cannot re-read
        return {}


def upstream(report: GradeReport, chunks: Sequence[Chunk]) -> dict[str, str]:
    """Failed function → one line naming the other failed function to fix first, where its failure may come from."""
    failed = [f.name for f in report.functions if not f.passed and f.checks]
    graph = _calls(chunks, [f.name for f in report.functions])
    found = {}
    for function in failed:
        messages = [c.message for c in report.checks if c.function == function and not c.passed]
        inside = [name for message in messages for name in _FRAME.findall(message) if name in failed and name != function]
        called = [name for name in graph.get(function, ()) if name in failed and name not in inside[-1:]]
        parts = []
        if inside:
            parts.append(f"{function} failed inside {inside[-1]}, which fails its own test: fix {inside[-1]} first.")
        if called:
            names = " and ".join(called)
            one = len(called) == 1
            parts.append(f"{function} {'also ' if inside else ''}calls {names}, which fail{'s' * one} "
                         f"{'its' if one else 'their'} own test: fix {names} first; this failure may come from "
                         f"{'it' if one else 'them'} (grading tests {function} with a correct {names}).")
        if parts:
            found[function] = " ".join(parts)
    return found


def _indented(text: str) -> str:
    return INDENT + text.replace("\n", "\n" + INDENT)


def check_text(report: GradeReport, chunks: Sequence[Chunk]) -> str:
    """What ``grader check`` prints: one block per public test, then a count and no score."""
    lines = [report.error] if report.error else []
    lines += [f"note: {note}" for note in report.notes]
    first = upstream(report, chunks)
    for check in report.checks:
        if check.passed:
            lines.append(f"PASS {check.name}")
            continue
        lines.append(f"FAIL {check.name}: {label(check)}")
        if check.function in first:
            lines.append(_indented(first[check.function]))
        if check.called:
            lines.append(_indented(f"Called {check.called}"))
        if check.message:
            lines.append(_indented(check.message))
        for mistake in report.mistakes:
            if mistake.function == check.function and mistake.check == check.name:
                lines.append(_indented(f"This looks like a known mistake: {mistake.title}. {mistake.hint}"))
    passed = sum(c.passed for c in report.checks)
    lines.append(f"public tests: {passed}/{len(report.checks)} passed. No score here: grading adds hidden tests and "
                 "tests each function on its own, so only the graded feedback gives your score.")
    return "\n".join(lines)


def student_chunks(path: Path, assignment: Assignment) -> tuple[Chunk, ...]:
    """The notebook's code as grading reads it (empty when it cannot be read: the report already says why)."""
    from grader.errors import NotebookError
    from grader.grading.extract import allowed_chunks, extract_bounded

    try:
        return allowed_chunks(extract_bounded(path, assignment.graded), assignment).chunks
    except NotebookError:
        return ()
