"""Starts the worker inside bubblewrap and manages its life: limits, timeouts, restarts.

One worker process (a "zygote" with NumPy already imported) serves many submissions; each
submission runs in a fresh child forked from it, so start-up is paid once per job. The zygote
speaks on a control channel, the child on a data channel (channel.py: every exchange under a
deadline); only plain data comes back (wire.py), and every string is cleaned as it arrives. On a
timeout the zygote kills the child; on a crash or a memory error only the child is lost, and the
submission is loaded again for the checks that remain. A zygote that does not answer is killed
with its whole sandbox and started again.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader import ONE_BLAS_THREAD
from grader.config import Limits
from grader.errors import UsageError
from grader.grading.channel import Channel, ChannelClosed, Interrupted
from grader.text import clean_text

if TYPE_CHECKING:  # types only: prestart needs neither module (grader.model's dataclasses took ~6 ms before it)
    from grader.grading.callbacks import ReferenceRunner
    from grader.model import Submission
    from grader.running.environments import Environment

# NumPy (through wire and callbacks) is imported where a call is made, not here: ``prestart`` starts the sandbox
# before the grader imports NumPy, so that the two imports (here and in the sandbox) overlap.

HERE = Path(__file__).resolve().parent  # worker.py and wire.py, bound into the sandbox
PACKAGE = HERE.parent  # the whole grader package: hidden in the sandbox when it lies in a bound folder
WORKER_FILES = ("worker.py", "wire.py")
START_SECONDS = 30.0
END_SECONDS = 5.0  # for the zygote to kill a child and clean up after it
TMPFS_MB = 64  # the private /tmp (and 16 MB for /dev/shm): files are memory, so they are capped too
QUEUE_BYTES = 32 * 1024  # a call queued behind another (its arguments'): two fit in a pipe, whatever the first's size
MESSAGE_CHARS = 8192  # an exception message or load error as shown to anyone
#: ``call_seconds`` is CPU time of the student's own process, read from the kernel's count for the child: a machine
#: busy with other work does not make a correct call time out, and the reference answering the child's calls
#: (isolation) is not counted. A call that waits instead of computing (for input, a lock, the reference working on
#: enormous arguments) ends after this many times ``call_seconds`` of wall clock.
WALL_FACTOR = 5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
QUIET_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    **ONE_BLAS_THREAD,
    "MPLBACKEND": "Agg",
    "LANG": "C.UTF-8",
}


def resolve_mode(requested: str) -> str:
    """``auto`` means bubblewrap when it is installed and usable, else an unisolated process."""
    if requested not in ("auto", "bwrap", "none"):
        raise UsageError(f"--sandbox must be auto, bwrap or none, not {requested!r}")
    if requested == "none":
        return "none"
    usable = shutil.which("bwrap") is not None and _bwrap_works()
    if requested == "bwrap" and not usable:
        raise UsageError("--sandbox bwrap: bubblewrap is not installed or cannot create namespaces here "
                         "(install the Debian package 'bubblewrap')")
    return "bwrap" if usable else "none"


def likely_mode(requested: str) -> str:
    """What ``resolve_mode`` will most likely say, without its probe: to start a sandbox while the probe runs (a
    sandbox started in the wrong mode is never taken: see ``take_started``)."""
    return "none" if requested == "none" or shutil.which("bwrap") is None else "bwrap"


PROBE = ["bwrap", "--unshare-all", "--ro-bind", "/", "/", "true"]
_probe: subprocess.Popen[bytes] | None = None


def probe_ahead() -> None:
    """Start ``resolve_mode``'s bubblewrap probe now (~0.015 s), so that it runs while the grader imports NumPy; the
    next ``resolve_mode`` takes its answer."""
    global _probe
    if _probe is None and shutil.which("bwrap") is not None:
        try:
            _probe = subprocess.Popen(PROBE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            pass


def _bwrap_works() -> bool:
    global _probe
    probe, _probe = _probe, None
    try:
        if probe is None:
            return subprocess.run(PROBE, capture_output=True, timeout=10).returncode == 0
        return probe.wait(timeout=10) == 0
    except (OSError, subprocess.TimeoutExpired):
        if probe is not None:
            probe.kill()
            probe.wait()
        return False


def worker_user() -> tuple[int, int] | None:
    """(uid, gid) the unisolated worker runs as: ``GRADER_WORKER_USER`` names it, for ``--sandbox none`` as root
    (Gradescope's container, where bubblewrap usually cannot run). As another user, student code cannot write the
    grader's code, its results or anything else root owns, nor read what only root may (the bundled hidden tests,
    the course key). Refused rather than ignored when it cannot be honoured."""
    name = os.environ.get("GRADER_WORKER_USER", "")
    if not name:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise UsageError(f"GRADER_WORKER_USER={name!r}: no such user") from None
    if entry.pw_uid == 0:
        raise UsageError(f"GRADER_WORKER_USER={name!r} is root: name an unprivileged user such as nobody")
    if os.geteuid() != 0:
        raise UsageError(f"GRADER_WORKER_USER={name!r} needs the grader to run as root, to switch to that user")
    return entry.pw_uid, entry.pw_gid


def _python_roots() -> list[str]:
    """Folders the worker's interpreter and NumPy live in: the only ones bound into the sandbox."""
    numpy = importlib.util.find_spec("numpy")  # found, not imported: the sandbox starts before the grader imports it
    if numpy is None or numpy.origin is None:
        raise UsageError("NumPy is not installed in the grader's environment")
    roots = {sys.base_prefix, sys.prefix, str(Path(numpy.origin).resolve().parent.parent)}
    roots.add(str(Path(sys.executable).resolve().parent.parent))
    ordered = sorted(r for r in roots if not r.startswith("/usr/"))
    return [r for r in ordered if not any(r != o and r.startswith(o + "/") for o in ordered)]


COURSE_DIR = "/opt/course"  # the assignment's helper modules and data files, read-only, as beside the notebook


def bwrap_command(data_fds: tuple[int, ...], files: tuple[Path, ...] = (), environment: Environment | None = None) -> list[str]:
    """The sandbox's command line. With ``environment``, its interpreter runs the worker, and only its folders (and
    its base Python's, whose own site-packages are hidden) are bound: none of the grader's packages can be seen."""
    # /proc read-only: the sandbox's root is the host's root (a grader run as root maps it so), and the kernel lets that
    # root write the host's /proc/sys without any capability (a notebook set kernel.core_pattern and ran a command on
    # the host as root: red-team finding)
    command = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
               "--proc", "/proc", "--remount-ro", "/proc",
               "--dev", "/dev", "--size", str(16 << 20), "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
               "--size", str(TMPFS_MB << 20), "--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
    for link in ("lib", "lib64", "bin", "sbin"):
        if os.path.islink(f"/{link}"):
            command += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif os.path.isdir(f"/{link}"):
            command += ["--ro-bind", f"/{link}", f"/{link}"]
    for path in ("/etc/ld.so.cache", "/etc/alternatives", "/etc/localtime"):
        command += ["--ro-bind-try", path, path]
    roots = list(environment.roots) if environment else _python_roots()
    masked = environment.masked if environment else ()
    for root in roots:
        command += ["--ro-bind", root, root]
    for folder in masked:
        command += ["--tmpfs", folder, "--remount-ro", folder]
    if any(str(PACKAGE).startswith(root + "/") for root in roots) and not any(str(PACKAGE).startswith(m + "/") for m in masked):
        command += ["--tmpfs", str(PACKAGE)]  # installed from a wheel: the package stays out of sight all the same
    for name in WORKER_FILES:
        command += ["--ro-bind", str(HERE / name), f"/opt/grader/{name}"]
    compiled = None if environment or coverage_folder() else worker_bytecode()
    if compiled:
        command += ["--ro-bind", str(compiled), "/opt/grader/__pycache__"]
    for course_file in files:
        command += ["--ro-bind", str(course_file), f"{COURSE_DIR}/{course_file.name}"]
    # The root is bubblewrap's own tmpfs, which outlives every submission of the zygote: writable, a module dropped in
    # /opt/course (first on the children's sys.path) ran in the next submissions, and read their code.
    measured = coverage_folder()
    if measured:  # measurement only: the one folder coverage writes to, nothing else becomes writable (bound before
        command += ["--bind", measured, measured]  # the remount: its parents are made on the root, then read-only)
    command += ["--remount-ro", "/", "--chdir", "/tmp", "--clearenv"]
    for key, value in {**QUIET_ENV, "HOME": "/tmp", "GRADER_SANDBOX": "bwrap"}.items():
        command += ["--setenv", key, value]
    python, runner = (environment.python, []) if environment else (sys.executable, _coverage_runner())
    start = ["/opt/grader/worker.py"] if runner else ["-c", LAUNCH]  # imported, the worker's bytecode is used
    return [*command, python, "-E", "-s", "-B", *runner, *start, *map(str, data_fds)]


#: worker.py imported as a module rather than run as a script (whose code Python always compiles), from its folder
#: as a script would be; the garbage collector off while it imports NumPy (some forty collections, ~8 ms of the
#: sandbox's start): worker.main turns it back on, all that was imported frozen, before any child is forked.
LAUNCH = "import gc; gc.disable(); import sys; sys.path[0] = '/opt/grader'; import worker; worker.main()"


def worker_bytecode() -> Path | None:
    """worker.py's and wire.py's bytecode for this Python, compiled once into the user's cache and bound read-only
    as /opt/grader/__pycache__ (the sandbox would compile both, ~8 ms, each time it starts). Checked against the
    sources by hash as they load, so a stale folder is only slower; None when it cannot be written."""
    from grader.config import user_cache

    tag = sys.implementation.cache_tag
    if tag is None:
        return None
    sources = [HERE / name for name in WORKER_FILES]
    stamp = "-".join(f"{p.stat().st_size}.{p.stat().st_mtime_ns}" for p in sources)
    folder = user_cache("worker-bytecode", f"{tag}-{stamp}")
    if folder.is_dir():
        return folder
    import py_compile  # here: every start but the first finds the folder built
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix=".build-", dir=folder.parent))
    except OSError:
        return None
    try:
        for source in sources:
            py_compile.compile(str(source), cfile=str(build / f"{source.stem}.{tag}.pyc"), dfile=f"/opt/grader/{source.name}",
                               doraise=True, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
        build.rename(folder)
    except (OSError, py_compile.PyCompileError):
        shutil.rmtree(build, ignore_errors=True)
        return folder if folder.is_dir() else None  # another grader's build won the rename: its folder is as good
    return folder


def coverage_folder() -> str:
    """``GRADER_COVERAGE``: measurement only (``make coverage``), off by default. A folder holding ``coveragerc``,
    where the worker, run under coverage.py, writes its data."""
    return os.environ.get("GRADER_COVERAGE", "")


def _coverage_runner() -> list[str]:
    measured = coverage_folder()
    return ["-m", "coverage", "run", f"--rcfile={measured}/coveragerc"] if measured else []


@dataclass(frozen=True)
class CallOutcome:
    """What one call of a student's function came to, as plain data."""

    status: str  # returned | raised | memory | unencodable | timeout | crash
    value: Any = None
    changed: dict[int | str, Any] = field(default_factory=dict)  # argument (position or keyword) → its new value
    message: str = ""
    output: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class Loaded:
    defined: tuple[str, ...]
    errors: tuple[str, ...]
    failure: str = ""  # set when the submission could not be loaded at all
    unsafe: bool = False  # the sandbox did not start or could not be locked down: the grader's fault, not the student's


class WorkerDied(Exception):
    pass


def _describe_exit(code: int) -> tuple[str, str]:
    from grader.grading import wire

    if code == wire.TOO_MANY_THREADS:
        return "crash", f"it ran more than {wire.MAX_THREADS} threads at once, more than the sandbox allows"
    if code == -signal.SIGXCPU:
        return "timeout", "it used more CPU time than the limit allows (an infinite loop?)"
    if code == -signal.SIGXFSZ:
        return "crash", "it wrote a file larger than allowed"
    if code == -signal.SIGSEGV:
        return "crash", "the process crashed (segmentation fault; very deep recursion?)"
    if code == -signal.SIGKILL:
        return "memory", "the process was killed (out of memory?)"
    if code < 0:
        return "crash", f"the process was killed by signal {signal.Signals(-code).name}"
    return "crash", f"the process exited (exit code {code}): did the code call exit() or os._exit()?"


def _seconds(value: Any) -> float:
    """A duration that came out of the sandbox: a finite number of seconds, 0 for anything else (an int too large for
    a float, NaN)."""
    try:
        seconds = float(value) if type(value) in (int, float) else 0.0
    except OverflowError:
        return 0.0
    return seconds if 0.0 <= seconds < 1e9 else 0.0


def _text(value: Any, limit: int = MESSAGE_CHARS) -> str:
    """A string that came out of the sandbox, as the grader may show it."""
    return clean_text(value if isinstance(value, str) else "", limit)


class Worker:
    """A sandboxed zygote process and the child of the current submission. Not thread-safe: one per job."""

    def __init__(self, mode: str, limits: Limits, files: tuple[Path, ...] = (), environment: Environment | None = None) -> None:
        self.mode = mode
        self.environment = environment  # whose interpreter runs student code (None: the grader's own)
        self.limits = limits
        self.files = files
        self.course_dir = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.control: Channel | None = None
        self.data: Channel | None = None
        self.scratch: tempfile.TemporaryDirectory[str] | None = None
        self.current: tuple[Submission, list[str]] | None = None
        self.child_alive = False
        self.ready = False
        self.runner: ReferenceRunner | None = None
        self._loading = 0.0  # the deadline of the notebook's definitions being loaded
        self.reference_pipes: tuple[int, ...] = ()  # the runner's ends of the child's line to it: requests, replies
        self.meter_line: Any = None  # a socket: the zygote sends each child's /proc stat file on it
        self.meter = -1  # the current child's stat file (-1: none, wall-clock time is counted)
        self.queued: str | None = None  # the function of the call queued behind the running one (``call``'s ``then``)
        self._queued_from: tuple[float, float | None] = (0.0, None)  # when it started: wall clock, the child's CPU

    def use_reference(self, reference: Any) -> None:
        """The reference functions that answer the child's calls of graded functions it may not run itself."""
        from grader.grading.callbacks import ReferenceRunner

        self.runner = ReferenceRunner(reference, self.limits.memory_mb) if reference is not None else None

    # --- the zygote's life -------------------------------------------------------------------

    def start(self) -> None:
        import _socket

        self.meter_line, meter = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_DGRAM)
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        requests_r, requests_w = os.pipe()  # the child's own line to the reference runner (grading/callbacks.py)
        replies_r, replies_w = os.pipe()
        control_in_r, control_in_w = os.pipe()  # not the zygote's stdin/stdout: see worker.py
        control_out_r, control_out_w = os.pipe()
        data_fds = (control_in_r, control_out_w, meter.fileno(), to_child_r, from_child_w, requests_w, replies_r)
        switch: dict[str, Any] = {}
        if self.mode == "bwrap":
            command, env, cwd = bwrap_command(data_fds, self.files, self.environment), dict(QUIET_ENV), None
            self.course_dir = COURSE_DIR if self.files else ""
        else:
            self.scratch = tempfile.TemporaryDirectory(prefix="grader-worker-")
            python, runner = (self.environment.python, []) if self.environment else (sys.executable, _coverage_runner())
            command = [python, "-E", "-s", "-B", *runner, str(HERE / "worker.py"), *map(str, data_fds)]
            home = Path(self.scratch.name) / "home"  # wiped after each submission, so the course files are beside it
            home.mkdir()
            env, cwd = {**QUIET_ENV, "HOME": str(home), "GRADER_SANDBOX": "none"}, str(home)
            self.course_dir = self._copy_files(Path(self.scratch.name) / "course") if self.files else ""
            user = worker_user()
            if user is not None:  # the worker owns home/ (it wipes it after each submission), nothing else: the course
                os.chown(home, *user)  # files stay root's, so no submission can change what the next one imports
                os.chmod(self.scratch.name, 0o711)
                switch = {"user": user[0], "group": user[1], "extra_groups": []}
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True,
                                            pass_fds=data_fds, **switch)
        except BaseException:
            for fd in (control_in_w, control_out_r, to_child_w, from_child_r, requests_r, replies_w):
                os.close(fd)
            raise
        finally:
            meter.close()
            for fd in data_fds:
                if fd != data_fds[2]:
                    os.close(fd)
        self.reference_pipes = (requests_r, replies_w)
        self.control = Channel(control_out_r, control_in_w)
        self.data = Channel(from_child_r, to_child_w, watch=control_out_r)
        self.ready = False  # its "ready" message is read on first use, so start-up overlaps the caller's work

    def _copy_files(self, folder: Path) -> str:
        folder.mkdir()
        for path in self.files:
            shutil.copyfile(path, folder / path.name)
        return str(folder)

    def _await_ready(self, seconds: float = START_SECONDS) -> None:
        assert self.control
        message, _ = self.control.receive(time.monotonic() + seconds)
        if message.get("op") == "unsafe":
            raise WorkerDied(f"the sandbox could not be locked down: {_text(message.get('message'), 300)}")
        if message.get("op") != "ready":
            raise WorkerDied("the worker did not start")
        self.ready = True

    def stop(self) -> None:
        if self.process is not None and self.control is not None and coverage_folder():
            os.close(self.control.write_fd)  # measurement only: the zygote ends on its own and saves its coverage data
            self.control.write_fd = -1
            try:
                self.process.wait(END_SECONDS)
            except subprocess.TimeoutExpired:
                pass
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except OSError:
                pass
            self.process.wait()
            self.process = None
        if self.control is not None:
            self.control.close()
        if self.data is not None:
            self.data.close()
            self.data = None
        if self.runner is not None:
            self.runner.stop()
        for fd in self.reference_pipes:
            os.close(fd)
        self.reference_pipes = ()
        self._drop_meter()
        if self.meter_line is not None:
            self.meter_line.close()
            self.meter_line = None
        self.control = None
        self.child_alive = False
        if self.scratch is not None:
            self.scratch.cleanup()
            self.scratch = None

    def close(self) -> None:
        """Stop the sandbox and the reference runner: the end of a job."""
        self.stop()
        if self.runner is not None:
            self.runner.stop()

    def _child_exited(self, deadline: float) -> int:
        """Read the zygote's report that the child is gone (its exit code), then drop what the child left unread."""
        assert self.control and self.data
        try:
            message, _ = self.control.receive(deadline)
        except (TimeoutError, ChannelClosed) as error:
            self.stop()
            raise WorkerDied("the sandbox stopped answering") from error
        self.child_alive = False
        self.data.drain()
        if self.runner is not None:  # it served this child only: what the child left in its pipes dies with it
            self.runner.stop()
        if message.get("op") != "exited" or type(message.get("code")) is not int:
            self.stop()
            raise WorkerDied("the sandbox sent an unexpected message")
        return int(message["code"])

    def _end_child(self) -> None:
        """Have the zygote kill the current child; restart everything if it does not answer."""
        if not self.child_alive or self.control is None:
            return
        deadline = time.monotonic() + END_SECONDS
        try:
            self.control.send({"op": "end"}, [], deadline)
            self._child_exited(deadline)
        except (TimeoutError, ChannelClosed, Interrupted, WorkerDied):
            self.stop()

    # --- one submission ------------------------------------------------------------------------

    def load(self, submission: Submission, functions: list[str]) -> Loaded:
        """Fork a child for ``submission``; restart the whole sandbox first if it is gone."""
        return self.begin_load(submission, functions) or self.finish_load()

    def begin_load(self, submission: Submission, functions: list[str]) -> Loaded | None:
        """``load`` in two halves, so that the caller works while the sandbox runs the notebook's definitions: this
        one sends them (or gives the Loaded that says why it could not), ``finish_load`` waits for the answer. A
        sandbox still starting gets them at once too (a pipe holds them), so its start-up also overlaps that work."""
        self.current, self.queued = (submission, functions), None
        if self.process is None or self.process.poll() is not None:
            self.stop()
            self.start()
        assert self.control and self.data
        self._drop_meter()
        limits = {"memory_mb": self.limits.memory_mb, "cpu_seconds": self.limits.cpu_seconds,
                  "output_kb": self.limits.output_kb}
        chunks = [{"cell": c.cell, "line": c.line, "code": c.code} for c in submission.chunks]
        self._loading = time.monotonic() + self._load_seconds() + (0.0 if self.ready else START_SECONDS)
        try:
            self.control.send({"op": "load", "chunks": chunks, "functions": functions, "limits": limits,
                               "load_seconds": self._load_seconds(),
                               "course_dir": self.course_dir}, [], self._loading)
            self.child_alive = True
        except (TimeoutError, ChannelClosed) as error:
            if not self.ready:
                reason: Exception = error
                try:  # a zygote that could not lock itself down says so before it exits
                    self._await_ready(seconds=1.0)
                except (TimeoutError, ChannelClosed, WorkerDied) as said:
                    reason = said
                return self._not_started(reason)
            self._end_child()
            if isinstance(error, ChannelClosed):
                return Loaded((), (), failure=f"the sandbox failed while loading the notebook: {error}")
            return Loaded((), (), failure=f"loading the notebook's definitions took longer than {self._load_seconds():.0f} s")
        return None

    def _not_started(self, error: Exception) -> Loaded:
        """No student code has run yet, so this is the grader's failure, never the notebook's."""
        self.stop()
        return Loaded((), (), failure=f"the sandbox did not start ({str(error) or 'timeout'})", unsafe=True)

    def _load_seconds(self) -> float:
        return max(10.0, 2 * self.limits.call_seconds)

    def finish_load(self, again: bool = True) -> Loaded:
        """The answer to ``begin_load``. A sandbox that never forked the notebook's process (no word from it by the
        deadline: a zygote stopped or wedged, whatever did it) is the grader's failure, never the notebook's: it is
        started anew and the notebook loaded once more (``again``)."""
        if not self.ready:
            try:
                self._await_ready()
            except (TimeoutError, ChannelClosed, WorkerDied) as error:
                return self._not_started(error)
            self._loading = time.monotonic() + self._load_seconds()  # the zygote reads the definitions now
        assert self.control and self.data and self.current
        deadline, seconds, functions = self._loading, self._load_seconds(), self.current[1]
        locked = False
        try:
            message, _ = self.data.receive(deadline)
            if message.get("op") == "unsafe":  # said before any student code ran: only the worker's own word
                self._end_child()
                return Loaded((), (), failure="the sandbox could not be locked down "
                                              f"({_text(message.get('message'), 300)}); no student code was run", unsafe=True)
            if message.get("op") == "locked":
                locked = True
                message, _ = self.data.receive(deadline)
        except TimeoutError:
            if not locked:
                self.stop()
                if again:
                    return self.begin_load(*self.current) or self.finish_load(again=False)
                return self._not_started(TimeoutError(f"no process for the notebook within {seconds:.0f} s"))
            self._end_child()
            return Loaded((), (), failure=f"loading the notebook's definitions took longer than {seconds:.0f} s")
        except Interrupted:
            try:
                code = self._child_exited(deadline)
            except WorkerDied as error:
                return Loaded((), (), failure=f"the sandbox failed while loading the notebook: {error}")
            return Loaded((), (), failure="loading the notebook's definitions " + _describe_exit(code)[1])
        except ChannelClosed as error:
            self._end_child()
            return Loaded((), (), failure=f"the sandbox failed while loading the notebook: {error}")
        if message.get("op") != "loaded":
            self._end_child()
            return Loaded((), (), failure="the sandbox sent an unexpected message while loading the notebook (did its code "
                                          "write to a file descriptor it did not open?)")
        defined = message.get("defined")
        errors = message.get("errors")
        defined = tuple(name for name in functions if isinstance(defined, list) and name in defined)
        problems = tuple(f"cell {e.get('cell')}: {_text(e.get('error'))}" for e in (errors if isinstance(errors, list) else [])
                         if isinstance(e, dict) and type(e.get("cell")) is int)
        self._take_meter(min(deadline, time.monotonic() + END_SECONDS))  # sent as the child was forked
        return Loaded(defined, problems[:50])

    def _take_meter(self, deadline: float) -> None:
        """The zygote's message for the new child, sent as it forked it: the child's stat file, or none."""
        meter = self._next_meter(max(0.0, deadline - time.monotonic()))
        self.meter = -1 if meter is None else meter

    def _drop_meter(self) -> None:
        """Close the last child's stat file, and any the zygote sent that was not taken (a load that failed)."""
        if self.meter >= 0:
            os.close(self.meter)
            self.meter = -1
        while (left := self._next_meter(0.0)) is not None:
            if left >= 0:
                os.close(left)

    def _next_meter(self, seconds: float) -> int | None:
        """The file in the zygote's next message on the meter line (-1: none), or None if none came in ``seconds``."""
        import _socket
        import select

        if self.meter_line is None or not select.select([self.meter_line], [], [], seconds)[0]:
            return None
        try:
            _, extra, _, _ = self.meter_line.recvmsg(1, _socket.CMSG_SPACE(4))
        except OSError:
            return None
        for level, kind, data in extra:  # room for one file: the kernel closes any more it was sent
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS and len(data) >= 4:
                return int.from_bytes(data[:4], sys.byteorder)
        return -1

    def cpu_seconds(self) -> float | None:
        """CPU seconds the current child has used, every thread counted; None without its stat file."""
        if self.meter < 0:
            return None
        try:
            line = os.pread(self.meter, 1024, 0)
            fields = line[line.rfind(b")") + 2:].split()  # after the name, which the child can set to anything
            return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
        except (OSError, ValueError, IndexError):
            return None

    def end(self) -> None:
        """Finish the current submission: its child and anything it started are gone afterwards."""
        self.current = self.queued = None
        self._end_child()

    def call(self, function: str, args: tuple[Any, ...], kwargs: dict[str, Any], stubs: frozenset[str] = frozenset(),
             then: tuple[tuple[Any, ...], dict[str, Any]] | None = None) -> CallOutcome:
        """Call ``function`` in the child. ``stubs`` name the graded functions whose calls the reference answers.
        ``then``: the arguments of the next call of ``function`` (no stubs), queued behind this one if its request is
        small: the child starts it as soon as it has answered this one, while the caller judges that answer;
        ``take_queued`` collects it (a call made first drops it).

        After a crash or timeout the next call first loads the submission again in a new child.
        """
        if self.queued is not None:  # never collected: answered (and dropped) first, so that answers never cross
            self.take_queued()
        if not self.child_alive and self.current:
            reloaded = self.load(*self.current)
            if reloaded.failure:
                return CallOutcome("crash", message=f"the submission could not be loaded again: {reloaded.failure}")
        assert self.data
        limit, started, before = self.limits.call_seconds, time.monotonic(), self.cpu_seconds()
        if self.runner is not None:
            try:
                self.runner.allow(stubs, self.reference_pipes, started + limit)
            except TimeoutError:
                return self._timed_out(function, before, started)
        try:
            self.data.send(*self._request(function, args, kwargs, stubs), started + limit)
            if then is not None and not stubs:
                self._queue(function, then, started + limit)  # the child has read this call's: room for it
        except (TimeoutError, Interrupted, ChannelClosed) as error:
            return self._failed(error, function, before, started)
        return self._answer(function, stubs, started, before)

    def queue(self, function: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Start a call (no stubs) that ``take_queued`` will collect, when no call is running: the caller has its
        answer to judge first. Nothing is queued (``queued`` stays None) if its request is large or the child gone."""
        if self.queued is not None or not self.child_alive or self.data is None:
            return
        started, before = time.monotonic(), self.cpu_seconds()
        try:
            self._queue(function, (args, kwargs), started + self.limits.call_seconds)
        except (TimeoutError, ChannelClosed, Interrupted):  # nothing queued: the call made instead meets it again
            return
        self._queued_from = (started, before)

    def _queue(self, function: str, arguments: tuple[tuple[Any, ...], dict[str, Any]], deadline: float) -> None:
        assert self.data
        request, blobs = self._request(function, *arguments, frozenset())
        if sum(map(len, blobs)) + len(str(request)) <= QUEUE_BYTES:
            self.data.send(request, blobs, deadline)
            self.queued = function

    def take_queued(self) -> CallOutcome | None:
        """The answer to the call ``call`` queued (None if none is), its time counted from the answer before."""
        function, self.queued = self.queued, None
        if function is None:
            return None
        started, before = self._queued_from
        if not self.child_alive:  # lost with the child that timed out or crashed before it: never run
            return None
        return self._answer(function, frozenset(), started, before)

    @staticmethod
    def _request(function: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                 stubs: frozenset[str]) -> tuple[dict[str, Any], list[bytes]]:
        from grader.grading import wire

        blobs: list[bytes] = []
        return {"op": "call", "function": function, "args": wire.encode([list(args), kwargs], blobs),
                "stubs": sorted(stubs)}, blobs

    def _answer(self, function: str, stubs: frozenset[str], started: float, before: float | None) -> CallOutcome:
        """Wait for the answer to the call the child is running, within its limit of CPU time (see ``call_seconds``)."""
        assert self.data
        limit = self.limits.call_seconds
        deadline, ceiling = started + limit, started + WALL_FACTOR * limit
        runner = self.runner
        try:
            while True:
                watched = (runner.pidfd,) if runner is not None and runner.running else ()
                try:
                    self.data.wait(deadline, also=watched)
                    break
                except TimeoutError:  # as much wall clock as the limit: has the child used as much CPU time?
                    now, spent = time.monotonic(), self._spent(before, started)
                    if spent >= limit or now >= ceiling:
                        raise
                    deadline = min(now + max(limit - spent, 0.02), ceiling)
                except Interrupted as stop:
                    if not watched or stop.fd != watched[0]:
                        raise
                    self._runner_died(stubs, deadline)
            message, reply_blobs = self.data.receive(ceiling)  # the answer, begun: it has until the ceiling to finish
            if self.queued is not None:  # the queued call starts now
                self._queued_from = (time.monotonic(), self.cpu_seconds())
        except (TimeoutError, Interrupted, ChannelClosed) as error:
            return self._failed(error, function, before, started)
        return self._outcome(message, reply_blobs)

    def _failed(self, error: Exception, function: str, before: float | None, started: float) -> CallOutcome:
        """A call's outcome when its channel timed out, its child exited or the sandbox stopped."""
        if isinstance(error, TimeoutError):
            return self._timed_out(function, before, started)
        if isinstance(error, Interrupted):
            return self._child_ended(started)
        self._end_child()
        return CallOutcome("crash", message=f"the sandbox stopped while running {function}: {error}")

    def _child_ended(self, started: float) -> CallOutcome:
        """The child exited during a call: how (a signal, an exit code), as the zygote reports it."""
        try:
            status, text = _describe_exit(self._child_exited(time.monotonic() + END_SECONDS))
        except WorkerDied as error:
            status, text = "crash", str(error)
        return CallOutcome(status, message=text, seconds=time.monotonic() - started)

    def _timed_out(self, function: str, before: float | None, started: float) -> CallOutcome:
        limit = self.limits.call_seconds
        spent, waited = self._spent(before, started), time.monotonic() - started
        self._end_child()
        if before is None:
            text = f"{function} did not finish within {limit:g} s (an infinite loop, or waiting for input?)"
        elif spent >= limit:
            text = f"{function} used {limit:g} s of CPU time without finishing (an infinite loop?)"
        else:
            text = (f"{function} did not finish within {WALL_FACTOR * limit:g} s, computing for only {spent:.1f} s of them "
                    "(waiting for input, or for something that never comes?)")
        return CallOutcome("timeout", message=text, seconds=waited)

    def _spent(self, before: float | None, started: float) -> float:
        """The child's CPU time since ``before``; wall-clock time since ``started`` when it cannot be read."""
        now = self.cpu_seconds()
        return time.monotonic() - started if before is None or now is None else now - before

    def _runner_died(self, stubs: frozenset[str], deadline: float) -> None:
        """The reference runner ended (its memory limit, a crash in NumPy). If it died answering, the child waiting
        for that answer is told, as the runner would have told it; another runner serves the rest of the call."""
        from grader.grading import wire

        assert self.runner is not None
        answering = self.runner.busy()
        self.runner.stop()
        # the next runner first, told what it may answer: the child, once told, may ask again at once
        self.runner.allow(stubs, self.reference_pipes, deadline, drain=False)
        if answering and self.reference_pipes:
            replies = self.reference_pipes[1]
            os.set_blocking(replies, False)  # a child that reads nothing loses only this answer
            try:  # the new runner writes nothing before the child asks again, which it cannot do before reading this
                os.write(replies, wire.frame({"op": "callback-error", "message": "the reference could not run on these "
                                                                                "arguments"}))
            except OSError:
                pass
            finally:
                os.set_blocking(replies, True)

    def _outcome(self, message: dict[str, Any], blobs: list[bytes]) -> CallOutcome:
        from grader.grading import wire

        op = message.get("op")
        common: dict[str, Any] = {"output": _text(message.get("output"), self.limits.output_kb * 1024 + 100),
                                  "seconds": _seconds(message.get("seconds"))}
        if op == "returned":
            try:
                taken: set[int] = set()  # each blob read once in the whole answer, not once per changed argument
                value = wire.decode(message["value"], blobs, taken=taken)
                changed = message["changed"]
                if type(changed) is not dict or len(changed) > 64:
                    raise wire.WireError("malformed message")
                changed = {int(k) if k.isdigit() else wire.clean_string(k):
                           (None if v is None else wire.decode(v, blobs, taken=taken)) for k, v in changed.items()}
            except Exception as error:  # whatever a forged answer makes the decoder raise is the answer's fault
                return CallOutcome("unencodable", message=f"the returned value could not be read: {error}", **common)
            return CallOutcome("returned", value=value, changed=changed, **common)
        if op in ("raised", "memory"):
            return CallOutcome(op, message=_text(message.get("traceback")), **common)
        if op == "unencodable":
            return CallOutcome(op, message=_text(message.get("message"), 300), **common)
        self._end_child()
        return CallOutcome("crash", message=f"unexpected message from the sandbox: {_text(op, 40)!r}")


_spare: Worker | None = None


def prestart(mode: str, limits: Limits, files: tuple[Path, ...] = ()) -> None:
    """Start a sandbox (with the grader's own Python) now, before the grading machinery is even imported: its start-up
    (bubblewrap, then Python and NumPy inside, ~0.1 s) overlaps the grader's own. The first job with the same
    settings takes it (``take_started``); one never taken is stopped at exit."""
    global _spare
    if _spare is None:
        _spare = Worker(mode, limits, files)
        _spare.start()
        atexit.register(_close_spare)


def take_started(mode: str, limits: Limits, files: tuple[Path, ...], environment: Environment | None) -> Worker | None:
    """The sandbox ``prestart`` started, if it was started with these settings (else it is stopped, and None)."""
    global _spare
    worker, _spare = _spare, None
    if worker is not None and (worker.mode, worker.limits, worker.files, worker.environment) == (mode, limits, files, environment):
        return worker
    if worker is not None:
        worker.close()
    return None


def _close_spare() -> None:
    if _spare is not None:
        _spare.close()
