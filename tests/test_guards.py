"""Guarantees of the grader held by one small test each, so that the grader's self-mutation check
(tests/selftest.py) can name the test that holds each line of ``bwrap_command``, of the worker's lock-down,
of wire's ``allow_pickle=False`` and of run_check's grader-error branch.

A probe submission runs once in the real sandbox (``Worker`` under bubblewrap) and reports, as plain data,
what student code sees: its namespaces, whether the interpreter's folders are writable, its seccomp mode
and its resource limits. Nothing destructive is tried: a sandbox that fails here would let a hostile
submission do more than the probe does."""

from __future__ import annotations

import io
import os
import resource
import sys
from typing import Any

import numpy as np
import pytest

from grader.config import Limits
from grader.grading import wire
from grader.grading.sandbox import Worker, _python_roots
from grader.model import Chunk, Submission
from tests.conftest import sandbox_mode

PROBE = '''
import os, resource, socket

def probe(roots):
    seen = {"net": os.readlink("/proc/self/ns/net"), "pid": os.readlink("/proc/self/ns/pid"), "my_pid": os.getpid()}
    seen["read_only"] = {root: bool(os.statvfs(root).f_flag & os.ST_RDONLY) for root in roots}
    with open("/proc/self/status") as status:
        seen["seccomp"] = next(line.split()[1] for line in status if line.startswith("Seccomp:"))
    seen["limits"] = {name: list(resource.getrlimit(getattr(resource, name)))
                      for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_NOFILE")}
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
        seen["inet_socket"] = "opened"
    except OSError as error:
        seen["inet_socket"] = type(error).__name__
    try:
        pid = os.fork()
    except OSError as error:
        seen["fork"] = type(error).__name__
    else:
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        seen["fork"] = "forked"
    return seen
'''


@pytest.fixture(scope="module")
def seen() -> dict[str, Any]:
    if sandbox_mode() != "bwrap":
        pytest.skip("the guarantees below are bubblewrap's")
    worker = Worker("bwrap", Limits(call_seconds=20, cpu_seconds=30, memory_mb=512, output_kb=4))
    try:
        loaded = worker.load(Submission("probe.ipynb", (Chunk(1, 1, "def", ("probe",), PROBE),)), ["probe"])
        assert loaded.defined == ("probe",), loaded
        outcome = worker.call("probe", (_python_roots(),), {})
    finally:
        worker.close()
    assert outcome.status == "returned", outcome.message
    return outcome.value


def test_the_sandbox_has_its_own_network_namespace(seen: dict[str, Any]) -> None:
    # Not a connection attempt: the seccomp filter refuses inet sockets anyway, which would hide a shared network.
    assert seen["net"] != os.readlink("/proc/self/ns/net")


def test_the_sandbox_has_its_own_pid_namespace(seen: dict[str, Any]) -> None:
    assert seen["pid"] != os.readlink("/proc/self/ns/pid")
    assert seen["my_pid"] < 100  # bwrap's init is 1, the zygote 2, its child next


def test_the_interpreter_folders_are_read_only(seen: dict[str, Any]) -> None:
    assert seen["read_only"] and all(seen["read_only"].values()), seen["read_only"]
    assert sys.prefix in seen["read_only"] or any(sys.prefix.startswith(root) for root in seen["read_only"])


def test_the_seccomp_filter_is_installed(seen: dict[str, Any]) -> None:
    assert seen["seccomp"] == "2"  # SECCOMP_MODE_FILTER
    assert seen["inet_socket"] == "PermissionError" and seen["fork"] == "PermissionError"


def test_the_resource_limits_are_applied(seen: dict[str, Any]) -> None:
    soft = {name: pair[0] for name, pair in seen["limits"].items()}
    assert soft["RLIMIT_CPU"] == 30 and soft["RLIMIT_FSIZE"] == 16 << 20
    assert soft["RLIMIT_NOFILE"] <= 256 and soft["RLIMIT_NPROC"] <= 256
    assert 0 < soft["RLIMIT_AS"] != resource.RLIM_INFINITY
    assert resource.RLIM_INFINITY not in [pair[1] for pair in seen["limits"].values()]  # nor can it raise them


# --- the .npy reader refuses pickles on its own --------------------------------------------------

UNPICKLED: list[str] = []


def _record(text: str) -> str:
    UNPICKLED.append(text)
    return text


class _Payload:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _record, ("a pickle from the sandbox was loaded",)


def test_the_npy_reader_refuses_pickles_even_past_the_header_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """wire checks an array's header before reading it; were that check wrong, nothing may be unpickled all the same.
    The header reader is made to lie (a byte array of the blob's size): at most bytes come out, never objects."""
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Payload()], dtype=object), allow_pickle=True)
    blob = buffer.getvalue()
    real = np.lib.format.read_array_header_1_0

    def lying(stream: Any, *args: Any, **kwargs: Any) -> tuple[tuple[int, ...], bool, np.dtype]:
        real(stream, *args, **kwargs)
        return (len(blob) - stream.tell(),), False, np.dtype("u1")

    monkeypatch.setattr(np.lib.format, "read_array_header_1_0", lying)
    try:
        decoded = wire.decode({"$array": 0}, [blob])
    except ValueError:
        decoded = None
    assert UNPICKLED == []
    assert decoded is None or (type(decoded) is np.ndarray and decoded.dtype.kind in "biufc")
