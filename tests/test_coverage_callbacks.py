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


class Child:
    """The submission's side of its line to the runner: it writes requests and reads answers, as worker.py does."""

    def __init__(self) -> None:
        self.requests_r, self.requests_w = os.pipe()
        self.replies_r, self.replies_w = os.pipe()
        self.pipes = (self.requests_r, self.replies_w)  # the runner's ends

    def ask(self, function: Any, *args: Any) -> dict[str, Any]:
        blobs: list[bytes] = []
        wire.send(self.requests_w, {"function": function, "args": wire.encode([list(args), {}], blobs)}, blobs)
        return self.answer()

    def answer(self) -> dict[str, Any]:
        reply, reply_blobs = wire.receive(self.replies_r)
        if reply.get("op") == "callback-result":
            return {"value": wire.decode(reply["value"], reply_blobs)}
        return reply

    def close(self) -> None:
        for fd in (self.requests_r, self.requests_w, self.replies_r, self.replies_w):
            os.close(fd)


def soon() -> float:
    return time.monotonic() + 30


@pytest.fixture
def child() -> Iterator[Child]:
    child = Child()
    yield child
    child.close()


@pytest.fixture
def runner() -> Iterator[ReferenceRunner]:
    runner = ReferenceRunner(REFERENCE, memory_mb=64)
    yield runner
    if runner.control is not None:  # it ends on its own once the grader stops telling it (a measured runner saves data)
        os.close(runner.control.write_fd)
        os.waitid(os.P_PID, runner.pid, os.WEXITED | os.WNOWAIT)
        runner.control = None
        os.waitpid(runner.pid, 0)
        os.close(runner.pidfd)


def test_the_reference_answers_what_is_allowed_and_its_failures_are_named_briefly(runner: ReferenceRunner,
                                                                                 child: Child) -> None:
    runner.allow(frozenset({"double", "divide", "ones"}), child.pipes, soon())
    assert child.ask("double", np.arange(3)) == {"value": pytest.approx(np.array([0, 2, 4]))}
    pid = runner.pid
    assert child.ask("divide", 0) == {"op": "callback-error", "message": "divide failed on these arguments: ZeroDivisionError"}
    assert child.ask("ones", 10**8) == {"op": "callback-error", "message": "ones ran out of memory on these arguments"}
    assert child.ask("double", 21) == {"value": 42}
    assert runner.pid == pid  # the reference's failures cost nothing but their own answer


def test_only_what_the_call_under_way_allows_is_answered(runner: ReferenceRunner, child: Child) -> None:
    runner.allow(frozenset({"double"}), child.pipes, soon())
    assert child.ask("divide", 1) == {"op": "callback-error", "message": "divide is not available"}
    assert child.ask(["double"], 1) == {"op": "callback-error", "message": " is not available"}  # not a name at all
    runner.allow(frozenset({"divide"}), child.pipes, soon())
    assert child.ask("double", 1) == {"op": "callback-error", "message": "double is not available"}
    assert child.ask("divide", 2) == {"value": 0.5}
    runner.allow(frozenset(), child.pipes, soon())  # a call that allows nothing: the runner still refuses
    assert child.ask("divide", 2)["op"] == "callback-error"


def test_no_runner_starts_for_a_call_that_allows_nothing(runner: ReferenceRunner, child: Child) -> None:
    runner.allow(frozenset(), child.pipes, soon())
    assert not runner.running and not runner.busy()


def test_the_runner_is_busy_while_it_answers_only(runner: ReferenceRunner, child: Child) -> None:
    """The grader reads it to know whether a runner that died was answering the child (which then waits)."""
    runner.allow(frozenset({"wait", "double"}), child.pipes, soon())
    assert child.ask("double", 1) == {"value": 2}
    assert not runner.busy()
    blobs: list[bytes] = []
    wire.send(child.requests_w, {"function": "wait", "args": wire.encode([[0.3], {}], blobs)}, blobs)
    time.sleep(0.15)
    assert runner.busy()
    assert child.answer() == {"value": None}
    assert not runner.busy()


def test_a_request_it_cannot_read_is_answered_and_the_runner_goes_on(runner: ReferenceRunner, child: Child) -> None:
    runner.allow(frozenset({"double"}), child.pipes, soon())
    header = b'{"function": "double", "args": [], "$blobs": [-1]}'
    os.write(child.requests_w, len(header).to_bytes(4, "big") + header)
    assert child.answer()["message"].startswith("the request could not be read")
    assert child.ask("double", 5) == {"value": 10}


def test_a_new_runner_drops_what_an_earlier_child_left_unread(runner: ReferenceRunner, child: Child) -> None:
    blobs: list[bytes] = []
    wire.send(child.requests_w, {"function": "double", "args": wire.encode([[1], {}], blobs)}, blobs)
    os.write(child.requests_w, b"\x00\x00\x01")  # and half a frame
    runner.allow(frozenset({"double"}), child.pipes, soon())
    assert child.ask("double", 7) == {"value": 14}


def test_a_stopped_or_dead_runner_is_collected_and_another_starts(runner: ReferenceRunner, child: Child) -> None:
    runner.allow(frozenset({"double"}), child.pipes, soon())
    first = runner.pid
    runner.stop()
    with pytest.raises(ChildProcessError):
        os.waitpid(first, os.WNOHANG)  # killed and reaped, not left behind
    runner.stop()  # twice: nothing to do
    runner.allow(frozenset({"double"}), child.pipes, soon())
    second = runner.pid
    assert second != first and child.ask("double", 4) == {"value": 8}
    os.kill(second, signal.SIGKILL)  # what its memory limit or a crash in NumPy does
    os.waitid(os.P_PID, second, os.WEXITED | os.WNOWAIT)
    runner.allow(frozenset({"double"}), child.pipes, soon())  # the next call finds it dead and starts another
    assert runner.pid not in (first, second) and child.ask("double", 3) == {"value": 6}
    with pytest.raises(ChildProcessError):
        os.waitpid(second, os.WNOHANG)


@pytest.mark.parametrize("closed", ["control", "requests"])
def test_the_runner_ends_on_its_own_when_the_grader_or_the_sandbox_is_gone(runner: ReferenceRunner, child: Child,
                                                                           closed: str) -> None:
    runner.allow(frozenset({"double"}), child.pipes, soon())
    assert runner.control is not None
    if closed == "control":
        runner.control.close()  # the grader's end of what it tells the runner
    else:
        os.close(child.requests_w)  # the sandbox's end of the requests (the runner holds only the other)
        child.requests_w = os.open(os.devnull, os.O_WRONLY)
    ended = os.waitid(os.P_PID, runner.pid, os.WEXITED | os.WNOWAIT)
    assert (ended.si_code, ended.si_status) == (os.CLD_EXITED, 0)
    runner.stop()  # the process already ended: still stops cleanly
    assert runner.control is None
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
