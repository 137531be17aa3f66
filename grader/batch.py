"""Many submissions: one sandboxed worker per job, reports written by this (trusted) process only."""

from __future__ import annotations

import atexit
import hashlib
import multiprocessing
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

from grader.config import Assignment
from grader.grade import grade_submission, not_graded
from grader.gradebook import write_gradebook
from grader.junit import junit_xml
from grader.model import GradeReport
from grader.report import fmt, write_atomic, write_reports
from grader.sandbox import Worker
from grader.suite import Suite, load_suite
from grader.summary import write_summary

_job: tuple[Assignment, Suite, Worker] | None = None


def output_names(paths: Sequence[Path]) -> list[str]:
    """A folder name per submission: its stem, made unique with a hash of its path when stems collide."""
    stems = Counter(Path(p).stem for p in paths)
    names = []
    for path in paths:
        stem = Path(path).stem
        digest = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:8]
        names.append(stem if stems[stem] == 1 else f"{stem}-{digest}")
    return names


def _start_job(assignment: Assignment, mode: str, suite: str = "all") -> None:
    global _job
    worker = Worker(mode, assignment.limits)
    worker.start()
    atexit.register(worker.stop)
    _job = (assignment, load_suite(assignment, suite), worker)


def _grade_one(path: Path) -> GradeReport:
    """Grade one submission; a failure of the grader itself costs this submission, never the batch."""
    assert _job is not None
    assignment, suite, worker = _job
    started = time.perf_counter()
    try:
        return grade_submission(path, assignment, suite, worker)
    except Exception as error:  # a bug of ours must still leave a results file that says so
        worker.stop()
        problem = f"The grader failed on this submission ({type(error).__name__}: {error}); please tell the course staff."
        return not_graded(path, assignment, suite, problem, started)


def grade_paths(assignment: Assignment, paths: Sequence[Path], mode: str, jobs: int = 1,
                suite: str = "all") -> Iterator[GradeReport]:
    """Reports in the order of ``paths``; with jobs > 1 each job is a process with its own sandbox."""
    if jobs <= 1 or len(paths) <= 1:
        _start_job(assignment, mode, suite)
        try:
            yield from map(_grade_one, paths)
        finally:
            assert _job is not None
            _job[2].stop()
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_start_job,
                             initargs=(assignment, mode, suite)) as pool:
        yield from pool.map(_grade_one, paths)


def summary_line(name: str, report: GradeReport) -> str:
    passed = sum(f.passed for f in report.functions)
    problem = f"  ({report.error})" if report.error else ""
    return f"{name}: {fmt(report.score)}/{fmt(report.max_score)}, {passed}/{len(report.functions)} functions passed{problem}"


def grade_all(assignment: Assignment, paths: Sequence[Path], out_dir: Path, mode: str, jobs: int = 1,
              junit: Path | None = None, progress: bool = True) -> list[tuple[str, GradeReport]]:
    """Grade, write every report as soon as it is ready, then the gradebook and summary page (and JUnit if asked)."""
    names = output_names(paths)
    named = []
    bar = tqdm(total=len(paths), unit="notebook", disable=None if progress else True, leave=False)
    for name, report in zip(names, grade_paths(assignment, paths, mode, jobs)):
        write_reports(report, out_dir / name, name)
        named.append((name, report))
        bar.update()
        tqdm.write(summary_line(name, report))
    bar.close()
    write_gradebook(named, out_dir)
    write_summary(named, out_dir)
    if junit:
        write_atomic(junit, junit_xml(named))
    return named

