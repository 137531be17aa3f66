"""Many submissions: one sandboxed worker per job, reports written by this (trusted) process only."""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import gc
import hashlib
import itertools
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from grader.authoring.reference_check import verify_reference, verify_reference_in
from grader.config import Assignment
from grader.errors import UsageError
from grader.grading.extract import extract_ahead
from grader.grading.grade import GRADER_ERROR, grade_submission, not_graded
from grader.grading.sandbox import Worker, take_started
from grader.grading.suite import Suite, load_suite, split_kind
from grader.model import GradeReport, Submission, places_of
from grader.reporting.report import fmt, unwritten_results, write_atomic, write_reports
from grader.running.environments import describe, prepare
from grader.text import clean_line

_job: tuple[Assignment, Suite, Worker] | None = None

NAME_LIMIT = 80  # characters of a file's stem kept in its folder name (a folder name has at most 255 bytes)
RESERVED = frozenset({"grades.csv", "grades.sqlite", "summary.html"})  # the batch's own files beside the folders


def _readable_stem(path: Path) -> str:
    """The file's stem as one clean line that is safe as a folder name (U+FFFD for bytes that are not UTF-8)."""
    stem = clean_line(Path(path).stem[:NAME_LIMIT], NAME_LIMIT).replace("\\", "_").lstrip(". ")
    return stem or "submission"


def _digest(path: Path) -> str:
    return hashlib.sha256(os.fsencode(Path(path).resolve())).hexdigest()[:8]


#: What ``output_names`` adds to a stem: a stem shaped like that is never taken as it is.
_HASHED = re.compile(r".*-[0-9a-f]{8}")


def output_names(paths: Sequence[Path]) -> list[str]:
    """A folder name per submission, unique in the batch (letter case aside) whatever the file names: its stem,
    cleaned; a hash of its path is added when stems collide, cleaning changed the stem (so two names that differ only
    in bytes that are not UTF-8 still get two folders) or the stem looks hashed already (``x-0314b27e.ipynb`` took
    the folder and gradebook row of another ``x.ipynb``); a count, should two names still meet."""
    stems = [_readable_stem(p) for p in paths]
    counts = Counter(stem.casefold() for stem in stems)
    names, seen = [], set()
    for path, stem in zip(paths, stems):
        plain = stem == Path(path).stem and counts[stem.casefold()] == 1 and stem.casefold() not in RESERVED and not _HASHED.fullmatch(stem)
        name = unique = stem if plain else f"{stem}-{_digest(path)}"
        for count in itertools.count(2):
            if unique.casefold() not in seen:
                break
            unique = f"{name}-{count}"
        seen.add(unique.casefold())
        names.append(unique)
    return names


def _start_job(assignment: Assignment, mode: str, suite: str = "all") -> None:
    global _job
    environment = prepare(assignment.environment)
    worker = take_started(mode, assignment.limits, assignment.course_files, environment)  # cli.py may have started it
    if worker is None:
        worker = Worker(mode, assignment.limits, assignment.course_files, environment)
        worker.start()  # the sandbox starts while the suite loads
    atexit.register(worker.close)
    loaded = load_suite(assignment, suite)
    worker.use_reference(loaded.reference)
    _job = (assignment, loaded, worker)
    collect_from_here()


def collect_from_here() -> None:
    """Turn the garbage collector back on if the command started without it (``grader grade`` and ``check``: imports
    and the suite make objects that live as long as the command, and each collection would scan them all again,
    ~10 ms of a grade), first freezing what start-up made: collections skip it, and children forked from here (the
    views' writer, the reference's runner, a pool's jobs) never copy its pages by scanning it."""
    if not gc.isenabled():
        gc.freeze()
        gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])
        gc.enable()


#: Objects that may be allocated (and not yet freed) between two young collections: a grade allocates thousands of
#: short-lived containers (frames, answers, check results), and Python's default of 700 made a dozen collections of
#: them in one grade, each older one scanning again what the grade keeps.
YOUNG_OBJECTS = 10_000


def _refuse_on_cluster(assignment: Assignment, mode: str) -> None:
    """What a cluster cannot do (yet): grade unsandboxed, or in a pinned environment built on each worker."""
    if mode != "bwrap":
        raise UsageError("--cluster grades only in bubblewrap on each Dask worker: --sandbox none cannot be used with it")
    if assignment.environment is not None:
        raise UsageError(f"{assignment.name} pins an [environment]; grading it on a Dask cluster is not supported yet: "
                         "grade it on one machine (without --cluster)")


def _grade_one(path: Path, meanwhile: Callable[[Submission], None] | None = None) -> GradeReport:
    """Grade one submission; a failure of the grader itself costs this submission, never the batch."""
    assert _job is not None
    assignment, suite, worker = _job
    started = time.perf_counter()
    try:
        report = grade_submission(path, assignment, suite, worker, meanwhile)
    except Exception as error:  # a bug of ours must still leave a results file that says so
        worker.stop()
        problem = f"The grader failed on this submission ({type(error).__name__}: {error}); please tell the course staff."
        report = not_graded(path, assignment, suite, problem, started, outcome=GRADER_ERROR)
    return dataclasses.replace(report, extra={**report.extra, "environment": describe(worker.environment)})


def grade_stream(assignment: Assignment, paths: Sequence[Path], mode: str, jobs: int = 1,
                 suite: str = "all", cluster: str | None = None,
                 meanwhile: Callable[[Submission], None] | None = None) -> Iterator[tuple[int, GradeReport]]:
    """(index in ``paths``, report) as each grading finishes, so a caller can record it at once; with jobs > 1
    each job is a process with its own sandbox; with ``cluster`` (a Dask scheduler's address, or ``local``) each
    Dask worker grades in bubblewrap. Nothing is graded with a reference that fails its own checks. ``meanwhile``:
    work of the caller's, done here while the first submission's definitions load in one job's sandbox."""
    if cluster:
        _refuse_on_cluster(assignment, mode)
    environment = prepare(assignment.environment)  # built here, once, before any job needs it
    if split_kind(suite)[0] == "all":
        verify_reference(assignment)
        if environment is not None:
            verify_reference_in(assignment, environment, mode)
    if cluster:
        from grader.running.cluster import grade_on_cluster  # Dask is an optional extra, loaded only for a cluster

        collect_from_here()
        yield from grade_on_cluster(assignment, paths, cluster, jobs, suite)
        return
    if jobs <= 1 or len(paths) <= 1:
        _start_job(assignment, mode, suite)
        try:
            for index, path in enumerate(paths):
                if index + 1 < len(paths):
                    extract_ahead(paths[index + 1], assignment.graded)  # parsed on the other core while this one is graded
                yield index, _grade_one(path, meanwhile if index == 0 else None)
        finally:
            assert _job is not None
            _job[2].close()
        return
    load_suite(assignment, suite)  # a broken suite or a missing course key fails here, clearly, not in every job
    collect_from_here()
    import multiprocessing  # here: one job (grader check, one notebook) needs no process pool (~0.01 s of imports)
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_start_job,
                             initargs=(assignment, mode, suite)) as pool:
        futures = {pool.submit(_grade_one, path): index for index, path in enumerate(paths)}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:  # a caller that stops early (an error, Ctrl-C) must not wait for the rest to be graded
            for future in futures:
                future.cancel()


def grade_paths(assignment: Assignment, paths: Sequence[Path], mode: str, jobs: int = 1,
                suite: str = "all") -> Iterator[GradeReport]:
    """Reports in the order of ``paths`` (see grade_stream)."""
    waiting: dict[int, GradeReport] = {}
    next_index = 0
    for index, report in grade_stream(assignment, paths, mode, jobs, suite):
        waiting[index] = report
        while next_index in waiting:
            yield waiting.pop(next_index)
            next_index += 1


def summary_line(name: str, report: GradeReport) -> str:
    """One clean line for the log, whatever the name and error hold."""
    passed = sum(f.passed for f in report.functions)
    problem = f"  ({report.error})" if report.error else ""
    return clean_line(f"{name}: {fmt(report.score)}/{fmt(report.max_score)}, {passed}/{len(report.functions)} functions "
                      f"passed{problem}", 500)


def write_or_explain(report: GradeReport, folder: Path, name: str, annotated: bool = False) -> str:
    """Write a submission's reports; if that fails, leave a minimal results.json saying so. Returns the problem."""
    try:
        write_reports(report, folder, name, annotated)
        return ""
    except Exception as error:  # one submission's reports must never stop the batch
        problem = (f"The feedback for this submission could not be written ({type(error).__name__}: {error}); its score "
                   "stands; please tell the course staff.")
    try:
        write_atomic(folder / "results.json", json.dumps(unwritten_results(report, problem), indent=2) + "\n")
    except Exception as error:
        problem += f" Not even a short results.json could be written ({type(error).__name__}: {error})."
    return problem


def start_submission_reports(report: GradeReport, path: Path, folder: Path, name: str, annotate: bool,
                             release: Path | None = None) -> Callable[[], list[str]]:
    """Every report of one submission. The annotated views (feedback.ipynb, feedback-notebook.html, if asked) are
    written by a forked child while this process writes the others, which assume the views will be there; the
    function returned waits for the child (the caller may grade the next submission first), writes the others again
    without the views if they could not be written, and returns what went wrong, as lines for the batch's output.
    ``release``: the assignment's student notebook, whose cells are rendered once for the whole batch."""
    from grader.reporting.annotate import remove_annotated, start_annotated_bounded  # only when asked: slow to load

    if not annotate:
        remove_annotated(folder)
        problem = write_or_explain(report, folder, name)
        return lambda: [problem] if problem else []
    views = start_annotated_bounded(report, path, folder, release=release)
    problem = write_or_explain(report, folder, name, annotated=True)

    def finish() -> list[str]:
        annotated, why = views()
        again = "" if annotated else write_or_explain(report, folder, name, annotated=False)
        not_annotated = f"the annotated notebook could not be written ({why}); the other reports stand." if why else ""
        return [trouble for trouble in (not_annotated, again if not annotated else problem) if trouble]

    return finish


def write_submission_reports(report: GradeReport, path: Path, folder: Path, name: str, annotate: bool,
                             release: Path | None = None) -> list[str]:
    """``start_submission_reports``, waited for."""
    return start_submission_reports(report, path, folder, name, annotate, release)()


class _NoBar:
    """Where no bar is shown (one notebook, or no terminal) the lines are printed as they are and tqdm, ~0.02 s of
    start-up, is never imported."""

    def update(self) -> None:
        pass

    def close(self) -> None:
        pass

    write = staticmethod(print)


def _progress(total: int, progress: bool) -> Any:
    if not (progress and total > 1 and sys.stderr.isatty()):
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="notebook", leave=False)


def _reports_ahead(release: Path | None, path: Path, freeze: bool, submission: Submission) -> None:
    """While the sandbox loads the first notebook (at ``path``, extracted as ``submission``): Jinja and the feedback
    page's template, then the views' writer (for the ``release`` notebook: None when there are no views), forked with
    Jinja in it and told where the feedback goes; all it loaded frozen if ``freeze`` (a command managing its collector,
    never a caller's own process)."""
    from grader.reporting.report import warm_up

    with contextlib.suppress(Exception):  # met again, and reported, when the reports are written
        warm_up()
        if release is not None:
            from grader.reporting.annotate import annotate_ahead

            annotate_ahead(release, path, places_of(submission))
    if freeze:  # what the warm-up loaded (Jinja, the templates) lives as long as the command: collections skip it
        gc.freeze()


def grade_all(assignment: Assignment, paths: Sequence[Path], out_dir: Path, mode: str, jobs: int = 1,
              junit: Path | None = None, progress: bool = True, annotate: bool = True,
              cluster: str | None = None) -> list[tuple[str, GradeReport]]:
    """Grade (here, or on the Dask ``cluster``), write every report as soon as it is ready (with the annotated
    notebook unless ``annotate`` is False), then the gradebook and summary page (and JUnit if asked)."""
    names = output_names(paths)
    reports: dict[int, GradeReport] = {}
    bar = _progress(len(paths), progress)
    writing: list[tuple[str, Callable[[], list[str]]]] = []  # the last submission's views, written while the next is graded

    def settle() -> None:
        while writing:
            name, finish = writing.pop()
            for trouble in finish():
                bar.write(clean_line(f"{name}: {trouble}", 500))

    release = assignment.student_notebook if annotate else None
    command = not gc.isenabled()  # a command that started without the collector manages it (collect_from_here)
    meanwhile = None if cluster or not paths else functools.partial(_reports_ahead, release, Path(paths[0]), command)
    try:
        for index, report in grade_stream(assignment, paths, mode, jobs, cluster=cluster, meanwhile=meanwhile):
            name = names[index]
            finish = start_submission_reports(report, Path(paths[index]), out_dir / name, name, annotate,
                                              assignment.student_notebook)
            reports[index] = report
            bar.update()
            bar.write(summary_line(name, report))
            settle()
            writing.append((name, finish))
        named = [(names[index], reports[index]) for index in sorted(reports)]
        # here, not at the top: grader check and the course's grading import this module and write none of these
        from grader.reporting.gradebook import write_gradebook
        from grader.reporting.summary import write_summary

        write_gradebook(named, out_dir)
        write_summary(named, out_dir)
        if junit:
            from grader.reporting.junit import junit_xml

            write_atomic(junit, junit_xml(named))
    finally:
        settle()
        bar.close()
    return named

