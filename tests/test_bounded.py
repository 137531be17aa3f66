"""grader/bounded.py's child forked ahead (``Ahead``): it prepares while the caller works, then does one job under
the same deadline as ``run_bounded``, and it never outlives its caller's use of it."""

from __future__ import annotations

import os
import time

import pytest

from grader.bounded import Ahead, AnswerTooLarge


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_job_is_served_after_the_preparation() -> None:
    prepared: list[str] = []
    ahead = Ahead(lambda: prepared.append("ready"), lambda job: b"".join([*map(str.encode, prepared), b":", job]), 10, 256)
    raw, status = ahead.send(b"job").finish(1 << 16)
    assert (raw, status) == (b"ready:job", 0)
    assert not prepared  # the preparation happened in the child, never here
    assert _gone(ahead.pid)


def test_a_job_larger_than_a_pipe_waits_for_a_slow_preparation() -> None:
    job = b"x" * (1 << 20)
    ahead = Ahead(lambda: time.sleep(0.3), lambda got: str(len(got)).encode(), 10, 256)
    assert ahead.send(job).finish(1 << 16)[0] == str(len(job)).encode()


def test_a_preparation_past_the_deadline_gets_no_answer_and_is_stopped() -> None:
    ahead = Ahead(lambda: time.sleep(60), lambda job: b"late", 0.3, 256)
    started = time.monotonic()
    raw, _ = ahead.send(b"x" * (1 << 20)).finish(1 << 16)  # larger than the pipe: the write itself must give up
    assert raw is None and time.monotonic() - started < 10
    assert _gone(ahead.pid)


def test_a_job_past_the_deadline_gets_no_answer() -> None:
    ahead = Ahead(lambda: None, lambda job: time.sleep(60) or b"late", 0.3, 256)
    assert ahead.send(b"job").finish(1 << 16)[0] is None


def test_an_answer_given_in_time_is_taken_however_late_the_caller_comes_for_it() -> None:
    """A batch collects a notebook's extraction after waiting on another notebook's views: the child answered within
    its deadline, so the answer stands (it was taken for a timeout, and that notebook graded 0)."""
    from grader.bounded import GRACE, start_bounded

    running = start_bounded(lambda: b"in time", 0.3, 256)
    time.sleep(0.5 + GRACE)  # the caller busy elsewhere, past the child's deadline and the grace after it
    assert running.finish(1 << 16) == (b"in time", 0)
    late = start_bounded(lambda: time.sleep(60) or b"late", 0.3, 256)
    time.sleep(0.8)
    assert late.finish(1 << 16)[0] is None  # still at work at its deadline: no more time


@pytest.mark.parametrize("caller", ["waits", "comes late"])
def test_an_answer_finished_past_the_deadline_never_counts_whenever_the_caller_comes(caller: str) -> None:
    """The same child gets the same outcome: one done 0.5 s into a 0.3 s deadline was refused to a caller that waited
    and taken by one that came after it was done (a notebook's grade then depended on the other notebooks')."""
    from grader.bounded import LATE, start_bounded

    running = start_bounded(lambda: time.sleep(0.5) or b"late", 0.3, 256)
    ahead = Ahead(lambda: time.sleep(0.5), lambda job: b"late too", 0.3, 256).send(b"job")  # its preparation was slow
    if caller == "comes late":
        time.sleep(1.0)
    for late in (running, ahead):
        raw, status = late.finish(1 << 16)
        assert raw is None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == LATE


def test_a_preparation_that_raises_leaves_the_job_to_answer_for_it() -> None:
    def prepare() -> None:
        raise RuntimeError("no templates here")

    ahead = Ahead(prepare, lambda job: b"served anyway", 10, 256)
    assert ahead.send(b"job").finish(1 << 16)[0] == b"served anyway"


def test_a_child_that_dies_preparing_answers_nothing() -> None:
    ahead = Ahead(lambda: os._exit(3), lambda job: b"never", 10, 256)
    raw, status = ahead.send(b"x" * (1 << 20)).finish(1 << 16)
    assert raw == b"" and os.waitstatus_to_exitcode(status) == 3


def test_an_answer_past_its_bound_is_refused() -> None:
    ahead = Ahead(lambda: None, lambda job: b"y" * 5000, 10, 256)
    with pytest.raises(AnswerTooLarge):
        ahead.send(b"job").finish(1000)
    assert _gone(ahead.pid)


def test_the_job_runs_under_the_memory_limit() -> None:
    ahead = Ahead(lambda: None, lambda job: str(len(bytearray(400 << 20))).encode(), 10, 64)
    raw, status = ahead.send(b"job").finish(1 << 16)
    assert raw == b"" and os.waitstatus_to_exitcode(status) == 1  # MemoryError: no answer


def test_the_preparation_runs_under_the_memory_limit_too() -> None:
    """A preparation may read a submission ahead: a notebook built to exhaust memory costs only the child."""
    grown: list[bytearray] = []
    ahead = Ahead(lambda: grown.append(bytearray(400 << 20)), lambda job: str(len(grown)).encode(), 10, 64)
    assert ahead.send(b"job").finish(1 << 16)[0] == b"0"  # the MemoryError was the preparation's: the job still ran


def test_a_child_never_used_is_stopped() -> None:
    ahead = Ahead(lambda: time.sleep(60), lambda job: b"", 10, 256)
    ahead.cancel()
    assert _gone(ahead.pid)
