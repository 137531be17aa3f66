"""The same grading on a Dask cluster, for when one machine is not enough (issue 11).

The client (``grader grade --cluster ADDRESS``) checks the reference, reads each submission as bytes (regular
files only, as locally) and sends it as a task; each Dask worker process hands it to a grading helper of its own,
a plain single-threaded process that runs exactly what a local job runs (``batch._start_job`` / ``_grade_one``: one
warm bubblewrap sandbox per assignment and suite version), and the report comes back as plain data. The helper
exists because the Dask worker is multi-threaded and the grading forks (bounded extraction, lent references).

The instructor files (the assignment's ``solutions/`` folder and ``course.key``) travel from the client once per
suite version inside a WorkerPlugin, which unpacks them into a private 0700 folder on each worker (and on workers
that join later). That folder is never bound into the sandbox: only the released helper files are, as locally.
A worker whose bubblewrap does not work refuses, so nothing is ever graded unsandboxed.

Dask moves pickles between client, scheduler and workers: every machine of the cluster is on the trusted side.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import CancelledError
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin

from grader import ONE_BLAS_THREAD
from grader.config import Assignment, files_below
from grader.errors import GraderError, NotebookError, UsageError
from grader.grading.seeds import KEY_FILE, key_path
from grader.model import GradeReport

LOCAL = "local"
#: Tasks in flight at once per worker thread: enough to keep every worker busy, few enough that a batch of
#: ten thousand notebooks does not sit in the scheduler's memory.
IN_FLIGHT_PER_THREAD = 4
MIN_IN_FLIGHT = 16
WAIT_FOR_WORKERS_SECONDS = 60.0
HELPER_START_SECONDS = 120.0  # a helper loads the suite and starts its sandbox (plus the reference check's cache)


class SandboxRefused(RuntimeError):
    """A Dask worker that cannot run student code in bubblewrap (or runs another grader) refuses to grade."""


@dataclasses.dataclass(frozen=True)
class CourseBundle:
    """The instructor files one assignment needs, as bytes: paths relative to the course's ``solutions/``."""

    name: str
    version: str  # reference_check.suite_version: the files, the course key and the grader's own code
    files: dict[str, bytes]


def course_bundle(assignment: Assignment) -> CourseBundle:
    """The assignment's instructor folder and the course key, read on the client (no shared file system). A link
    travels as the file it points to: the suite version hashes what the link reads, as local grading loads it, so a
    worker unpacking the same bytes finds the same version (leaving links out made every task refuse, blaming
    'another version of the grader')."""
    from grader.authoring.reference_check import suite_version

    files = {f"{assignment.name}/{path.relative_to(assignment.source_dir).as_posix()}": path.read_bytes()
             for path in files_below(assignment.source_dir)}
    if key_path(assignment).is_file():
        files[KEY_FILE] = key_path(assignment).read_bytes()
    return CourseBundle(assignment.name, suite_version(assignment), files)


# --- on each Dask worker process ------------------------------------------------------------------------------------

_folders: dict[str, Path] = {}  # suite version → private folder holding solutions/<name> and course.key
_helpers: dict[tuple[str, str, int], _Helper] = {}  # (suite version, suite, Dask thread) → its grading helper
_lock = threading.Lock()


def unpack(bundle: CourseBundle) -> Path:
    """Write the bundle into a fresh 0700 folder (mkdtemp) and return its ``solutions/`` folder."""
    root = Path(tempfile.mkdtemp(prefix="grader-course-"))
    solutions = root / "solutions"
    for relative, data in bundle.files.items():
        target = (solutions / relative).resolve()
        if not target.is_relative_to(solutions.resolve()):
            raise ValueError(f"a course file outside the course folder: {relative!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return solutions


class CoursePlugin(WorkerPlugin):
    """Unpacks one suite version's instructor files on a worker; registered once per version (idempotent)."""

    idempotent = True

    def __init__(self, bundle: CourseBundle) -> None:
        self.bundle = bundle

    def setup(self, worker: Any) -> None:
        with _lock:
            if self.bundle.version not in _folders:
                _folders[self.bundle.version] = unpack(self.bundle)

    def teardown(self, worker: Any) -> None:
        with _lock:
            helpers = [key for key in _helpers if key[0] == self.bundle.version]
            for key in helpers:
                _helpers.pop(key).close()
            folder = _folders.pop(self.bundle.version, None)
        if folder is not None:
            shutil.rmtree(folder.parent, ignore_errors=True)


class _Helper:
    """A grading helper process (``python -m grader.running.cluster``) and the two pipes to it."""

    def __init__(self, solutions: Path, name: str, version: str, suite: str) -> None:
        to_helper, self._requests_fd = os.pipe()
        self._answers_fd, from_helper = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "grader.running.cluster", str(solutions / name), version, suite,
             str(to_helper), str(from_helper)],
            stdin=subprocess.DEVNULL, stdout=sys.stderr.fileno() if _has_fileno(sys.stderr) else subprocess.DEVNULL,
            pass_fds=(to_helper, from_helper), start_new_session=True, env={**ONE_BLAS_THREAD, **os.environ})
        os.close(to_helper)
        os.close(from_helper)
        self.requests = Connection(self._requests_fd, readable=False)
        self.answers = Connection(self._answers_fd, writable=False)
        try:
            if not self.answers.poll(HELPER_START_SECONDS):
                raise EOFError
            kind, message = self.answers.recv()
        except (EOFError, OSError):
            self.close()
            raise RuntimeError(f"the grading helper did not start within {HELPER_START_SECONDS:g} s (its error is in "
                               "this Dask worker's log)") from None
        if kind != "ready":
            self.close()
            raise SandboxRefused(message)

    def grade(self, file_name: str, data: bytes) -> dict[str, Any]:
        self.requests.send((file_name, data))
        return dict(self.answers.recv())  # EOFError if the helper died: the task fails, the client reports it

    def close(self) -> None:
        for connection in (self.requests, self.answers):
            with contextlib.suppress(OSError):
                connection.close()
        try:
            self.process.wait(timeout=10)  # it ends at the end of its requests, closing its sandbox
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _helper_for(name: str, version: str, suite: str) -> _Helper:
    key = (version, suite, threading.get_ident())
    with _lock:
        helper = _helpers.get(key)
        folder = _folders.get(version)
    if helper is not None and helper.process.poll() is None:
        return helper
    if folder is None:
        raise RuntimeError(f"this worker has no instructor files for suite version {version[:12]} (its course plugin "
                           "did not run)")
    with _lock:  # a thread grades one suite version at a time: the sandbox of an older one is not kept
        older = [k for k in _helpers if k[2] == key[2]]
        stale = [_helpers.pop(k) for k in older]
    for old in stale:
        old.close()
    helper = _Helper(folder, name, version, suite)
    with _lock:
        _helpers[key] = helper
    return helper


def grade_task(name: str, version: str, suite: str, file_name: str, data: bytes) -> dict[str, Any]:
    """The Dask task: one submission's bytes in, its ``GradeReport.to_dict()`` out."""
    helper = _helper_for(name, version, suite)
    try:
        return helper.grade(file_name, data)
    except (EOFError, OSError):
        with _lock:
            _helpers.pop((version, suite, threading.get_ident()), None)
        helper.close()
        raise


def serve(source_dir: Path, version: str, suite: str, requests: Connection, answers: Connection) -> None:
    """The helper's life: refuse without bubblewrap or with another grader; else grade each request in turn."""
    from grader.authoring.reference_check import suite_version
    from grader.config import load_assignment
    from grader.grading.sandbox import resolve_mode
    from grader.running import batch

    try:
        if resolve_mode("auto") != "bwrap":
            raise UsageError("bubblewrap (bwrap) is not installed or cannot create namespaces on this worker, and student "
                             "code never runs without it: install it (apt-get install bubblewrap) or take this worker "
                             "out of the cluster")
        assignment = load_assignment(source_dir)
        here = suite_version(assignment)
        if here != version:
            raise UsageError(f"this worker runs another version of the grader than the client (suite version {here[:12]} "
                             f"here, {version[:12]} there): install the same sandgrade on every machine of the cluster")
        batch._start_job(assignment, "bwrap", suite)
    except GraderError as error:
        answers.send(("refused", f"Dask worker on {os.uname().nodename} refuses to grade: {error}"))
        return
    answers.send(("ready", ""))
    workdir = Path(tempfile.mkdtemp(prefix="grader-submission-"))
    try:
        while True:
            try:
                file_name, data = requests.recv()
            except EOFError:  # the Dask worker closed us or died
                return
            path = workdir / _safe_name(file_name)
            path.write_bytes(data)
            try:
                answers.send(batch._grade_one(path).to_dict())
            finally:
                path.unlink(missing_ok=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _safe_name(file_name: str) -> str:
    name = os.path.basename(file_name.replace("\0", ""))
    return name if name not in ("", ".", "..") else "submission.ipynb"


# --- on the client --------------------------------------------------------------------------------------------------


def connect(address: str, jobs: int) -> tuple[Any, Any]:
    """(client, LocalCluster or None). ``local`` starts a LocalCluster of ``jobs`` single-threaded workers."""
    from distributed import Client, LocalCluster

    # The client's own Dask logs are tracebacks of what the messages here say in a line (a lost scheduler, a refusal);
    # the scheduler's and workers' logs and dashboard keep the details.
    for name in ["distributed", *(n for n in logging.root.manager.loggerDict if n.startswith("distributed."))]:
        logging.getLogger(name).setLevel(logging.CRITICAL)  # Dask's configuration gives some their own level
    cluster = None
    try:
        if address == LOCAL:
            cluster = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.CRITICAL)
            return Client(cluster), cluster
        return Client(address), None
    except (OSError, ValueError, TypeError) as error:  # Dask's connect timeout is an OSError
        if cluster is not None:
            cluster.close()
        raise GraderError(f"cannot reach the Dask scheduler at {address}: {error} (is `dask scheduler` running there, "
                          "and are its TLS settings the same as yours?)") from None


def _unreadable(path: Path, assignment: Assignment, suite: Any, error: NotebookError, started: float) -> GradeReport:
    """What a local job reports for a file that cannot be read (no student code involved, so no task)."""
    from grader.grading.grade import UNREADABLE_ADVICE, not_graded
    from grader.running.environments import describe

    report = not_graded(path, assignment, suite, f"This file could not be read as a notebook: {error}. {UNREADABLE_ADVICE}",
                        started)
    return dataclasses.replace(report, extra={**report.extra, "environment": describe(None)})


def _outcome(future: Any, path: Path, assignment: Assignment, suite: Any, started: float) -> GradeReport:
    """The report of a finished task: the worker's, a crash after too many lost workers, or the grader's failure."""
    from distributed.scheduler import KilledWorker

    from grader.grading.grade import GRADER_ERROR, not_graded

    try:
        error = future.exception()
        if error is None:
            return dataclasses.replace(GradeReport.from_dict(future.result()), submission=str(path))
    except CancelledError as cancelled:  # the client lost the scheduler: nothing more will come
        raise GraderError(f"the grading on the Dask cluster stopped ({str(cancelled).splitlines()[0]}); the reports "
                          "written so far stand: grade the others again") from None
    if isinstance(error, SandboxRefused):
        raise GraderError(f"{error}; nothing was graded without a sandbox (the reports written so far stand)")
    if isinstance(error, KilledWorker):
        problem = ("Grading this notebook stopped the grading machine every time it was tried, so it was given up; "
                   "please tell the course staff.")
        return not_graded(path, assignment, suite, problem, started, outcome="crash")
    problem = f"The grader failed on this submission ({type(error).__name__}: {error}); please tell the course staff."
    return not_graded(path, assignment, suite, problem, started, outcome=GRADER_ERROR)


def grade_on_cluster(assignment: Assignment, paths: Sequence[Path], address: str, jobs: int = 1,
                     suite: str = "all") -> Iterator[tuple[int, GradeReport]]:
    """(index in ``paths``, report) as each task finishes, like ``batch.grade_stream``; a bounded window of tasks
    is in flight. The caller has checked the reference already."""
    from distributed import as_completed

    from grader.grading.suite import load_suite
    from grader.notebooks import MAX_NOTEBOOK_BYTES, read_regular_file

    if not paths:  # nothing new to grade (a course resumed): no cluster to reach or start
        return
    loaded = load_suite(assignment, suite)  # a broken suite or a missing key fails here, before anything is sent
    bundle = course_bundle(assignment)
    client, cluster = connect(address, jobs)
    try:
        client.register_plugin(CoursePlugin(bundle), name=f"grader-course-{bundle.version[:20]}")
        try:
            client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_SECONDS)
        except TimeoutError:
            raise GraderError(f"the Dask scheduler at {address} has no worker (waited {WAIT_FOR_WORKERS_SECONDS:g} s): "
                              "start `dask worker` processes on machines with bubblewrap") from None
        threads = sum(client.nthreads().values())
        window = max(MIN_IN_FLIGHT, IN_FLIGHT_PER_THREAD * threads)
        pending = as_completed()
        waiting: dict[str, tuple[int, float]] = {}
        queue = iter(enumerate(paths))

        def send_next() -> Iterator[tuple[int, GradeReport]]:
            """Submit the next readable submission; yield the report of each unreadable one met on the way."""
            for index, path in queue:
                started = time.perf_counter()
                try:
                    data = read_regular_file(Path(path), MAX_NOTEBOOK_BYTES)
                except NotebookError as error:
                    yield index, _unreadable(Path(path), assignment, loaded, error, started)
                    continue
                future = client.submit(grade_task, assignment.name, bundle.version, suite, os.fsdecode(Path(path).name),
                                       data, pure=False, key=f"grade-{index}-{os.urandom(6).hex()}")
                waiting[future.key] = (index, started)
                pending.add(future)
                return

        for _ in range(window):
            yield from send_next()
        for future in pending:
            index, started = waiting.pop(future.key)
            report = _outcome(future, Path(paths[index]), assignment, loaded, started)
            future.release()
            yield index, report
            yield from send_next()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _main(argv: list[str]) -> int:
    """The helper's entry point (started by a Dask worker, never by hand)."""
    source_dir, version, suite, requests_fd, answers_fd = argv
    for fd in (int(requests_fd), int(answers_fd)):
        os.set_inheritable(fd, False)  # never into the sandbox
    serve(Path(source_dir), version, suite, Connection(int(requests_fd), writable=False),
          Connection(int(answers_fd), readable=False))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
