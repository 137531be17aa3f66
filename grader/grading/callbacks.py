"""Reference functions run on arguments that student code chose (isolation), outside the grader's own memory.

A student's function may call the reference of a graded function it depends on; the arguments are
the student's. ``zero_pad(x, 12000)`` would make the grader allocate gigabytes, a negative window
would make it loop for a minute. So the reference runs in a process forked from the grader (it has
the reference loaded already) under an address-space limit, and every exchange with it has the
calling check's deadline. The grader only relays bytes: the arguments are decoded, and the answer
encoded, in the forked process.
"""

from __future__ import annotations

import os
import resource
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


def _serve(reference: SimpleNamespace, memory_mb: int, requests: int, replies: int) -> None:
    with open("/proc/self/status") as status:
        vm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    limit = vm_kb * 1024 + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    while True:
        try:
            request, blobs = wire.receive(requests)
        except EOFError:
            return
        name = str(request.get("function"))
        reply: dict[str, Any]
        out: list[bytes] = []
        try:
            args, kwargs = wire.decode(request["args"], blobs)
            reply = {"op": "callback-result", "value": wire.encode(getattr(reference, name)(*args, **kwargs), out)}
        except MemoryError:
            reply, out = {"op": "callback-error", "message": f"{name} ran out of memory on these arguments"}, []
        except Exception as error:  # the student's arguments made the reference fail: tell the student, briefly
            reply, out = {"op": "callback-error", "message": f"{name} failed on these arguments: {type(error).__name__}"}, []
        wire.send(replies, reply, out)


class ReferenceRunner:
    """One forked process per grading job, started on first use and again after it is killed."""

    def __init__(self, reference: SimpleNamespace, memory_mb: int) -> None:
        self.reference = reference
        self.memory_mb = memory_mb
        self.pid = 0
        self.channel: Channel | None = None

    def _start(self) -> Channel:
        requests_r, requests_w = os.pipe()
        replies_r, replies_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _close_all_but({0, 1, 2, requests_r, replies_w})  # the sandbox's pipes stay the grader's alone
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _serve(self.reference, self.memory_mb, requests_r, replies_w)
            except BaseException:
                code = 70
            os._exit(code)
        os.close(requests_r)
        os.close(replies_w)
        self.pid = pid
        self.channel = Channel(replies_r, requests_w)
        return self.channel

    def call(self, function: str, args: Any, blobs: list[bytes], deadline: float) -> tuple[dict[str, Any], list[bytes]]:
        """The reply to send back into the sandbox. Raises TimeoutError when the deadline passes (the runner
        is then killed, and started again on the next call)."""
        channel = self.channel or self._start()
        try:
            channel.send({"function": function, "args": args}, blobs, deadline)
            return channel.receive(deadline)
        except TimeoutError:
            self.stop()
            raise
        except ChannelClosed:  # killed by its memory limit or a crash in NumPy
            self.stop()
            return {"op": "callback-error", "message": f"{function} could not run on these arguments"}, []

    def stop(self) -> None:
        if self.channel is None:
            return
        self.channel.close()
        self.channel = None
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        os.waitpid(self.pid, 0)

