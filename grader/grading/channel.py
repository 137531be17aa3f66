"""Frames to and from a process on the other side of the trust boundary, every read and write under a deadline.

A process that stops reading or writing halfway cannot hold the grader: writes are non-blocking and
wait only until the deadline, reads likewise, and every message is size-checked by wire.receive
before it is read. ``watch`` is a second descriptor whose readability means "stop waiting" (the
zygote's control channel: when it speaks, the child on this channel is gone).
"""

from __future__ import annotations

import os
import select
import time
from typing import Any


class ChannelClosed(Exception):
    """The other side closed the channel or sent something that is not a message."""


class Interrupted(Exception):
    """A watched descriptor became readable while waiting (the other side, or a helper, is gone): ``fd`` says which."""

    def __init__(self, fd: int) -> None:
        super().__init__(fd)
        self.fd = fd


class Channel:
    def __init__(self, read_fd: int, write_fd: int, watch: int | None = None) -> None:
        self.read_fd, self.write_fd, self.watch = read_fd, write_fd, watch
        os.set_blocking(write_fd, False)

    def _wait(self, fd: int, writing: bool, deadline: float, also: tuple[int, ...] = ()) -> None:
        watched = [self.watch, *also] if self.watch is not None else list(also)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            readable, writable, _ = select.select([*([] if writing else [fd]), *watched], [fd] if writing else [], [],
                                                  remaining)
            if (writable if writing else fd in readable):
                return
            if readable:
                raise Interrupted(readable[0])

    def send(self, message: dict[str, Any], blobs: list[bytes], deadline: float) -> None:
        from grader.grading import wire  # here: a sandbox is started (and its channels made) before NumPy is imported

        view = memoryview(wire.frame(message, blobs))
        while view:
            self._wait(self.write_fd, True, deadline)
            try:
                view = view[os.write(self.write_fd, view):]
            except BlockingIOError:
                continue
            except OSError as error:  # EPIPE: nobody reads any more
                raise ChannelClosed(str(error)) from error

    def wait(self, deadline: float, also: tuple[int, ...] = ()) -> None:
        """Until a message begins to arrive: TimeoutError or Interrupted, as ``receive``, but nothing is read, so
        waiting again loses nothing (a deadline reached halfway through a message would leave the rest unread)."""
        self._wait(self.read_fd, False, deadline, also)

    def receive(self, deadline: float) -> tuple[dict[str, Any], list[bytes]]:
        """The next message; Interrupted when ``watch`` becomes readable first."""
        from grader.grading import wire

        def read(fd: int, size: int) -> bytes:
            return wire.read_exact(fd, size, wait=lambda fd: self._wait(fd, False, deadline))

        try:
            return wire.receive(self.read_fd, read)
        except EOFError as error:
            raise ChannelClosed(str(error)) from error
        except wire.WireError as error:
            raise ChannelClosed(f"garbled message: {error}") from error

    def drain(self) -> None:
        """Throw away whatever is waiting to be read (left by a process that has exited)."""
        from grader.grading import wire

        wire.drain(self.read_fd)

    def close(self) -> None:
        for fd in {self.read_fd, self.write_fd}:
            try:
                os.close(fd)
            except OSError:
                pass
