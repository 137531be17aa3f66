"""The only code that runs beside student code. It is started inside the sandbox as a script.

It imports NumPy once, then for each submission forks a fresh process that sets its resource
limits, loads the submission's chunks and calls its functions on request, sending back plain
data (see wire.py). It never sees tests, expected values or reference solutions; it can only
ask the grader to run a reference function on its behalf (isolation), and the grader decides
whether to answer.

Protocol on the inherited stdin/stdout (both then pointed at /dev/null so that prints cannot
corrupt it): the grader sends ``load``; the forked child answers ``loaded`` and then serves
``call`` messages (answering ``returned`` or ``raised``, possibly after ``callback`` round
trips) until ``end``; the zygote then reports ``exited`` with the child's exit code.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import linecache
import os
import resource
import signal
import sys
import time
import traceback
import warnings
from typing import Any

import numpy as np  # noqa: F401  (imported once here so every forked child starts with it)
import wire

IN_PID_NAMESPACE = os.environ.get("GRADER_SANDBOX") == "bwrap"


class CappedText(io.TextIOBase):
    """A stdout/stderr replacement that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.reset()

    def reset(self) -> None:
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: Any) -> int:
        text = str(text)
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def value(self) -> str:
        text = "".join(self.parts)
        return text + (f"\n... ({self.dropped} more characters not shown)" if self.dropped else "")


def _student_traceback(error: BaseException) -> str:
    """The traceback trimmed to the student's own cells, then the error line."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith("cell ")]
    if len(frames) > 8:
        frames = [*frames[:3], *frames[-3:]]
        skipped = "  ... (more calls of the same functions)\n"
    else:
        skipped = ""
    lines = ["".join(line for line in entry.splitlines(True) if line.strip(" ^~\n")) for entry in traceback.format_list(frames)]
    if skipped:
        lines.insert(3, skipped)
    return "".join(lines) + "".join(traceback.format_exception_only(type(error), error)).strip()


def _digest(value: Any) -> str:
    blobs: list[bytes] = []
    try:
        head = json.dumps(wire.encode(value, blobs)).encode()
    except (wire.WireError, TypeError, ValueError):
        return "unencodable"
    return hashlib.sha256(head + b"".join(blobs)).hexdigest()


# Syscall numbers of process creation: (arch id for seccomp, clone, clone3, fork, vfork); 0 = absent on that arch.
_ARCHES = {"x86_64": (0xC000003E, 56, 435, 57, 58), "aarch64": (0xC00000B7, 220, 435, 0, 0)}
_CLONE_THREAD = 0x10000


def _forbid_new_processes() -> bool:
    """A seccomp filter: threads may start, processes may not (EPERM), so no fork bomb and nothing left
    behind. clone3 answers ENOSYS, which makes the C library fall back to clone, whose flags can be read."""
    import ctypes
    import platform

    arch = _ARCHES.get(platform.machine())
    if arch is None:
        return False
    audit_arch, clone, clone3, fork, vfork = arch
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    load, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06
    program = [
        (load, 0, 0, 4), (jeq, 1, 0, audit_arch), (ret, 0, 0, allow),  # another arch: leave it alone
        (load, 0, 0, 0),
        (jeq, 0, 1, clone3), (ret, 0, 0, enosys),
        (jeq, 0, 1, fork or 0xFFFFFFFF), (ret, 0, 0, eperm),
        (jeq, 0, 1, vfork or 0xFFFFFFFF), (ret, 0, 0, eperm),
        (jeq, 0, 3, clone), (load, 0, 0, 16), (jset, 1, 0, _CLONE_THREAD), (ret, 0, 0, eperm),
        (ret, 0, 0, allow),
    ]

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    filters = (Filter * len(program))(*(Filter(*entry) for entry in program))
    libc = ctypes.CDLL(None, use_errno=True)
    no_new_privs, set_seccomp, mode_filter = 38, 22, 2
    if libc.prctl(no_new_privs, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(set_seccomp, mode_filter, ctypes.byref(Program(len(program), filters)), 0, 0) == 0


def _set_limits(limits: dict[str, Any]) -> None:
    with open("/proc/self/status") as status:
        vm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    memory = vm_kb * 1024 + int(limits["memory_mb"]) * 1024 * 1024
    cpu = int(limits["cpu_seconds"])
    for which, value in (
        (resource.RLIMIT_AS, memory),
        (resource.RLIMIT_CPU, cpu),
        (resource.RLIMIT_FSIZE, 16 * 1024 * 1024),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NPROC, 256),
    ):
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass


class Session:
    """One submission, loaded in a forked child."""

    def __init__(self, fd_in: int, fd_out: int, request: dict[str, Any]) -> None:
        self.fd_in, self.fd_out = fd_in, fd_out
        self.output = CappedText(int(request["limits"]["output_kb"]) * 1024)
        sys.stdout = sys.stderr = self.output  # what loading prints is dropped with the first call's reset
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.load_errors: list[dict[str, Any]] = []
        self.sources: dict[str, list[str]] = {}
        for chunk in request["chunks"]:
            self._load(chunk)

    def _load(self, chunk: dict[str, Any]) -> None:
        filename = f"cell {chunk['cell']}"
        code = chunk["code"]
        # Several chunks can come from one cell: merge their lines so tracebacks can quote any of them.
        lines = self.sources.setdefault(filename, [])
        for index, line in enumerate(code.splitlines(True)):
            if index >= len(lines):
                lines.append(line)
            elif line.strip():
                lines[index] = line
        linecache.cache[filename] = (len(code), None, lines, filename)
        try:
            exec(compile(code, filename, "exec"), self.namespace)
        except BaseException as error:  # anything a chunk does wrong costs that chunk only
            self.load_errors.append({"cell": chunk["cell"], "line": chunk["line"], "error": _student_traceback(error)})

    def _stub(self, name: str) -> Any:
        """Stands in for a graded function the submission got wrong: the grader answers with the reference."""

        def stub(*args: Any, **kwargs: Any) -> Any:
            blobs: list[bytes] = []
            try:
                encoded = wire.encode([list(args), kwargs], blobs)
            except wire.WireError as error:
                raise TypeError(f"{name} was called with {error}") from None
            wire.send(self.fd_out, {"op": "callback", "function": name, "args": encoded}, blobs)
            reply, reply_blobs = wire.receive(self.fd_in)
            if reply.get("op") == "callback-result":
                return wire.decode(reply["value"], reply_blobs)
            raise RuntimeError(str(reply.get("message", f"{name} failed")))

        stub.__name__ = stub.__qualname__ = name
        return stub

    def call(self, request: dict[str, Any], blobs: list[bytes]) -> None:
        function = self.namespace.get(request["function"])
        args, kwargs = wire.decode(request["args"], blobs)
        before = [_digest(arg) for arg in args]
        replaced = {name: self.namespace.get(name) for name in request.get("stubs", [])}
        for name in replaced:
            self.namespace[name] = self._stub(name)
        self.output.reset()
        sys.stdout = sys.stderr = self.output
        started = time.perf_counter()
        try:
            result = function(*args, **kwargs)  # type: ignore[misc]
        except BaseException as error:  # SystemExit and KeyboardInterrupt too: they are the student's
            self._restore(replaced)
            kind = "memory" if isinstance(error, MemoryError) else "raised"
            wire.send(self.fd_out, {"op": kind, "type": type(error).__name__, "traceback": _student_traceback(error),
                                    "output": self.output.value(), "seconds": time.perf_counter() - started})
            return
        seconds = time.perf_counter() - started
        self._restore(replaced)
        out_blobs: list[bytes] = []
        try:
            value = wire.encode(result, out_blobs)
        except wire.WireError as error:
            wire.send(self.fd_out, {"op": "unencodable", "message": str(error), "output": self.output.value(),
                                    "seconds": seconds})
            return
        changed = {}
        for index, arg in enumerate(args):
            if _digest(arg) != before[index]:
                try:
                    changed[str(index)] = wire.encode(arg, out_blobs)
                except wire.WireError:
                    changed[str(index)] = None
        wire.send(self.fd_out, {"op": "returned", "value": value, "changed": changed, "output": self.output.value(),
                                "seconds": seconds}, out_blobs)

    def _restore(self, replaced: dict[str, Any]) -> None:
        sys.stdout = sys.stderr = self.output
        for name, original in replaced.items():
            self.namespace[name] = original

    def serve(self, functions: list[str]) -> None:
        defined = [name for name in functions if callable(self.namespace.get(name))]
        wire.send(self.fd_out, {"op": "loaded", "defined": defined, "errors": self.load_errors})
        while True:
            request, blobs = wire.receive(self.fd_in)
            if request.get("op") != "call":
                return
            self.call(request, blobs)


def _run_child(fd_in: int, fd_out: int, request: dict[str, Any]) -> None:
    _set_limits(request["limits"])
    _forbid_new_processes()
    warnings.simplefilter("default")
    session = Session(fd_in, fd_out, request)
    session.serve(request["functions"])


def _kill_leftovers() -> None:
    """Nothing a submission started may outlive it: in bubblewrap's PID namespace that is every
    process but bwrap's init and this one; without it, the rest of this process group."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (1, os.getpid()):
            continue
        try:
            if IN_PID_NAMESPACE or os.getpgid(int(entry)) == os.getpgrp():
                os.kill(int(entry), signal.SIGKILL)
        except OSError:
            pass


def main() -> None:
    fd_in, fd_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    wire.send(fd_out, {"op": "ready", "pid": os.getpid()})
    while True:
        try:
            request, _ = wire.receive(fd_in)
        except EOFError:
            return
        if request.get("op") != "load":
            return
        child = os.fork()
        if child == 0:
            code = 0
            try:
                _run_child(fd_in, fd_out, request)
            except BaseException:
                code = 70
            os._exit(code)
        _, status = os.waitpid(child, 0)
        _kill_leftovers()
        wire.send(fd_out, {"op": "exited", "code": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    main()
