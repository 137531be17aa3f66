"""Tests that prove the sandbox, not the machine (issue 13).

An offline host refuses a connection to the internet whether or not the sandbox works, so each test here sets up
something the student's code *could* reach or change if a wall were missing (a listener of our own, a writable path
of our own, the installed package, a libseccomp that cannot load) and checks both what the submission saw from inside
and what the host saw from outside. Each one fails on a build with the weakness it names.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import json
import os
import re
import secrets
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import grader.grading.sandbox
from grader.config import Assignment
from grader.grading.grade import GRADER_ERROR
from grader.running.batch import grade_paths
from tests.conftest import run_cli, sandbox_mode, write_notebook

pytestmark = pytest.mark.skipif(sandbox_mode() != "bwrap", reason="these guarantees are held by bubblewrap and seccomp")

ZERO_PAD = "np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))"
ZERO_PAD_RAISES = "def zero_pad(X, pad):\n    raise ValueError('not done')\n"


def notebook(folder: Path, name: str, solution_cells: dict[str, str], *extra: str, **replaced: str) -> Path:
    """The reference solutions with some functions replaced, and extra cells after them."""
    cells = ["import numpy as np", *(replaced.get(f, code) for f, code in solution_cells.items()), *extra]
    return write_notebook(folder / f"{name}.ipynb", *cells)


def results(out: Path, name: str) -> dict:
    return json.loads((out / name / "results.json").read_text(encoding="utf-8"))


def function_tests(data: dict, function: str) -> list[dict]:
    return [t for t in data["tests"] if t["extra_data"]["function"] == function]


def outcomes(data: dict, function: str) -> set[str]:
    return {t["extra_data"]["outcome"] for t in function_tests(data, function)}


def others_passed(data: dict, *functions: str) -> bool:
    others = [t for t in data["tests"] if t["extra_data"]["function"] not in functions]
    return bool(others) and all(t["status"] == "passed" for t in others)


def inside_report(data: dict, function: str) -> dict:
    """What a spying submission saw from inside: it raises ``ValueError("REPORT<json>END")``."""
    public = next(t for t in function_tests(data, function) if t["extra_data"]["kind"] == "public")
    found = re.search(r"REPORT(\{.*?\})END", public["output"])
    assert found, public["output"]
    return json.loads(found[1])


# --- 1. network ---------------------------------------------------------------------------------------------------

# Connects to each listener and sends the token. If anything answered it returns the right padding, so a sandbox that
# lets it through shows as a passed function; otherwise it says from inside why each attempt failed.
REACHES_LISTENERS = '''
import json, socket
import numpy as np
def zero_pad(X, pad):
    targets = [("inet", socket.AF_INET, ("127.0.0.1", {port})), ("abstract", socket.AF_UNIX, {abstract!r}),
               ("path", socket.AF_UNIX, {path!r})]
    refused, reached = {{}}, []
    for name, family, address in targets:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as client:
                client.settimeout(2)
                client.connect(address)
                client.sendall({token!r})
            reached.append(name)
        except OSError as error:
            refused[name] = f"{{type(error).__name__}}: {{error}}"
    if reached:
        return {zero_pad}
    raise ValueError("REPORT" + json.dumps(refused) + "END")
'''


def _accepted(listeners: dict[str, socket.socket]) -> dict[str, bytes]:
    """Connections waiting on any listener (a connection is queued even if the client has closed it)."""
    select.select(list(listeners.values()), [], [], 0.5)
    found = {}
    for name, listener in listeners.items():
        listener.setblocking(False)
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            continue
        with connection:
            connection.settimeout(1)
            found[name] = connection.recv(64)
    return found


def test_no_listener_of_the_host_can_be_reached(tmp_path: Path, solution_cells: dict[str, str]) -> None:
    """Fails with ``--share-net`` (the abstract socket, and 127.0.0.1 too once seccomp allows inet sockets) or with
    a host folder bound in (the path socket)."""
    token = secrets.token_hex(8)
    listeners = {"inet": socket.socket(socket.AF_INET, socket.SOCK_STREAM),
                 "abstract": socket.socket(socket.AF_UNIX, socket.SOCK_STREAM),
                 "path": socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)}
    abstract, path = f"\0grader-test-{token}", str(tmp_path / "listener.sock")
    try:
        listeners["inet"].bind(("127.0.0.1", 0))
        listeners["abstract"].bind(abstract)
        listeners["path"].bind(path)
        for listener in listeners.values():
            listener.listen(8)
        spy = REACHES_LISTENERS.format(port=listeners["inet"].getsockname()[1], abstract=abstract, path=path,
                                       token=token.encode(), zero_pad=ZERO_PAD)
        submission = notebook(tmp_path, "reaches_listeners", solution_cells, zero_pad=spy)
        out = tmp_path / "out"
        result = run_cli("grade", "cnn_step_by_step", submission, "--out", out, "--sandbox", "bwrap")
        assert result.returncode == 0, result.stderr
        accepted = _accepted(listeners)
    finally:
        for listener in listeners.values():
            listener.close()
    assert accepted == {}, f"the sandbox reached the host: {accepted}"
    data = results(out, "reaches_listeners")
    assert outcomes(data, "zero_pad") == {"error"}
    assert set(inside_report(data, "zero_pad")) == {"inet", "abstract", "path"}
    assert others_passed(data, "zero_pad")


# --- 2. read-only binds --------------------------------------------------------------------------------------------

# Tries to create a file in every folder bound into the sandbox and to write each bound file in place (the same first
# byte back: a writable bind would change its mtime, never its content). Returns the right padding if anything worked.
WRITES_BOUND_PATHS = '''
import json, os
import numpy as np
def zero_pad(X, pad):
    refused, written = {{}}, []
    for folder in {folders!r}:
        try:
            with open(os.path.join(folder, {name!r}), "x") as probe:
                probe.write("written from the sandbox")
            written.append(folder)
        except OSError as error:
            refused[folder] = f"{{type(error).__name__}}: {{error}}"
    for path in {files!r}:
        try:
            fd = os.open(path, os.O_RDWR)
            try:
                os.pwrite(fd, os.pread(fd, 1, 0), 0)
            finally:
                os.close(fd)
            written.append(path)
        except OSError as error:
            refused[path] = f"{{type(error).__name__}}: {{error}}"
    if written:
        return {zero_pad}
    raise ValueError("REPORT" + json.dumps(refused) + "END")
'''


@pytest.fixture
def bound_folders() -> Iterator[tuple[list[str], str]]:
    """Every folder bound into the sandbox that a write could hurt, and a probe name; probes left by a broken build
    are removed afterwards."""
    import numpy

    numpy_folder = Path(numpy.__file__).resolve().parent
    folders = [*grader.grading.sandbox._python_roots(), str(numpy_folder), str(numpy_folder.parent), "/usr", "/usr/lib", "/dev"]
    name = f"grader-probe-{secrets.token_hex(6)}"
    yield folders, name
    for folder in folders:
        probe = Path(folder) / name
        if probe.is_file():
            probe.unlink()


def test_bound_paths_cannot_be_written(tmp_path: Path, assignment: Assignment, solution_cells: dict[str, str],
                                       bound_folders: tuple[list[str], str]) -> None:
    """Fails when the interpreter, NumPy or the worker and course files are bound with ``--bind`` instead of
    ``--ro-bind``: a file dropped in site-packages (a ``.pth``) would run in the grader's next process; and when
    /proc is writable: run as root, the sandbox's root is the host's, and wrote the host's kernel settings
    (``kernel.core_pattern`` ran a command on the host). Each file is written with its own first byte: nothing
    changes even where the write goes through."""
    folders, name = bound_folders
    files = {f"/opt/grader/{name}": grader.grading.sandbox.HERE / name for name in grader.grading.sandbox.WORKER_FILES}
    files |= {f"{grader.grading.sandbox.COURSE_DIR}/{path.name}": path for path in assignment.course_files}
    before = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in files.values()}
    kernel = ["/proc/sys/kernel/core_uses_pid", "/proc/sys/vm/overcommit_memory", "/proc/self/oom_score_adj"]
    spy = WRITES_BOUND_PATHS.format(folders=folders, files=[*sorted(files), *kernel], name=name, zero_pad=ZERO_PAD)
    submission = notebook(tmp_path, "writes_bound_paths", solution_cells, zero_pad=spy)
    out = tmp_path / "out"
    result = run_cli("grade", "cnn_step_by_step", submission, "--out", out, "--sandbox", "bwrap")
    assert result.returncode == 0, result.stderr
    assert [f for f in folders if (Path(f) / name).exists()] == []
    assert {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in files.values()} == before
    data = results(out, "writes_bound_paths")
    assert outcomes(data, "zero_pad") == {"error"}
    refused = inside_report(data, "zero_pad")
    assert set(refused) == {*folders, *files, *kernel}
    assert all("Read-only file system" in why for why in refused.values()), refused
    assert others_passed(data, "zero_pad")


PLANTS = """
import os
import numpy as np
def zero_pad(X, pad):
    for folder in {folders!r}:
        try:
            with open(os.path.join(folder, "planted_by_another.py"), "w") as module:
                module.write("import sys; sys.modules['numpy'].pad = lambda *a, **k: None\\n")
        except OSError:
            pass
    return {zero_pad}
"""
FINDS_PLANTS = """
import os
import numpy as np
def zero_pad(X, pad):
    seen = [folder for folder in {folders!r} if os.path.exists(os.path.join(folder, "planted_by_another.py"))]
    try:
        import planted_by_another
        seen.append("imported")
    except ImportError:
        pass
    if seen:
        raise ValueError(f"SEEN {{seen}}")
    return {zero_pad}
"""


def test_nothing_a_submission_writes_outside_tmp_reaches_the_next(tmp_path: Path, solution_cells: dict[str, str]) -> None:
    """The sandbox's root (bubblewrap's tmpfs, kept by the zygote for every submission) is read-only: a module one
    submission dropped in /opt/course, first on the next submissions' sys.path, ran inside them and read their code."""
    folders = ["/", "/opt", "/opt/course", "/opt/grader", "/etc", "/home"]
    planter = notebook(tmp_path, "planter", solution_cells, zero_pad=PLANTS.format(folders=folders, zero_pad=ZERO_PAD))
    victim = notebook(tmp_path, "victim", solution_cells, zero_pad=FINDS_PLANTS.format(folders=folders, zero_pad=ZERO_PAD))
    out = tmp_path / "out"
    result = run_cli("grade", "cnn_step_by_step", planter, victim, "--out", out, "--sandbox", "bwrap")
    assert result.returncode == 0, result.stderr
    assert results(out, "victim")["score"] == 100, [t["output"] for t in results(out, "victim")["tests"] if t["status"] != "passed"]


# --- 4. failures while loading, deaths by signal, broken callbacks ---------------------------------------------------

DEATHS = {  # name → (zero_pad's source, its outcome, words of the message)
    "segfault": ("import ctypes\ndef zero_pad(X, pad):\n    return ctypes.string_at(0)\n",
                 "crash", "segmentation fault"),
    "killed": ("import os, signal\ndef zero_pad(X, pad):\n    os.kill(os.getpid(), signal.SIGKILL)\n",
               "memory", "the process was killed"),
    # Python ignores SIGXFSZ, so a write past the limit is an ordinary error; with the default action, a death
    "file_too_large": ("def zero_pad(X, pad):\n    with open('/tmp/big', 'wb') as out:\n        out.write(bytes(17 * 2**20))\n",
                       "error", "File too large"),
    # the kernel never applies RLIMIT_NPROC to the host's root, the sandbox's when the grader runs as root
    "too_many_threads": ("import threading, time\ndef zero_pad(X, pad):\n    threading.stack_size(1 << 16)\n"
                         "    for _ in range(200):\n"
                         "        threading.Thread(target=time.sleep, args=(3,), daemon=True).start()\n"
                         "    time.sleep(0.5)\n", "crash", "threads at once"),
    "killed_by_file_size": ("import signal\ndef zero_pad(X, pad):\n    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)\n"
                            "    with open('/tmp/big', 'wb') as out:\n        out.write(bytes(17 * 2**20))\n",
                            "crash", "wrote a file larger than allowed"),
}
LOAD_FAILURES = {  # name → (extra cell, words of the report's error)
    # the alarm that stops a slow cell (worker.Session._load_all) blocked: the grader's own limit ends the load
    "hangs_while_loading": ("import signal\nclass Stuck:\n    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})\n"
                            "    while True:\n        pass\n", "took longer than"),
    # a default argument is evaluated when the def runs, and every def is loaded
    "exits_while_loading": ("import os\ndef helper(x=os._exit(0)):\n    return x\n", "did the code call exit() or os._exit()?"),
}
CALLBACKS = {  # name → (conv_forward's source with zero_pad wrong, words of its message)
    "sends_a_lambda": ("def conv_forward(A_prev, W, b, hparameters):\n    return zero_pad(lambda: 0, 1)\n",
                       "zero_pad was called with a function object"),
    "breaks_the_reference": ("def conv_forward(A_prev, W, b, hparameters):\n    return zero_pad('abc', -1)\n",
                             "zero_pad failed on these arguments: ValueError"),
}


@pytest.fixture(scope="module")
def failures(tmp_path_factory: pytest.TempPathFactory, solution_cells: dict[str, str]) -> Path:
    """One batch, load failures first and a correct submission last: each costs only its own grade."""
    folder = tmp_path_factory.mktemp("failures")
    paths = [notebook(folder, name, solution_cells, cell) for name, (cell, _) in LOAD_FAILURES.items()]
    paths += [notebook(folder, name, solution_cells, zero_pad=source) for name, (source, _, _) in DEATHS.items()]
    paths += [notebook(folder, name, solution_cells, zero_pad=ZERO_PAD_RAISES, conv_forward=source)
              for name, (source, _) in CALLBACKS.items()]
    paths.append(notebook(folder, "correct", solution_cells))
    out = folder / "out"
    result = run_cli("grade", "cnn_step_by_step", *paths, "--out", out, "--sandbox", "bwrap")
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("name", list(LOAD_FAILURES))
def test_a_submission_that_fails_while_loading_gets_a_clear_error(failures: Path, name: str) -> None:
    data = results(failures, name)
    words = LOAD_FAILURES[name][1]
    assert "could not be loaded" in data["output"] and words in data["output"], data["output"]
    assert data["score"] == 0
    assert {t["extra_data"]["outcome"] for t in data["tests"]} == {"error"}
    assert results(failures, "correct")["score"] == 100


def test_a_cell_still_running_while_the_notebook_loads_costs_only_what_needs_it(tmp_path: Path,
                                                                               solution_cells: dict[str, str]) -> None:
    """A top-level loop that never ends, in a cell a graded function needs (extraction keeps it), is stopped and
    named by its statement; the functions that do not need it are graded as usual, and nothing waits for the grader's
    own limit on loading."""
    stuck = "import time\nSCALE = 0\nwhile True:\n    time.sleep(0.01)\n    SCALE += 1\n"
    zero_pad = "def zero_pad(X, pad):\n    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0))) * SCALE\n"
    path = notebook(tmp_path, "stuck", solution_cells, stuck, zero_pad=zero_pad)
    out = tmp_path / "out"
    started = time.monotonic()
    result = run_cli("grade", "cnn_step_by_step", path, "--out", out, "--sandbox", "bwrap")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10 + 5  # stopped at 0.85 of the 10 s limit, not timed out at it
    data = results(out, "stuck")
    assert "could not be loaded" not in data["output"]
    assert "still running when the notebook had been loading for 8.5 s" in data["output"], data["output"]
    assert "line 3, in <module>\n    while True:" in data["output"]  # the statement, not wherever in it the alarm landed
    assert outcomes(data, "zero_pad") == {"wrong"}  # SCALE stopped partway: the answer is scaled, not missing
    assert others_passed(data, "zero_pad") and data["score"] == 90  # conv_forward isolated from zero_pad


@pytest.mark.parametrize("name", list(DEATHS))
def test_a_death_by_signal_costs_only_its_function(failures: Path, name: str) -> None:
    data = results(failures, name)
    _, outcome, words = DEATHS[name]
    assert outcomes(data, "zero_pad") == {outcome}
    assert all(words in t["output"] for t in function_tests(data, "zero_pad")), function_tests(data, "zero_pad")[0]["output"]
    assert others_passed(data, "zero_pad")


@pytest.mark.parametrize("name", list(CALLBACKS))
def test_a_callback_that_cannot_be_answered_costs_only_the_caller(failures: Path, name: str) -> None:
    data = results(failures, name)
    assert outcomes(data, "conv_forward") == {"error"}
    words = CALLBACKS[name][1]
    assert all(words in t["output"] for t in function_tests(data, "conv_forward")), function_tests(data, "conv_forward")[0]["output"]
    assert others_passed(data, "zero_pad", "conv_forward")


def _with_limits(assignment: Assignment, **limits: float) -> Assignment:
    return dataclasses.replace(assignment, limits=dataclasses.replace(assignment.limits, **limits))


def test_cpu_time_is_limited_by_the_sandbox_not_the_wall_clock(tmp_path: Path, assignment: Assignment,
                                                               solution_cells: dict[str, str]) -> None:
    """Fails when the CPU limit is missing, or when its hard limit equals the soft one (the kernel's SIGKILL then
    comes before SIGXCPU and the report says "out of memory?")."""
    # a wall clock of a minute per call, so only the CPU limit (2 s for the submission's process) can end the loop
    limited = _with_limits(assignment, call_seconds=60.0, cpu_seconds=2)
    spins = notebook(tmp_path, "spins", solution_cells, zero_pad="def zero_pad(X, pad):\n    while True:\n        pass\n")
    (report,) = grade_paths(limited, [spins], "bwrap")
    own = [c for c in report.checks if c.function == "zero_pad"]
    assert {c.outcome for c in own} == {"timeout"}
    assert "more CPU time than the limit allows" in own[0].message
    assert all(c.passed for c in report.checks if c.function != "zero_pad")


def test_calls_that_sleep_under_their_limit_meet_the_submissions_wall_clock_budget(
        tmp_path: Path, assignment: Assignment, solution_cells: dict[str, str]) -> None:
    """Sleeping uses no CPU time and each call stays under its own wall limit (5 x 0.2 s), yet dozens of such calls
    would hold the worker for minutes: the submission's calls get 1.5 s of wall clock in all, then the checks left are
    timeouts that say why, and the functions that never sleep, checked first, keep their points."""
    limited = _with_limits(assignment, call_seconds=0.2, submission_seconds=1.5)
    sleepy = "import time\n\ndef conv_forward(A_prev, W, b, hparameters):\n    time.sleep(0.3)\n    return None\n"
    sleeper = notebook(tmp_path, "sleeper", solution_cells, conv_forward=sleepy)
    started = time.monotonic()
    (report,) = grade_paths(limited, [sleeper], "bwrap")
    assert time.monotonic() - started < 30
    later = [c for c in report.checks if c.function not in ("zero_pad", "conv_single_step", "conv_forward")]
    assert later and {c.outcome for c in later} == {"timeout"}
    assert all("1.5 s of wall clock in all" in c.message for c in later), later[0].message
    assert {c.function for c in report.checks if c.passed} == {"zero_pad", "conv_single_step"}


# Everything a child shares with the zygote and the children after it, attacked at once (a red-team pass: each of
# these changed the next submissions' grades, one had an untouched notebook graded on the attacker's functions).
MARKS_WHAT_IT_SHARES = """
import fcntl, json, os, resource, struct

def leave_a_mark():
    for fd in range(3, 64):  # every pipe it holds: non-blocking, packet mode, O_ASYNC, a tiny buffer
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, os.O_NONBLOCK | os.O_DIRECT | fcntl.FASYNC)
            fcntl.fcntl(fd, 1031, 4096)
        except OSError:
            pass
    for which in (resource.RLIMIT_NOFILE, resource.RLIMIT_AS, resource.RLIMIT_CPU):  # the zygote's limits
        try:
            resource.prlimit(os.getppid(), which, (12, 12))
        except OSError:
            pass
    body = json.dumps({"op": "exited", "code": 0, "$blobs": []}).encode()
    for fd in range(8):  # forged words of the zygote, on whatever PID 1 holds
        try:
            out = os.open(f"/proc/1/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
            os.write(out, (struct.pack("!I", len(body)) + body) * 20)
        except OSError:
            pass

def runs_when_loaded(mark=leave_a_mark()):  # a default runs as the notebook loads: definitions are always kept
    return mark
"""


def test_nothing_a_submission_does_to_what_it_shares_reaches_the_next(tmp_path: Path, assignment: Assignment,
                                                                       solution_cells: dict[str, str]) -> None:
    hostile = notebook(tmp_path, "hostile", solution_cells, MARKS_WHAT_IT_SHARES)
    correct = notebook(tmp_path, "correct", solution_cells)
    reports = list(grade_paths(assignment, [hostile, correct, correct], "bwrap"))
    assert [r.score for r in reports[1:]] == [100, 100], [c.message for c in reports[1].checks if not c.passed][:2]


def test_a_child_can_neither_read_nor_set_the_zygotes_resource_limits(tmp_path: Path, assignment: Assignment,
                                                                       solution_cells: dict[str, str]) -> None:
    """prlimit is allowed on the child itself only. The test above catches a zygote whose limits a child set only
    when the zygote's failure shows in the next grades: one that died of it and was started again graded them right
    (CI's selftest saw the mutation that allows the zygote's PID survive it once). This asks the kernel directly."""
    asks = ("import os, resource\ndef zero_pad(X, pad):\n    try:\n"
            "        resource.prlimit(os.getppid(), resource.RLIMIT_CPU, (12, 12))\n"
            "    except OSError as error:\n        raise ValueError(f'refused: errno {error.errno}') from None\n"
            "    raise ValueError(f'the limit of {os.getppid()} was set')\n")
    (report,) = grade_paths(assignment, [notebook(tmp_path, "asks", solution_cells, zero_pad=asks)], "bwrap")
    said = next(c.message for c in report.checks if c.function == "zero_pad")
    assert f"refused: errno {errno.EPERM}" in said, said


def test_the_sandboxs_pid_1_holds_nothing_of_the_graders(tmp_path: Path, assignment: Assignment,
                                                          solution_cells: dict[str, str]) -> None:
    """bubblewrap's init keeps its standard streams: the zygote's channel must not be among them."""
    lists = ("import os\ndef zero_pad(X, pad):\n    raise ValueError(' '.join(os.readlink(f'/proc/1/fd/{fd}') "
             "for fd in os.listdir('/proc/1/fd')))\n")
    (report,) = grade_paths(assignment, [notebook(tmp_path, "lists", solution_cells, zero_pad=lists)], "bwrap")
    held = next(c.message for c in report.checks if c.function == "zero_pad")
    assert "/dev/null" in held and "pipe:" not in held and "socket:" not in held, held


def test_a_sandbox_that_does_not_start_costs_one_report_not_the_batch(tmp_path: Path, assignment: Assignment,
                                                                     solution_cells: dict[str, str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A sandbox that cannot start is the grader's failure, said so to the student; the next submission starts one."""
    real = grader.grading.sandbox.bwrap_command
    broken = [True]

    def exits_at_once_while_broken(*args: Any) -> list[str]:
        return ["sh", "-c", "exit 3"] if broken[0] else real(*args)

    monkeypatch.setattr(grader.grading.sandbox, "bwrap_command", exits_at_once_while_broken)
    paths = [notebook(tmp_path, name, solution_cells) for name in ("first", "second")]
    reports = grade_paths(assignment, paths, "bwrap")
    first = next(reports)
    broken[0] = False  # the machine is fixed: the next submission must start a sandbox again and be graded
    (second,) = reports
    assert "the sandbox did not start" in first.error and "grader could not run" in first.error, first.error
    assert "course staff" in first.error and "notebook's definitions" not in first.error
    assert {c.outcome for c in first.checks} == {GRADER_ERROR}  # never counted as the student's error
    assert (second.error, second.score) == ("", 100)


# --- 5. no student code without the seccomp filter -------------------------------------------------------------------


def _libseccomp_path() -> str:
    """The file the dynamic loader maps for libseccomp.so.2 on this machine."""
    ctypes.CDLL("libseccomp.so.2")
    with open("/proc/self/maps") as maps:
        return next(line.split()[-1] for line in maps if "libseccomp" in line)


# Leaves a mark on the host (a folder the test binds in for this purpose) when it is loaded and when it is called.
LEAVES_A_MARK = '''
import numpy as np
def mark(when):
    with open("/markers/" + when, "w") as out:
        out.write("student code ran")
    return when
def zero_pad(X, pad, when=mark("loaded")):
    mark("called")
    return {zero_pad}
'''


def before_the_root_is_read_only(command: list[str]) -> int:
    """Where more mounts can go in the sandbox's command: before its root is remounted read-only."""
    return next(at for at in range(len(command)) if command[at:at + 2] == ["--remount-ro", "/"])


def test_no_student_code_runs_when_seccomp_cannot_be_applied(tmp_path: Path, assignment: Assignment,
                                                             solution_cells: dict[str, str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails when the worker runs student code without its filter (``_lock_down()`` not called, or its failure
    ignored)."""
    markers = tmp_path / "markers"
    markers.mkdir()
    real = grader.grading.sandbox.bwrap_command
    library = _libseccomp_path()

    def without_libseccomp(*args: Any) -> list[str]:
        command = real(*args)
        at = before_the_root_is_read_only(command)
        return [*command[:at], "--ro-bind", "/dev/null", library, "--bind", str(markers), "/markers", *command[at:]]

    monkeypatch.setattr(grader.grading.sandbox, "bwrap_command", without_libseccomp)
    submission = notebook(tmp_path, "leaves_a_mark", solution_cells, zero_pad=LEAVES_A_MARK.format(zero_pad=ZERO_PAD))
    (report,) = grade_paths(assignment, [submission], "bwrap")
    assert "grader could not run this submission safely" in report.error and "libseccomp" in report.error, report.error
    assert "course staff" in report.error
    assert {c.outcome for c in report.checks} == {GRADER_ERROR}  # never counted as the student's error
    assert sorted(os.listdir(markers)) == []


def test_the_mark_shows_when_student_code_runs(tmp_path: Path, assignment: Assignment,
                                                        solution_cells: dict[str, str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The control for the test above: with libseccomp in place the same notebook runs and leaves both marks, so
    an empty marker folder there means nothing ran, not that the mark could not be seen."""
    markers = tmp_path / "markers"
    markers.mkdir()
    real = grader.grading.sandbox.bwrap_command

    def with_markers(*args: Any) -> list[str]:
        command = real(*args)
        at = before_the_root_is_read_only(command)
        return [*command[:at], "--bind", str(markers), "/markers", *command[at:]]

    monkeypatch.setattr(grader.grading.sandbox, "bwrap_command", with_markers)
    submission = notebook(tmp_path, "leaves_a_mark", solution_cells, zero_pad=LEAVES_A_MARK.format(zero_pad=ZERO_PAD))
    (report,) = grade_paths(assignment, [submission], "bwrap")
    assert (report.error, report.score) == ("", 100)
    assert sorted(os.listdir(markers)) == ["called", "loaded"]

