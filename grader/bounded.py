"""Work on hostile input (a notebook to parse or render) in a forked child with a deadline, a CPU limit and a
memory limit, so that a file built to stall or exhaust a parser costs at most its deadline and never the grader's
memory. The child answers in bytes (JSON, never pickle) that the caller checks; it never returns into the caller."""

from __future__ import annotations

import contextlib
import math
import os
import resource
import selectors
import signal
import struct
import time
from collections.abc import Callable

#: The exit status of a child whose work ended past its deadline: it does not answer, so whether an answer counts
#: never depends on when the caller comes for it (a batch may come late, busy with another notebook's views).
LATE = 124  # as timeout(1) exits
#: How long past the deadline the caller waits for an answer finished within it to arrive (and between its parts).
GRACE = 1.0
_DEADLINE = struct.Struct("d")  # an Ahead child's deadline, sent before its job: the same clock (CLOCK_MONOTONIC)


class AnswerTooLarge(Exception):
    """The child wrote more than the caller allows."""


def limit_self(seconds: float, memory_mb: int) -> None:
    """CPU time a second past the deadline; address space the current size plus ``memory_mb``."""
    cpu = math.ceil(seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    try:
        with open("/proc/self/statm") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return  # not Linux: the deadline still holds
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def run_bounded(work: Callable[[], bytes], seconds: float, memory_mb: int, max_bytes: int) -> tuple[bytes | None, int]:
    """(what ``work`` returned in the child, or None if the deadline passed first; the child's wait status).
    ``work`` handles its own errors; raises AnswerTooLarge past ``max_bytes``."""
    return start_bounded(work, seconds, memory_mb).finish(max_bytes)


def start_bounded(work: Callable[[], bytes], seconds: float, memory_mb: int) -> Running:
    """``run_bounded`` in two halves: the child is forked now, and the caller collects its answer when it is ready
    for it (``Running.finish``), doing its own work meanwhile."""
    read_end, write_end = os.pipe()
    deadline = time.monotonic() + seconds
    try:
        pid = os.fork()
    except OSError:  # the machine out of PIDs or memory: the caller says what it could not do
        os.close(read_end)
        os.close(write_end)
        raise
    if pid == 0:
        os.close(read_end)
        _child(work, write_end, seconds, memory_mb, deadline)
    os.close(write_end)
    return Running(pid, read_end, deadline)


class Running:
    """A bounded child at work: ``finish`` reads its answer until its deadline, then kills (if need be) and collects it."""

    def __init__(self, pid: int, answer_fd: int, deadline: float) -> None:
        self.pid, self._answer, self.deadline = pid, answer_fd, deadline

    def finish(self, max_bytes: int) -> tuple[bytes | None, int]:
        """As ``run_bounded``: the answer (None past the deadline) and the child's wait status."""
        try:
            raw = _read_until(self._answer, self.deadline, max_bytes)
        finally:
            os.close(self._answer)
            status = _reap(self.pid)
        late = os.WIFEXITED(status) and os.WEXITSTATUS(status) == LATE
        return (None if late else raw), status

    def cancel(self) -> None:
        """Its answer is not wanted: the child is stopped and collected."""
        os.close(self._answer)
        _reap(self.pid)


class Ahead:
    """A child forked before its work is known: it runs ``prepare`` (the caller's own set-up: imports, templates, and
    perhaps input read ahead, so under the memory and CPU limits already) while the caller goes on, then waits for
    one job (bytes from the caller, never from a submission) and answers ``serve(job)`` under the same deadline and
    limits as ``run_bounded``, the deadline counted from when the job is sent (the caller's wait for the answer
    ends there, whether or not ``prepare`` is done). A ``prepare`` that raises is left for ``serve`` to meet again
    (and answer for)."""

    def __init__(self, prepare: Callable[[], None], serve: Callable[[bytes], bytes], seconds: float, memory_mb: int) -> None:
        self.seconds = seconds
        job_read, self._job = os.pipe()
        self._answer, answer_write = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self._job)
            os.close(self._answer)
            _ahead(prepare, serve, job_read, answer_write, seconds, memory_mb)
        os.close(job_read)
        os.close(answer_write)

    def send(self, job: bytes) -> Running:
        """Hand the child its job (within the deadline, or it gets none): its answer is collected with ``finish``."""
        deadline = time.monotonic() + self.seconds
        try:
            sent = _write_until(self._job, _DEADLINE.pack(deadline) + job, deadline)
        finally:
            os.close(self._job)  # the end of the job: the child reads until here
        return Running(self.pid, self._answer, deadline if sent else time.monotonic())

    def cancel(self) -> None:
        """Never used: the child is stopped and collected."""
        os.close(self._job)
        os.close(self._answer)
        _reap(self.pid)


def _write_until(fd: int, data: bytes, deadline: float) -> bool:
    """Write all of ``data`` before the deadline (True), or give up (False): a child still preparing reads nothing,
    and a job larger than the pipe would otherwise block here without end."""
    os.set_blocking(fd, False)
    view = memoryview(data)
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_WRITE)
        while view:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                return False
            try:
                view = view[os.write(fd, view):]
            except BrokenPipeError:  # it died while preparing: its answer (none) says so
                break
    return True


def _ahead(prepare: Callable[[], None], serve: Callable[[bytes], bytes], job_fd: int, answer_fd: int, seconds: float,
           memory_mb: int) -> None:
    try:
        limit_self(seconds, memory_mb)  # ``prepare`` may read the submission ahead: as hostile as the job
        with contextlib.suppress(Exception):
            prepare()
        with os.fdopen(job_fd, "rb") as pipe:
            sent = pipe.read()
        if len(sent) > _DEADLINE.size:  # nothing sent: the caller went without
            (deadline,), job = _DEADLINE.unpack(sent[:_DEADLINE.size]), sent[_DEADLINE.size:]
            _child(lambda: serve(job), answer_fd, seconds, memory_mb, deadline)
    finally:
        os._exit(1)  # never back into the parent's code


def _child(work: Callable[[], bytes], fd: int, seconds: float, memory_mb: int, deadline: float) -> None:
    code = 1
    try:
        limit_self(seconds, memory_mb)
        view = memoryview(work())
        if time.monotonic() > deadline:
            code = LATE
            return
        while view:
            view = view[os.write(fd, view):]
        code = 0
    finally:
        os._exit(code)  # never back into the parent's code (a test runner, a batch loop)


def _read_until(fd: int, deadline: float, max_bytes: int) -> bytes | None:
    """All the child writes until it exits, or None if nothing came by GRACE past the deadline (or a part of it
    GRACE after the one before). The child itself answers only if its work ended by the deadline (``_child``)."""
    parts: list[bytes] = []
    size = 0
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            wait = GRACE if parts else deadline + GRACE - time.monotonic()
            if not selector.select(max(0.0, wait)):
                return None
            part = os.read(fd, 1 << 16)
            if not part:
                return b"".join(parts)
            size += len(part)
            if size > max_bytes:
                raise AnswerTooLarge
            parts.append(part)


def _reap(pid: int) -> int:
    """Kill the child if it still runs (past the deadline) and collect its exit status."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return os.waitpid(pid, 0)[1]
