"""The reference must pass its own checks before anything is graded or audited.

A broken reference or test would otherwise fail every student alike (or, in an audit, make every
mutant look killed). Each public test and hidden case is run on the reference functions themselves,
under a couple of seeds, once per version of the instructor's files: success is remembered in the
user's cache folder under a hash of everything that can change the outcome.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
from pathlib import Path
from typing import Any

from grader.checks import CheckFailed
from grader.config import Assignment, files_below, user_cache
from grader.errors import GraderError
from grader.grading.seeds import derive_seed, key_path
from grader.grading.suite import Suite, load_suite
from grader.running.environments import Environment

SEEDS = 2


def _instructor_digest(assignment: Assignment) -> Any:
    """A sha256 of the instructor's files and the course key (which picks the hidden inputs), by content."""
    digest = hashlib.sha256()
    for root, files in ((assignment.source_dir, files_below(assignment.source_dir)),
                        (key_path(assignment).parent, [key_path(assignment)])):
        for path in files:
            if path.is_file():
                digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest


def _grader_files() -> tuple[Path, list[Path]]:
    root = Path(__file__).resolve().parent.parent
    return root, sorted(root.rglob("*.py"))


def suite_version(assignment: Assignment) -> str:
    """A hash of the instructor's files and of the grader's own code, by content: the same on every machine that has
    the same files (a Dask worker checks its bundle against the client's with it)."""
    digest = _instructor_digest(assignment)
    root, files = _grader_files()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return str(digest.hexdigest())


def _cache_marker(assignment: Assignment) -> Path:
    """The mark of a reference that passed its checks, on this machine: named by the instructor's files' content and
    the grader's files' size and modification time, as grader/kept.py names what it keeps (an edit or an upgrade
    changes them; reading and hashing the grader's 600 KB of source took ~5 ms of every grade)."""
    digest = _instructor_digest(assignment)
    root, files = _grader_files()
    for path in files:
        status = path.stat()
        digest.update(f"{path.relative_to(root).as_posix()}:{status.st_size}:{status.st_mtime_ns}\0".encode())
    return user_cache("reference-checked", f"{assignment.name}-{digest.hexdigest()}")


def reference_failures(assignment: Assignment, suite: Suite) -> list[str]:
    """Every check the reference fails, as "function: check: why"."""
    if suite.reference is None:
        return []
    variants = [suite]
    if suite.build_hidden is not None:
        seeds = [derive_seed(suite.key, assignment, f"reference check #{index}") for index in range(SEEDS)]
        variants = [Suite(suite.public, suite.build_hidden(seed), suite.reference, suite.mistakes, suite.depends)
                    for seed in seeds]
    failures: list[str] = []
    for variant in variants:
        for function in assignment.functions:
            target = getattr(suite.reference, function.name)
            for name, _, params, run in variant.checks_for(function.name):
                try:
                    with contextlib.redirect_stdout(io.StringIO()):
                        run(target)
                except CheckFailed as failed:
                    failures.append(f"{function.name}: {name} ({params or 'public'}): {failed.kind}: {failed.message}")
                except Exception as error:
                    failures.append(f"{function.name}: {name} ({params or 'public'}): {type(error).__name__}: {error}")
    return list(dict.fromkeys(failures))


def verify_reference(assignment: Assignment) -> None:
    """Raise GraderError when the reference fails any of its public or hidden checks (cached per suite version)."""
    if not assignment.instructor:
        return
    marker = _cache_marker(assignment)
    if marker.exists():
        return
    failures = reference_failures(assignment, load_suite(assignment))
    if failures:
        shown = "\n  ".join(failures[:10]) + (f"\n  ... and {len(failures) - 10} more" if len(failures) > 10 else "")
        raise GraderError(f"the reference of {assignment.name} fails its own checks, so nothing was graded; fix the "
                          f"master notebook or the tests first:\n  {shown}")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()


def verify_reference_in(assignment: Assignment, environment: Environment, mode: str) -> None:
    """Raise GraderError unless the master notebook, graded as a submission in ``environment``, passes every check.

    Expected values and lent references are computed by the grader's own NumPy; this shows the reference gives
    the same answers under the environment's, as the students' code runs. A worker of its own runs it and is
    stopped afterwards, so the master's code never reaches a sandbox that grades students. Cached per suite
    version and environment."""
    from grader.grading.grade import grade_submission
    from grader.grading.sandbox import Worker

    marker = _cache_marker(assignment)  # one hash of every instructor and grader file, not two
    marker = marker.with_name(f"{marker.name}-{environment.path.name}")
    if not assignment.instructor or marker.exists():
        return
    worker = Worker(mode, assignment.limits, assignment.course_files, environment)
    try:
        report = grade_submission(assignment.master_notebook, dataclasses.replace(assignment, isolate=False),
                                  load_suite(assignment), worker)
    finally:
        worker.close()
    failures = [f"{c.function}: {c.name} ({c.params or 'public'}): {c.outcome}: {c.message.splitlines()[-1] if c.message else ''}"
                for c in report.checks if not c.passed]
    if report.error or failures:
        shown = "\n  ".join(([report.error] if report.error else []) + list(dict.fromkeys(failures))[:10])
        raise GraderError(f"the reference of {assignment.name} fails its own checks in the environment "
                          f"{environment.spec}, so nothing was graded; make the master notebook run the same "
                          f"under that NumPy and the grader's:\n  {shown}")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
