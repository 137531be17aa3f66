"""The reference runner (callbacks.py) and the channel under it: every way a call of the reference can end.

The runner is forked from this process, as it is from the grader's; the reference is a namespace of small
functions, so each test says what the reference did and what the sandbox would be told.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from grader.grading import wire
from grader.grading.callbacks import ReferenceRunner
from grader.grading.channel import Channel, ChannelClosed

REFERENCE = SimpleNamespace(
    double=lambda x: 2 * x,
    divide=lambda x: 1 / x,
    ones=lambda n: np.ones(n),
    wait=lambda seconds: time.sleep(seconds),
)


def arguments(*args: Any) -> tuple[Any, list[bytes]]:
    blobs: list[bytes] = []
    return wire.encode([list(args), {}], blobs), blobs


def call(runner: ReferenceRunner, function: str, *args: Any, seconds: float = 30.0) -> dict[str, Any]:
    data, blobs = arguments(*args)
    reply, reply_blobs = runner.call(function, data, blobs, time.monotonic() + seconds)
    if reply.get("op") == "callback-result":
        return {"value": wire.decode(reply["value"], reply_blobs)}
    return reply


@pytest.fixture
def runner() -> Iterator[ReferenceRunner]:
    runner = ReferenceRunner(REFERENCE, memory_mb=64)
    yield runner
    if runner.channel is not None:  # it ends on its own once nobody asks (and a measured runner saves its data)
        os.close(runner.channel.write_fd)
        os.waitid(os.P_PID, runner.pid, os.WEXITED | os.WNOWAIT)
    runner.stop()


def test_the_reference_answers_and_its_failures_are_named_briefly(runner: ReferenceRunner) -> None:
    assert call(runner, "double", np.arange(3)) == {"value": pytest.approx(np.array([0, 2, 4]))}
    pid = runner.pid
    assert call(runner, "divide", 0) == {"op": "callback-error", "message": "divide failed on these arguments: ZeroDivisionError"}
    assert call(runner, "ones", 10**8) == {"op": "callback-error", "message": "ones ran out of memory on these arguments"}
    assert call(runner, "double", 21) == {"value": 42}
    assert runner.pid == pid  # the reference's failures cost nothing but their own answer


def test_a_reference_past_the_deadline_is_killed_and_started_again(runner: ReferenceRunner) -> None:
    call(runner, "double", 1)
    first = runner.pid
    with pytest.raises(TimeoutError):
        call(runner, "wait", 60, seconds=0.2)
    assert runner.channel is None
    with pytest.raises(ChildProcessError):
        os.waitpid(first, os.WNOHANG)  # killed and reaped, not left behind
    assert call(runner, "double", 4) == {"value": 8}
    assert runner.pid != first


def test_a_runner_that_died_answers_could_not_run_and_is_replaced(runner: ReferenceRunner) -> None:
    call(runner, "double", 1)
    first = runner.pid
    os.kill(first, signal.SIGKILL)  # what its memory limit or a crash in NumPy does
    assert call(runner, "double", 2) == {"op": "callback-error", "message": "double could not run on these arguments"}
    assert runner.channel is None
    assert call(runner, "double", 3) == {"value": 6}
    assert runner.pid != first


def test_the_runner_ends_on_its_own_when_the_grader_stops_asking(runner: ReferenceRunner) -> None:
    call(runner, "double", 1)
    assert runner.channel is not None
    os.close(runner.channel.write_fd)  # the requests pipe: the runner reads its end
    ended = os.waitid(os.P_PID, runner.pid, os.WEXITED | os.WNOWAIT)
    assert (ended.si_code, ended.si_status) == (os.CLD_EXITED, 0)
    runner.stop()  # one descriptor already closed, the process already ended: still stops cleanly
    assert runner.channel is None
    with pytest.raises(ChildProcessError):
        os.waitpid(ended.si_pid, os.WNOHANG)


def test_writing_to_a_channel_nobody_reads_is_closed_not_a_crash() -> None:
    read, write = os.pipe()
    os.close(read)
    channel = Channel(write, write)
    try:
        with pytest.raises(ChannelClosed, match="Broken pipe"):
            channel.send({"op": "x"}, [], time.monotonic() + 5)
    finally:
        channel.close()


def test_drain_throws_away_what_is_waiting_and_leaves_the_channel_usable() -> None:
    read, write = os.pipe()
    channel = Channel(read, write)
    try:
        channel.send({"op": "stale"}, [b"x" * 1000], time.monotonic() + 5)
        channel.drain()
        channel.send({"op": "fresh"}, [], time.monotonic() + 5)
        assert channel.receive(time.monotonic() + 5) == ({"op": "fresh"}, [])
        assert os.get_blocking(read)
        other_read, other_write = os.pipe()
        os.write(other_write, b"left by a process that exited")
        os.close(other_write)
        Channel(other_read, write).drain()  # to the end of the pipe, then stops
        assert os.read(other_read, 10) == b""
        os.close(other_read)
    finally:
        channel.close()
