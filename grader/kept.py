"""What the grader works out once per version of its inputs and keeps in the user's cache (``config.user_cache``):
the master notebook's extraction and isolation graph, the release's rendered cells. Only instructor files go in,
never a submission's. A file that cannot be read or written only costs the work again."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from grader.config import user_cache

#: The largest kept file read back (what is kept is at most a few MB).
MAX_KEPT_BYTES = 64 * 2**20


def version_key(data: bytes, *files: str | Path) -> str:
    """A name for what is worked out from ``data`` by code in ``files`` (or with libraries there): it changes with
    the data and with each file's size and modification time, so an upgrade or an edit is never served stale."""
    key = hashlib.sha256(data)
    for file in files:
        try:
            status = os.stat(file)
            key.update(f"{file}:{status.st_size}:{status.st_mtime_ns};".encode())
        except OSError:
            key.update(f"{file}:-;".encode())
    return key.hexdigest()[:32]


def read_kept(kind: str, key: str) -> bytes | None:
    """What ``keep`` kept under ``key``, or None."""
    try:
        with open(user_cache(kind, key), "rb") as file:
            data = file.read(MAX_KEPT_BYTES + 1)
    except OSError:
        return None
    return data if len(data) <= MAX_KEPT_BYTES else None


def keep(kind: str, key: str, text: str) -> None:
    """Keep ``text`` under ``key`` (written beside, then renamed: a reader never sees half of it)."""
    path = user_cache(kind, key)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temporary, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
