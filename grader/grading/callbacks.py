"""Reference functions run on arguments that student code chose (isolation), outside the grader's own memory.

A student's function may call the reference of a graded function it depends on; the arguments are
the student's. ``zero_pad(x, 12000)`` would make the grader allocate gigabytes, a negative window
would make it loop for a minute. So the reference runs in a process forked from the grader (it has
the reference loaded already) under an address-space limit. The submission's child asks it directly,
through a pipe pair of its own into the sandbox (a round trip through the grader cost twice the hops):
the runner reads the child's requests, decodes them, and answers only the functions the grader allowed for
the call under way; a flag in shared memory tells the grader whether it is working on one. Its time is not
the student's: a call's limit counts the child's CPU time. It serves one submission: the grader stops it
when the child ends, so nothing one child left in the pipes reaches the next.
"""

from __future__ import annotations

import mmap
import os
import resource
import select
import signal
from types import SimpleNamespace
from typing import Any

from grader.grading import wire
from grader.grading.channel import Channel, ChannelClosed


def _close_all_but(keep: set[int]) -> None:
    for entry in os.listdir("/proc/self/fd"):
        if int(entry) not in keep:
            try:
                os.close(int(entry))
            except OSError:
                pass


def _answer(reference: SimpleNamespace, request: dict[str, Any], blobs: list[bytes], allowed: frozenset[str],
            busy: mmap.mmap) -> tuple[dict[str, Any], list[bytes]]:
    name = request.get("function")
    name = name if isinstance(name, str) else ""  # the child's word: a list here must not stop the runner
    if name not in allowed:
        return {"op": "callback-error", "message": f"{wire.clean_string(name[:60])} is not available"}, []
    busy[0] = 1
    out: list[bytes] = []
    try:
        args, kwargs = wire.decode(request["args"], blobs)
        return {"op": "callback-result", "value": wire.encode(getattr(reference, name)(*args, **kwargs), out)}, out
    except MemoryError:
        return {"op": "callback-error", "message": f"{name} ran out of memory on these arguments"}, []
    except Exception as error:  # the student's arguments made the reference fail: tell the student, briefly
        return {"op": "callback-error", "message": f"{name} failed on these arguments: {type(error).__name__}"}, []
    finally:
        busy[0] = 0


def _serve(reference: SimpleNamespace, memory_mb: int, control: int, requests: int, replies: int,
           busy: mmap.mmap) -> None:
    with open("/proc/self/status") as status:
        vm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    limit = vm_kb * 1024 + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    allowed: frozenset[str] = frozenset()
    while True:
        ready = select.select([control, requests], [], [])[0]
        if control in ready:  # first: what the grader allows for the call it is about to make
            try:
                message, _ = wire.receive(control)
            except EOFError:
                return
            allowed = frozenset(name for name in message.get("allow", []) if isinstance(name, str))
            continue
        out: list[bytes] = []
        try:
            request, blobs = wire.receive(requests)
        except EOFError:  # the sandbox is gone
            return
        except wire.WireError as error:  # the child's stream is out of step: its own loss, until it ends
            reply = {"op": "callback-error", "message": f"the request could not be read: {error}"}
        else:
            reply, out = _answer(reference, request, blobs, allowed, busy)
        wire.send(replies, reply, out)  # a child that does not read its answer stops only itself: it is not counted


class ReferenceRunner:
    """The reference's process for one submission's child, started when a call first allows it a function."""

    def __init__(self, reference: SimpleNamespace, memory_mb: int) -> None:
        self.reference = reference
        self.memory_mb = memory_mb
        self.pid = 0
        self.pidfd = -1  # readable once the runner has ended
        self.control: Channel | None = None
        self.busy_flag = mmap.mmap(-1, 1)  # shared with the runner: 1 while it answers a request

    @property
    def running(self) -> bool:
        return self.control is not None

    def _start(self, requests: int, replies: int, drain: bool) -> Channel:
        if drain:
            wire.drain(requests)  # what an earlier child wrote and no runner read
        self.busy_flag[0] = 0
        control_r, control_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _close_all_but({0, 1, 2, control_r, requests, replies})  # the flag is shared memory, not a file
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _serve(self.reference, self.memory_mb, control_r, requests, replies, self.busy_flag)
            except BaseException:
                code = 70
            os._exit(code)
        os.close(control_r)
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)
        self.control = Channel(control_w, control_w)  # one way: the grader only tells it what to allow
        return self.control

    def allow(self, functions: frozenset[str], pipes: tuple[int, ...], deadline: float, drain: bool = True) -> None:
        """Before a call: answer the child's requests of ``functions`` only (started on the first that allows one,
        on the sandbox's reference ``pipes``: requests, replies, dropping what is waiting there unless ``drain`` is
        False: in the middle of a call, it is the child's next request). Raises TimeoutError past the deadline."""
        if not functions and self.control is None:
            return
        for _ in range(2):  # one that died since the last call is replaced at once
            control = self.control or self._start(pipes[0], pipes[1], drain)
            try:
                control.send({"allow": sorted(functions)}, [], deadline)
                return
            except ChannelClosed:
                self.stop()

    def busy(self) -> bool:
        """Whether it is working on a request (or died while it was)."""
        return self.control is not None and self.busy_flag[0] == 1

    def stop(self) -> None:
        if self.control is None:
            return
        self.control.close()
        self.control = None
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self.pidfd)
        self.pidfd = -1
