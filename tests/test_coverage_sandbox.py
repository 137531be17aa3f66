"""Worker's life when the other side misbehaves: a zygote that does not start, answers nonsense, stops answering or
dies, and a child whose messages are garbled. Each would otherwise hang the grader or blame the student.

The misbehaving zygote is a small script run where the worker's script would be (``--sandbox none`` runs
``HERE/worker.py``): it speaks the protocol's frames and does one wrong thing. The real worker is used where the
real worker can be made to do the wrong thing (its zygote killed, its child ended).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

import grader.grading.callbacks
import grader.grading.sandbox
from grader.config import Limits
from grader.errors import UsageError
from grader.grading.sandbox import CallOutcome, Worker, _describe_exit, resolve_mode
from grader.model import Chunk, Submission
from tests.conftest import sandbox_mode

LIMITS = Limits(call_seconds=5, cpu_seconds=5, memory_mb=256, output_kb=1)
SUBMISSION = Submission("x.ipynb", (Chunk(1, 1, "def", ("f",), "def f(x):\n    return x + 1\n"),))

# The protocol's frames, and a zygote that serves loads and calls with whatever ``on_load``/``on_call`` do.
FAKE = '''
import json, os, select, socket, struct, sys, time
control_in, control_out = int(sys.argv[1]), int(sys.argv[2])
meter, data_in, data_out = socket.socket(fileno=int(sys.argv[3])), int(sys.argv[4]), int(sys.argv[5])

def send(fd, message):
    body = json.dumps({**message, "$blobs": []}).encode()
    os.write(fd, struct.pack("!I", len(body)) + body)

def receive(fd):
    head = os.read(fd, 4)
    if len(head) < 4:
        sys.exit(0)
    (size,) = struct.unpack("!I", head)
    return json.loads(os.read(fd, size))

def on_start():
    send(control_out, {"op": "ready"})

def on_load(count):
    send(data_out, {"op": "loaded", "defined": ["f"], "errors": []})

def on_call(message, count):
    send(data_out, {"op": "returned", "value": 1, "changed": {}, "output": "", "seconds": 0.0})

%s

on_start()
loads = calls = 0
while True:
    ready = select.select([control_in, data_in], [], [])[0]
    if control_in in ready:
        message = receive(control_in)
        if message["op"] == "load":
            loads += 1
            meter.send(b"m")  # a child without a stat file: the grader counts wall-clock time
            on_load(loads)
        elif message["op"] == "end":
            send(control_out, {"op": "exited", "code": 0})
    elif data_in in ready:
        calls += 1
        on_call(receive(data_in), calls)
'''


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Worker]]:
    """A Worker whose zygote is FAKE with some of its functions redefined."""
    workers: list[Worker] = []
    monkeypatch.setattr(grader.grading.sandbox, "HERE", tmp_path)
    monkeypatch.setattr(grader.grading.sandbox, "END_SECONDS", 1.0)  # a fake that does not answer "end" costs a second

    def make(redefined: str = "") -> Worker:
        (tmp_path / "worker.py").write_text(FAKE % textwrap.dedent(redefined), encoding="utf-8")
        worker = Worker("none", LIMITS)
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.close()


# --- resolve_mode and exit codes ---------------------------------------------------------------------------------

def test_resolve_mode_names_what_it_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="must be auto, bwrap or none, not 'docker'"):
        resolve_mode("docker")
    assert resolve_mode("none") == "none"
    monkeypatch.setattr(grader.grading.sandbox.shutil, "which", lambda name: None)
    assert resolve_mode("auto") == "none"
    with pytest.raises(UsageError, match="bubblewrap is not installed or cannot create namespaces"):
        resolve_mode("bwrap")


def test_a_bwrap_that_cannot_run_or_hangs_is_not_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grader.grading.sandbox.shutil, "which", lambda name: "/usr/bin/bwrap")
    for failure in (OSError("exec format error"), subprocess.TimeoutExpired("bwrap", 10)):
        def run(*args: object, failure: BaseException = failure, **kwargs: object) -> None:
            raise failure

        monkeypatch.setattr(grader.grading.sandbox.subprocess, "run", run)
        assert resolve_mode("auto") == "none"
    monkeypatch.setattr(grader.grading.sandbox.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1))
    assert resolve_mode("auto") == "none"  # installed, but namespaces are not allowed here


@pytest.mark.parametrize(("probe", "mode"), [(["true"], "bwrap"), (["false"], "none")])
def test_a_probe_started_ahead_is_the_one_resolve_mode_takes(monkeypatch: pytest.MonkeyPatch, probe: list[str],
                                                             mode: str) -> None:
    monkeypatch.setattr(grader.grading.sandbox.shutil, "which", lambda name: "/usr/bin/bwrap")
    monkeypatch.setattr(grader.grading.sandbox, "PROBE", probe)
    grader.grading.sandbox.probe_ahead()
    started = grader.grading.sandbox._probe
    assert started is not None
    monkeypatch.setattr(grader.grading.sandbox.subprocess, "run", lambda *a, **k: pytest.fail("probed again"))
    assert resolve_mode("auto") == mode
    assert grader.grading.sandbox._probe is None and started.returncode is not None  # taken once, and collected


@pytest.mark.parametrize(("code", "expected"), [
    (-signal.SIGXCPU, ("timeout", "more CPU time")),
    (-signal.SIGXFSZ, ("crash", "file larger than allowed")),
    (-signal.SIGSEGV, ("crash", "segmentation fault")),
    (-signal.SIGKILL, ("memory", "out of memory?")),
    (-signal.SIGABRT, ("crash", "killed by signal SIGABRT")),
    (3, ("crash", "exit code 3")),
])
def test_every_way_a_child_ends_is_described(code: int, expected: tuple[str, str]) -> None:
    status, text = _describe_exit(code)
    assert (status, expected[1] in text) == (expected[0], True), text


# --- a zygote that does not start -------------------------------------------------------------------------------

@pytest.mark.parametrize(("on_start", "failure"), [
    ('send(control_out, {"op": "unsafe", "message": "no keyring\\x1b[2J"})',
     "the sandbox did not start (the sandbox could not be locked down: no keyring\ufffd[2J)"),
    ('send(control_out, {"op": "hello"})', "the sandbox did not start (the worker did not start)"),
    ("sys.exit(0)", "the sandbox did not start (the other side closed the channel)"),
    ("time.sleep(60)", "the sandbox did not start (timeout)"),
])
def test_a_zygote_that_does_not_start_is_the_graders_failure(fake: Callable[..., Worker], monkeypatch: pytest.MonkeyPatch,
                                                             on_start: str, failure: str) -> None:
    monkeypatch.setattr(grader.grading.sandbox, "START_SECONDS", 0.5)
    worker = fake(f"def on_start():\n    {on_start}\n")
    loaded = worker.load(SUBMISSION, ["f"])
    assert (loaded.failure, loaded.unsafe) == (failure, True)
    assert worker.process is None  # stopped: the next submission starts a new one


def test_the_definitions_go_to_a_zygote_still_starting(fake: Callable[..., Worker]) -> None:
    """``begin_load`` does not wait for the zygote's "ready": a pipe holds the definitions, so its start-up overlaps
    the grader's work until ``finish_load``, which reads "ready" first."""
    worker = fake("def on_start():\n    time.sleep(0.3)\n    send(control_out, {'op': 'ready'})\n")
    worker.start()
    assert worker.begin_load(SUBMISSION, ["f"]) is None
    assert not worker.ready  # sent before the zygote said it was ready
    loaded = worker.finish_load()
    assert (loaded.failure, loaded.defined, worker.ready) == ("", ("f",), True)


# --- a load that goes wrong -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("on_load", "failure", "unsafe"), [
    ('os.write(data_out, b"\\x00\\x00\\x00\\x05{not}")',
     "the sandbox failed while loading the notebook: garbled message: malformed message", False),
    ('send(data_out, {"op": "weird"})', "the sandbox sent an unexpected message while loading the notebook", False),
    ('send(data_out, {"op": "unsafe", "message": "seccomp_load failed"})',
     "the sandbox could not be locked down (seccomp_load failed); no student code was run", True),
    ('send(control_out, {"op": "exited", "code": "0"})',
     "the sandbox failed while loading the notebook: the sandbox sent an unexpected message", False),
    ("os.close(control_out); time.sleep(60)",  # the control channel closes, the data channel stays open
     "the sandbox failed while loading the notebook: the sandbox stopped answering", False),
    ('send(control_out, {"op": "exited", "code": -9})',
     "loading the notebook's definitions the process was killed (out of memory?)", False),
])
def test_a_load_that_goes_wrong_says_how(fake: Callable[..., Worker], on_load: str, failure: str, unsafe: bool) -> None:
    worker = fake(f"def on_load(count):\n    {on_load}\n")
    loaded = worker.load(SUBMISSION, ["f"])
    assert loaded.failure.startswith(failure), loaded.failure
    assert (loaded.unsafe, loaded.defined) == (unsafe, ())
    worker.end()
    assert not worker.child_alive


def test_load_keeps_only_well_formed_names_and_errors(fake: Callable[..., Worker]) -> None:
    worker = fake('''
        def on_load(count):
            send(data_out, {"op": "loaded", "defined": ["f", "g", 3],
                            "errors": [{"cell": 2, "error": "NameError\\x00"}, {"cell": "2"}, "text"] + [{"cell": 1}] * 60})
    ''')
    loaded = worker.load(SUBMISSION, ["f", "h"])
    assert loaded.defined == ("f",)
    assert loaded.errors[0] == "cell 2: NameError\ufffd" and len(loaded.errors) == 50


def test_a_load_that_never_answers_is_a_timeout(fake: Callable[..., Worker], monkeypatch: pytest.MonkeyPatch) -> None:
    worker = fake('def on_load(count):\n    send(data_out, {"op": "locked"})\n')  # its code runs, and runs
    monkeypatch.setattr(grader.grading.sandbox, "time", SimpleNamespace(monotonic=lambda: time.monotonic() - 9.5))
    loaded = worker.load(SUBMISSION, ["f"])  # the load's deadline is 10 s; this clock leaves half a second of it
    assert (loaded.failure, loaded.unsafe) == ("loading the notebook's definitions took longer than 10 s", False)
    assert not worker.child_alive


def test_a_sandbox_that_never_forks_the_notebooks_process_is_started_again_not_the_notebooks_fault(
        fake: Callable[..., Worker], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No word of a child by the deadline (a zygote stopped by a signal a submission aimed at it): nothing of the
    notebook ran, so it cannot be its timeout. A new sandbox loads it; one that says nothing either is the grader's."""
    starts = tmp_path / "starts"
    worker = fake(f'def on_start():\n    open({str(starts)!r}, "a").write("x")\n    send(control_out, {{"op": "ready"}})\n'
                  'def on_load(count):\n    pass\n')
    monkeypatch.setattr(grader.grading.sandbox, "time", SimpleNamespace(monotonic=lambda: time.monotonic() - 9.5))
    loaded = worker.load(SUBMISSION, ["f"])
    assert loaded.unsafe and loaded.failure.startswith("the sandbox did not start (no process for the notebook"), loaded
    assert starts.read_text() == "xx"  # started again once
    worker.close()


# --- calls whose answers are wrong ------------------------------------------------------------------------------

@pytest.mark.parametrize(("on_call", "status", "message"), [
    ('os.write(data_out, b"\\x00\\x00\\x00\\x02[]")', "crash", "the sandbox stopped while running f: garbled message"),
    ('send(data_out, {"op": "weird"})', "crash", "unexpected message from the sandbox: 'weird'"),
    ('send(data_out, {"op": "returned", "value": {"$array": 5}, "changed": {}})', "unencodable",
     "the returned value could not be read: malformed array reference"),
    ('send(data_out, {"op": "returned", "value": 1, "changed": [1]})', "unencodable",
     "the returned value could not be read: malformed message"),
    ('send(data_out, {"op": "returned", "value": 1})', "unencodable", "the returned value could not be read: 'changed'"),
    ('send(data_out, {"op": "unencodable", "message": "a set object cannot be checked"})', "unencodable",
     "a set object cannot be checked"),
    ('send(control_out, {"op": "exited", "code": None})', "crash", "the sandbox sent an unexpected message"),
    ('os.close(control_out); time.sleep(60)', "crash", "the sandbox stopped answering"),
])
def test_a_call_whose_answer_is_wrong_costs_that_call(fake: Callable[..., Worker], on_call: str, status: str, message: str) -> None:
    worker = fake(f"def on_call(message, count):\n    {on_call}\n")
    assert worker.load(SUBMISSION, ["f"]).defined == ("f",)
    outcome = worker.call("f", (1,), {})
    assert (outcome.status, outcome.message.startswith(message)) == (status, True), outcome


def test_what_a_call_reports_is_cleaned_and_typed(fake: Callable[..., Worker]) -> None:
    worker = fake('''
        def on_call(message, count):
            send(data_out, {"op": "returned", "value": 2, "changed": {"0": [1], "x\\x00": None}, "output": "hi\\x07",
                            "seconds": "soon"})
    ''')
    worker.load(SUBMISSION, ["f"])
    assert worker.call("f", ([0],), {}) == CallOutcome("returned", 2, {0: [1], "x\ufffd": None}, "", "hi\ufffd", 0.0)


def test_a_reload_that_fails_after_a_crash_is_a_crash_saying_why(fake: Callable[..., Worker]) -> None:
    worker = fake('''
        def on_load(count):
            if count == 1:
                send(data_out, {"op": "loaded", "defined": ["f"], "errors": []})
            else:
                send(data_out, {"op": "weird"})

        def on_call(message, count):
            send(control_out, {"op": "exited", "code": -11})
    ''')
    assert worker.load(SUBMISSION, ["f"]).defined == ("f",)
    assert worker.call("f", (1,), {}).status == "crash"
    outcome = worker.call("f", (1,), {})
    assert outcome == CallOutcome("crash", message="the submission could not be loaded again: the sandbox sent an "
                                                   "unexpected message while loading the notebook (did its code "
                                                   "write to a file descriptor it did not open?)")


def test_a_zygote_that_does_not_answer_end_is_stopped(fake: Callable[..., Worker]) -> None:
    worker = fake('''
        def on_load(count):
            send(data_out, {"op": "loaded", "defined": ["f"], "errors": []})
            global receive  # from now on the control channel is never read
            real = receive
            receive = lambda fd: time.sleep(60) if fd == control_in else real(fd)
    ''')
    worker.load(SUBMISSION, ["f"])
    process = worker.process
    worker.end()  # "end" is never answered: after END_SECONDS the whole sandbox goes
    assert worker.process is None and process is not None and process.returncode is not None


# --- the real worker, killed ------------------------------------------------------------------------------------

def wait_until_gone(worker: Worker) -> None:
    """Until every process of the sandbox has exited: the data channel's last writer is gone (bwrap's processes
    inside the namespace die after bwrap itself, a moment later)."""
    assert worker.data is not None
    poller = select.poll()
    poller.register(worker.data.read_fd, select.POLLIN)
    for _ in range(100):
        if any(event & select.POLLHUP for _, event in poller.poll(100)):
            return
    raise AssertionError("the sandbox's processes outlived it")


@pytest.fixture(scope="module")
def real() -> Iterator[Worker]:
    worker = Worker(sandbox_mode(), LIMITS)
    yield worker
    worker.close()


def test_a_zygote_killed_between_calls_costs_one_call_and_is_started_again(real: Worker) -> None:
    assert real.load(SUBMISSION, ["f"]).defined == ("f",)
    assert real.call("f", (1,), {}).value == 2
    assert real.process is not None
    os.killpg(real.process.pid, signal.SIGKILL)  # the zygote and its child, as the kernel's OOM killer might
    real.process.wait()
    wait_until_gone(real)
    lost = real.call("f", (1,), {})
    assert (lost.status, lost.message.startswith("the sandbox stopped while running f: ")) == ("crash", True), lost
    assert real.call("f", (2,), {}).value == 3  # loaded again, in a new sandbox
    real.end()


def test_a_dead_zygote_is_replaced_at_the_next_load(real: Worker) -> None:
    real.load(SUBMISSION, ["f"])
    real.end()
    assert real.process is not None
    os.killpg(real.process.pid, signal.SIGKILL)
    real.process.wait()
    assert real.load(SUBMISSION, ["f"]).defined == ("f",)
    assert real.call("f", (5,), {}).value == 6
    real.end()


def test_a_child_that_leaves_the_protocol_costs_one_call(real: Worker) -> None:
    real.load(SUBMISSION, ["f"])
    assert real.data is not None
    real.data.send({"op": "goodbye"}, [], time.monotonic() + 5)  # the child ends its session
    outcome = real.call("f", (1,), {})
    assert outcome.status == "crash" and "exit code 0" in outcome.message, outcome
    assert real.call("f", (1,), {}).value == 2
    real.end()


# --- call_seconds is the child's own CPU time ----------------------------------------------------------------------

BURNS = Submission("x.ipynb", (Chunk(1, 1, "def", ("burn", "spin", "renamed", "in_threads", "files", "halves"),
                                     textwrap.dedent("""\
    import json, os, struct, sys, threading, time
    def burn(seconds):
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass
        return "done"
    def spin():
        while True:
            pass
    def renamed():
        import ctypes  # the name in /proc/<pid>/stat, before the times (prctl: /proc is read-only in bubblewrap)
        assert ctypes.CDLL(None).prctl(15, ctypes.c_char_p(b") 9 9 9 9 9 9 9"), 0, 0, 0) == 0  # PR_SET_NAME
        with open("/proc/self/comm") as name:
            assert name.read().startswith(") 9 9"), "not renamed"
        spin()
    def in_threads():
        workers = [threading.Thread(target=spin, daemon=True) for _ in range(2)]
        for worker in workers:
            worker.start()
        workers[0].join()  # this thread computes nothing
    def files():
        found = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                found.append(os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:
                pass  # the listing's own, closed since
        return sorted(found)
    def halves(value):  # its answer written on its channel itself, in two halves 0.7 s apart, computing nothing
        body = json.dumps({"op": "returned", "value": value, "changed": {}, "output": "", "$blobs": []}).encode()
        os.write(int(sys.argv[-3]), struct.pack("!I", len(body)))
        time.sleep(0.7)
        os.write(int(sys.argv[-3]), body)
        time.sleep(60)
    """)),))
FUNCTIONS = ["burn", "spin", "renamed", "in_threads", "files", "halves"]


@contextlib.contextmanager
def one_core(competitors: int) -> Iterator[None]:
    """This process (and the sandbox it starts) on one core, shared with ``competitors`` busy processes."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    busy = [subprocess.Popen([sys.executable, "-c", "print(flush=True)\nwhile True: pass"], stdout=subprocess.PIPE,
                             start_new_session=True)  # each its own session: the scheduler shares a core by session
            for _ in range(competitors)]
    try:
        for process in busy:
            assert process.stdout and process.stdout.readline() == b"\n"  # it computes from now on
        yield
    finally:
        for process in busy:
            process.kill()
            process.communicate()
        os.sched_setaffinity(0, before)


def test_a_busy_machine_does_not_make_a_correct_call_time_out() -> None:
    """0.4 s of computing on a core shared with two busy processes takes 0.8 s or more (half the core at best, as the
    scheduler may share it by session): over call_seconds = 0.5 of wall clock, within 0.5 s of its own CPU time. The
    same machine still stops a loop at 0.5 s of CPU time."""
    with one_core(competitors=2):
        worker = Worker(sandbox_mode(), Limits(call_seconds=0.5, cpu_seconds=30, memory_mb=256, output_kb=1))
        try:
            worker.load(BURNS, FUNCTIONS)
            started = time.monotonic()
            outcome = worker.call("burn", (0.4,), {})
            assert (outcome.status, outcome.value) == ("returned", "done"), outcome
            assert time.monotonic() - started > 0.5  # the load was there: by wall clock it would have timed out
            outcome = worker.call("spin", (), {})
            assert outcome.status == "timeout" and "used 0.5 s of CPU time" in outcome.message, outcome
        finally:
            worker.close()


@pytest.fixture(scope="module")
def metered() -> Iterator[Worker]:
    worker = Worker(sandbox_mode(), Limits(call_seconds=0.5, cpu_seconds=30, memory_mb=256, output_kb=1))
    worker.load(BURNS, FUNCTIONS)
    yield worker
    worker.close()


@pytest.mark.parametrize("function", ["spin", "renamed", "in_threads"])
def test_every_thread_counts_and_a_name_cannot_hide_the_time(metered: Worker, function: str) -> None:
    """Threads that compute while the calling one waits are the call's time; a process named ") 9 9 9 ..." does not
    shift the fields read after its name."""
    outcome = metered.call(function, (), {})
    assert outcome.status == "timeout" and "used 0.5 s of CPU time" in outcome.message, outcome
    assert outcome.seconds < 1.5, outcome


def test_the_child_holds_none_of_the_zygotes_lines(metered: Worker) -> None:
    """Its channel and its line to the reference are pipes; the zygote's control channel and the socket that hands
    the grader each child's stat file are closed before any student code runs."""
    outcome = metered.call("files", (), {})
    assert outcome.status == "returned", outcome
    assert not any(target.startswith("socket:") for target in outcome.value), outcome.value
    assert sum(target.startswith("pipe:") for target in outcome.value) == 4, outcome.value


def test_an_answer_still_arriving_when_the_wall_clock_is_checked_is_read_whole(metered: Worker) -> None:
    """At 0.5 s the grader finds half an answer and the child's CPU time under the limit: it waits on, and reads the
    answer from its start (reading half of it, then waiting, read the second half as a new message)."""
    outcome = metered.call("halves", (7,), {})
    assert (outcome.status, outcome.value) == ("returned", 7), outcome
    metered.end()  # this child sleeps on: the next test gets one of its own
    metered.load(BURNS, FUNCTIONS)


def test_without_the_stat_file_wall_clock_time_is_counted(metered: Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metered, "cpu_seconds", lambda: None)
    outcome = metered.call("spin", (), {})
    assert outcome.status == "timeout" and "did not finish within 0.5 s" in outcome.message, outcome
    assert outcome.seconds < 1, outcome


CALLS_THE_REFERENCE = Submission("x.ipynb", (Chunk(1, 1, "def", ("slow", "f", "g"), textwrap.dedent("""\
    def slow(x):
        return x
    def f(x):
        for _ in range(5):
            x = slow(x)
        return x
    def g(x):
        while True:
            slow(x)
    """)),))


@pytest.fixture(scope="module")
def isolated() -> Iterator[Worker]:
    worker = Worker(sandbox_mode(), Limits(call_seconds=1, cpu_seconds=30, memory_mb=256, output_kb=1))
    worker.use_reference(SimpleNamespace(slow=lambda x: time.sleep(0.3) or x + 1))
    yield worker
    worker.close()


def test_the_time_the_reference_takes_answering_is_not_the_students(isolated: Worker) -> None:
    """Isolation answers a wrong helper's calls with the reference, out of the sandbox: five answers of 0.3 s each
    are the grader's 1.5 s, not the student's, whose own time is well within call_seconds = 1."""
    isolated.load(CALLS_THE_REFERENCE, ["f", "g"])
    outcome = isolated.call("f", (0,), {}, frozenset({"slow"}))
    assert (outcome.status, outcome.value) == ("returned", 5), outcome
    isolated.end()


def test_a_call_that_keeps_the_reference_busy_still_ends(isolated: Worker) -> None:
    """Its own CPU time stays small while the reference works: the wall clock's ceiling ends it, and says so."""
    isolated.load(CALLS_THE_REFERENCE, ["f", "g"])
    outcome = isolated.call("g", (0,), {}, frozenset({"slow"}))
    assert outcome.status == "timeout" and "computing for only 0.0 s" in outcome.message, outcome
    ceiling = grader.grading.sandbox.WALL_FACTOR * 1
    assert ceiling - 0.5 < outcome.seconds < ceiling + 2, outcome.seconds
    isolated.end()


@contextlib.contextmanager
def lending(reference: SimpleNamespace, call_seconds: float = 5) -> Iterator[Worker]:
    """A worker of its own whose isolated calls the ``reference`` answers."""
    worker = Worker(sandbox_mode(), Limits(call_seconds=call_seconds, cpu_seconds=30, memory_mb=256, output_kb=1))
    worker.use_reference(reference)
    try:
        yield worker
    finally:
        worker.close()


KILLS_THE_REFERENCE = Submission("x.ipynb", (Chunk(1, 1, "def", ("helper", "f", "g"), textwrap.dedent("""\
    def helper(x):
        return x
    def f(x):
        return helper(x)
    def g(x):
        try:
            return helper(x)
        except RuntimeError:
            return helper(-x)
    """)),))


def test_a_reference_that_dies_answering_costs_its_call_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner killed in the middle of a request (its memory limit, a crash in NumPy): the child waiting for the
    answer is told, as the runner would have told it, and the next call gets a new runner. Within the same call
    too, however late the new runner is told what it may answer: the child is told only after that."""
    with lending(SimpleNamespace(helper=lambda x: os.kill(os.getpid(), signal.SIGKILL) if x < 0 else x + 1)) as worker:
        worker.load(KILLS_THE_REFERENCE, ["f", "g"])
        assert worker.call("f", (1,), {}, frozenset({"helper"})).value == 2
        died = worker.call("f", (-1,), {}, frozenset({"helper"}))
        assert died.status == "raised" and "could not run on these arguments" in died.message, died
        assert died.seconds < 2
        assert worker.call("f", (2,), {}, frozenset({"helper"})).value == 3
        start = grader.grading.callbacks.ReferenceRunner._start  # a runner that starts before it is told anything
        monkeypatch.setattr(grader.grading.callbacks.ReferenceRunner, "_start",
                            lambda *args, **kwargs: (start(*args, **kwargs), time.sleep(0.1))[0])
        again = worker.call("g", (-1,), {}, frozenset({"helper"}))  # the same call asks again: a new runner answers
        assert (again.status, again.value) == ("returned", 2), again


LEAVES_THE_LINE_DIRTY = Submission("x.ipynb", (Chunk(1, 1, "def", ("helper", "f"), textwrap.dedent("""\
    import json, os, struct, sys
    def helper(x):
        return x
    def f(x):
        line = int(sys.argv[-2])
        request = json.dumps({"function": "helper", "args": [[100], {"$dict": []}], "$blobs": []}).encode()
        os.write(line, struct.pack("!I", len(request)) + request)  # an answer it never reads
        os.write(line, struct.pack("!I", 500) + b'{"function"')  # and half a request
        return x
    """)),))


def test_what_one_child_leaves_on_its_line_to_the_reference_never_reaches_the_next() -> None:
    with lending(SimpleNamespace(helper=lambda x: x + 1)) as worker:
        worker.load(LEAVES_THE_LINE_DIRTY, ["f"])
        assert worker.call("f", (1,), {}, frozenset({"helper"})).value == 1
        worker.end()
        worker.load(KILLS_THE_REFERENCE, ["f"])
        assert [worker.call("f", (x,), {}, frozenset({"helper"})).value for x in (1, 2)] == [2, 3]


# --- the worker's bytecode ----------------------------------------------------------------------------------------

def test_the_sandbox_starts_from_bytecode_built_once_and_survives_a_bad_one(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    if sandbox_mode() != "bwrap":
        pytest.skip("the bytecode is bound into bubblewrap's sandbox only")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("GRADER_COVERAGE", raising=False)  # measured, the worker runs as a script under coverage.py
    folder = grader.grading.sandbox.worker_bytecode()
    assert folder is not None and folder.parent == tmp_path / "grader" / "worker-bytecode"
    assert sorted(p.name.split(".")[0] for p in folder.iterdir()) == ["wire", "worker"]
    assert grader.grading.sandbox.worker_bytecode() == folder  # built once
    command = grader.grading.sandbox.bwrap_command((3, 4))
    at = command.index(str(folder))
    assert command[at - 1:at + 2] == ["--ro-bind", str(folder), "/opt/grader/__pycache__"]  # read-only
    for pyc in folder.iterdir():  # stale or broken bytecode is only slower: Python compiles the sources instead
        pyc.write_bytes(b"not bytecode")
    worker = Worker("bwrap", LIMITS)
    try:
        assert worker.load(SUBMISSION, ["f"]).defined == ("f",)
        assert worker.call("f", (1,), {}).value == 2
    finally:
        worker.close()


def test_the_measured_folder_is_writable_wherever_it_lies_and_nothing_else_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """``make coverage`` in a clone whose folders the sandbox does not hold (CI's /check/...): bubblewrap must make
    the measured folder's parents before the root turns read-only, or no sandbox starts."""
    if sandbox_mode() != "bwrap":
        pytest.skip("bubblewrap's sandbox only")
    out = Path(__file__).resolve().parents[1] / "out"  # outside /tmp, and its parents are not bound
    out.mkdir(exist_ok=True)
    measured = Path(tempfile.mkdtemp(prefix="measured-", dir=out)) / "deep" / "sandbox"
    measured.mkdir(parents=True)
    monkeypatch.setenv("GRADER_COVERAGE", str(measured))
    try:
        command = grader.grading.sandbox.bwrap_command(())
        python = command.index("-E") - 1
        probe = (f"open({str(measured / 'probe')!r}, 'w').write('x')\n"
                 "try:\n    open('/probe', 'w')\nexcept OSError:\n    print('read-only')")
        run = subprocess.run([*command[:python], sys.executable, "-c", probe], capture_output=True, text=True,
                             timeout=60)
        assert (run.returncode, run.stdout.strip()) == (0, "read-only"), run.stderr
        assert (measured / "probe").read_text() == "x"
    finally:
        shutil.rmtree(measured.parents[1], ignore_errors=True)


# The child asks the reference for a 5 MB answer by writing the request itself on its line to the reference runner
# (the descriptor before last on the worker's command line), then never reads it.
ASKS_AND_STALLS = Submission("x.ipynb", (Chunk(1, 1, "def", ("big", "h"), textwrap.dedent("""\
    import json, os, struct, sys, time
    def big(n):
        return n
    def h(n):
        request = json.dumps({"function": "big", "args": [[n], {"$dict": []}], "$blobs": []}).encode()
        os.write(int(sys.argv[-2]), struct.pack("!I", len(request)) + request)
        time.sleep(10**6)
    """)),))


def test_a_child_that_stalls_the_runner_ends_at_the_wall_clock_and_the_next_is_served() -> None:
    """A child that does not read a 5 MB answer leaves the runner blocked writing it, and computes nothing: the
    wall clock's ceiling ends the call; the next child gets a runner and a line of its own."""
    with lending(SimpleNamespace(big=lambda n: __import__("numpy").zeros(n)), call_seconds=0.3) as worker:
        worker.load(ASKS_AND_STALLS, ["big", "h"])
        outcome = worker.call("h", (700_000,), {}, frozenset({"big"}))  # 5.6 MB: far more than a pipe holds
        ceiling = grader.grading.sandbox.WALL_FACTOR * 0.3
        assert outcome.status == "timeout" and "computing for only 0.0 s" in outcome.message, outcome
        assert ceiling - 0.2 < outcome.seconds < ceiling + 1, outcome.seconds
        outcome = worker.call("big", (3,), {}, frozenset({"big"}))
        assert (outcome.status, outcome.value) == ("returned", 3), outcome
