"""Starts the worker inside bubblewrap and talks to it: limits, timeouts, restarts.

One worker process (a "zygote" with NumPy already imported) serves many submissions; each
submission runs in a fresh child forked from it, so start-up is paid once per job. Only plain
data comes back (wire.py). On a timeout the whole sandbox is killed and a new one started; on a
crash or a memory error only the child is lost, and the submission is loaded again for the
checks that remain.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader import wire
from grader.config import Limits
from grader.errors import UsageError
from grader.model import Submission

HERE = Path(__file__).resolve().parent
WORKER_FILES = ("worker.py", "wire.py")
START_SECONDS = 30.0
QUIET_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
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


def _bwrap_works() -> bool:
    try:
        probe = subprocess.run(["bwrap", "--unshare-all", "--ro-bind", "/", "/", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _python_roots() -> list[str]:
    """Folders the worker's interpreter and NumPy live in: the only ones bound into the sandbox."""
    roots = {sys.base_prefix, sys.prefix, str(Path(np.__file__).resolve().parent.parent)}
    roots.add(str(Path(sys.executable).resolve().parent.parent))
    ordered = sorted(r for r in roots if not r.startswith("/usr/"))
    return [r for r in ordered if not any(r != o and r.startswith(o + "/") for o in ordered)]


def bwrap_command() -> list[str]:
    command = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
               "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
    for link in ("lib", "lib64", "bin", "sbin"):
        if os.path.islink(f"/{link}"):
            command += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif os.path.isdir(f"/{link}"):
            command += ["--ro-bind", f"/{link}", f"/{link}"]
    for path in ("/etc/ld.so.cache", "/etc/alternatives", "/etc/localtime"):
        command += ["--ro-bind-try", path, path]
    roots = _python_roots()
    for root in roots:
        command += ["--ro-bind", root, root]
    if any(str(HERE).startswith(root + "/") for root in roots):
        command += ["--tmpfs", str(HERE)]  # installed from a wheel: the package stays out of sight all the same
    for name in WORKER_FILES:
        command += ["--ro-bind", str(HERE / name), f"/opt/grader/{name}"]
    command += ["--chdir", "/tmp", "--clearenv"]
    for key, value in {**QUIET_ENV, "HOME": "/tmp", "GRADER_SANDBOX": "bwrap"}.items():
        command += ["--setenv", key, value]
    return [*command, sys.executable, "-E", "-s", "-B", "/opt/grader/worker.py"]


@dataclass(frozen=True)
class CallOutcome:
    """What one call of a student's function came to, as plain data."""

    status: str  # returned | raised | memory | unencodable | timeout | crash
    value: Any = None
    changed: dict[int, Any] = field(default_factory=dict)
    message: str = ""
    output: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class Loaded:
    defined: tuple[str, ...]
    errors: tuple[str, ...]
    failure: str = ""  # set when the submission could not be loaded at all


class WorkerDied(Exception):
    pass


def _describe_exit(code: int) -> tuple[str, str]:
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


class Worker:
    """A sandboxed zygote process. Not thread-safe: one per job."""

    def __init__(self, mode: str, limits: Limits) -> None:
        self.mode = mode
        self.limits = limits
        self.process: subprocess.Popen[bytes] | None = None
        self.scratch: tempfile.TemporaryDirectory[str] | None = None
        self.current: tuple[Submission, list[str]] | None = None
        self.child_alive = False
        self.ready = False

    def start(self) -> None:
        if self.mode == "bwrap":
            command, env, cwd = bwrap_command(), dict(QUIET_ENV), None
        else:
            self.scratch = tempfile.TemporaryDirectory(prefix="grader-worker-")
            command = [sys.executable, "-E", "-s", "-B", str(HERE / "worker.py")]
            env, cwd = {**QUIET_ENV, "HOME": self.scratch.name, "GRADER_SANDBOX": "none"}, self.scratch.name
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        env=env, cwd=cwd, start_new_session=True)
        self.ready = False  # its "ready" message is read on first use, so start-up overlaps the caller's work

    def _await_ready(self) -> None:
        message, _ = self._receive(time.monotonic() + START_SECONDS)
        if message.get("op") != "ready":
            raise WorkerDied("the worker did not start")
        self.ready = True

    def stop(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except OSError:
                pass
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout):
                if stream:
                    stream.close()
            self.process = None
        self.child_alive = False
        if self.scratch is not None:
            self.scratch.cleanup()
            self.scratch = None

    def _send(self, message: dict[str, Any], blobs: list[bytes] | None = None) -> None:
        assert self.process and self.process.stdin
        try:
            wire.send(self.process.stdin.fileno(), message, blobs or [])
        except OSError as error:
            raise WorkerDied(str(error)) from error

    def _receive(self, deadline: float) -> tuple[dict[str, Any], list[bytes]]:
        assert self.process and self.process.stdout
        fd = self.process.stdout.fileno()

        def read(fd: int, size: int) -> bytes:
            chunks = []
            while size:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                    raise TimeoutError
                chunk = os.read(fd, min(size, 1 << 20))
                if not chunk:
                    raise WorkerDied("the worker closed its channel")
                chunks.append(chunk)
                size -= len(chunk)
            return b"".join(chunks)

        try:
            return wire.receive(fd, read)
        except wire.WireError as error:
            raise WorkerDied(f"garbled message: {error}") from error

    # --- one submission -------------------------------------------------------------------------

    def load(self, submission: Submission, functions: list[str]) -> Loaded:
        """Fork a child for ``submission``; restart the whole sandbox first if it is gone."""
        self.current = (submission, functions)
        if self.process is None or self.process.poll() is not None:
            self.stop()
            self.start()
        if not self.ready:
            try:
                self._await_ready()
            except (TimeoutError, WorkerDied) as error:
                self.stop()
                return Loaded((), (), failure=f"the sandbox did not start ({error or 'timeout'})")
        limits = {"memory_mb": self.limits.memory_mb, "cpu_seconds": self.limits.cpu_seconds,
                  "output_kb": self.limits.output_kb}
        chunks = [{"cell": c.cell, "line": c.line, "code": c.code} for c in submission.chunks]
        try:
            self._send({"op": "load", "chunks": chunks, "functions": functions, "limits": limits})
            message, _ = self._receive(time.monotonic() + max(10.0, 2 * self.limits.call_seconds))
        except TimeoutError:
            self.stop()
            return Loaded((), (), failure=f"loading the notebook's definitions took longer than "
                                          f"{max(10.0, 2 * self.limits.call_seconds):.0f} s")
        except WorkerDied as error:
            self.stop()
            return Loaded((), (), failure=f"the sandbox failed while loading the notebook: {error}")
        if message.get("op") == "exited":
            return Loaded((), (), failure="loading the notebook's definitions " + _describe_exit(int(message["code"]))[1])
        errors = tuple(f"cell {e['cell']}: {e['error']}" for e in message.get("errors", []))
        self.child_alive = True
        return Loaded(tuple(message.get("defined", [])), errors)

    def end(self) -> None:
        """Finish the current submission: its child and anything it started are gone afterwards."""
        self.current = None
        if not self.child_alive:
            return
        self.child_alive = False
        try:
            self._send({"op": "end"})
            while self._receive(time.monotonic() + 10.0)[0].get("op") != "exited":
                pass
        except (TimeoutError, WorkerDied):
            self.stop()

    def call(self, function: str, args: tuple[Any, ...], kwargs: dict[str, Any],
             stubs: dict[str, Callable[..., Any]]) -> CallOutcome:
        """Call ``function`` in the child. ``stubs`` answer the child's requests for reference functions.

        After a crash or timeout the next call first loads the submission again in a new child.
        """
        if not self.child_alive and self.current:
            reloaded = self.load(*self.current)
            if reloaded.failure:
                return CallOutcome("crash", message=f"the submission could not be loaded again: {reloaded.failure}")
        blobs: list[bytes] = []
        request = {"op": "call", "function": function, "args": wire.encode([list(args), kwargs], blobs),
                   "stubs": sorted(stubs)}
        started = time.monotonic()
        deadline = started + self.limits.call_seconds
        try:
            self._send(request, blobs)
            while True:
                message, reply_blobs = self._receive(deadline)
                if message.get("op") != "callback":
                    break
                self._answer_callback(message, reply_blobs, stubs)
        except TimeoutError:
            self.stop()
            return CallOutcome("timeout", message=f"{function} did not finish within {self.limits.call_seconds:g} s "
                                                  "(an infinite loop, or waiting for input?)",
                               seconds=time.monotonic() - started)
        except WorkerDied as error:
            self.stop()
            return CallOutcome("crash", message=f"the sandbox stopped while running {function}: {error}")
        return self._outcome(message, reply_blobs)

    def _answer_callback(self, message: dict[str, Any], blobs: list[bytes], stubs: dict[str, Callable[..., Any]]) -> None:
        reference = stubs.get(str(message.get("function")))
        reply_blobs: list[bytes] = []
        try:
            if reference is None:
                raise LookupError("not available")
            args, kwargs = wire.decode(message["args"], blobs)
            value = wire.encode(reference(*args, **kwargs), reply_blobs)
            self._send({"op": "callback-result", "value": value}, reply_blobs)
        except Exception as error:  # the student's arguments made the reference fail; tell the student
            self._send({"op": "callback-error", "message": f"{message.get('function')} failed: {type(error).__name__}"})

    def _outcome(self, message: dict[str, Any], blobs: list[bytes]) -> CallOutcome:
        op = message.get("op")
        common: dict[str, Any] = {"output": str(message.get("output", "")), "seconds": float(message.get("seconds", 0.0))}
        if op == "returned":
            try:
                value = wire.decode(message["value"], blobs)
                changed = {int(k): (None if v is None else wire.decode(v, blobs)) for k, v in message["changed"].items()}
            except (wire.WireError, KeyError, ValueError, IndexError, TypeError) as error:
                return CallOutcome("unencodable", message=f"the returned value could not be read: {error}", **common)
            return CallOutcome("returned", value=value, changed=changed, **common)
        if op in ("raised", "memory"):
            return CallOutcome(op, message=str(message.get("traceback", "")), **common)
        if op == "unencodable":
            return CallOutcome(op, message=str(message.get("message", "")), **common)
        if op == "exited":
            self.child_alive = False
            status, text = _describe_exit(int(message.get("code", 1)))
            return CallOutcome(status, message=text)
        self.stop()
        return CallOutcome("crash", message=f"unexpected message from the sandbox: {str(op)[:40]!r}")
