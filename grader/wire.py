"""Messages between the grader and the sandboxed worker: JSON headers plus ``.npy`` blobs.

Only plain data crosses: None, bool, int, float, str, lists, tuples, dicts with string keys,
NumPy scalars and plain ndarrays of numbers. Arrays are written and read with
``allow_pickle=False``; nothing is ever unpickled. Anything else is refused with WireError,
which the grader reports as a wrong type.

This file is also run inside the sandbox (next to worker.py), so it imports only the standard
library and NumPy.
"""

from __future__ import annotations

import io
import json
import os
import struct
from typing import Any

import numpy as np

MAX_HEADER = 16 * 1024 * 1024
MAX_BLOB = 256 * 1024 * 1024
MAX_DEPTH = 32
MAX_ITEMS = 100_000
_NDARRAY = np.ndarray  # kept before any student code could rebind numpy names


class WireError(ValueError):
    """A value that is not plain data, or a malformed message."""


def _type_name(value: Any) -> str:
    kind = type(value)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def encode(value: Any, blobs: list[bytes], depth: int = 0) -> Any:
    """A JSON-able description of ``value``; arrays are appended to ``blobs`` as .npy bytes."""
    if depth > MAX_DEPTH:
        raise WireError("the value is nested too deeply")
    kind = type(value)
    if value is None or kind in (bool, str):
        return value
    if kind is int:
        return value if abs(value) < 2**63 else {"$bigint": str(value)}
    if kind is float:
        return {"$float": repr(value)} if value != value or value in (float("inf"), float("-inf")) else value
    if kind is _NDARRAY:
        if value.dtype.kind not in "biufc" or value.dtype.fields is not None or value.size > MAX_BLOB // 8:
            raise WireError(f"an array of dtype {value.dtype} cannot be checked")
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        blobs.append(buffer.getvalue())
        return {"$array": len(blobs) - 1}
    if isinstance(value, np.generic) and kind.__module__ == "numpy" and value.dtype.kind in "biufc":
        return {"$scalar": value.dtype.str, "value": repr(value.item())}
    if kind in (list, tuple):
        if len(value) > MAX_ITEMS:
            raise WireError("the sequence is too long")
        items = [encode(item, blobs, depth + 1) for item in value]
        return items if kind is list else {"$tuple": items}
    if kind is dict:
        if not all(type(key) is str for key in value) or len(value) > MAX_ITEMS:
            raise WireError("a dict can only be checked if its keys are strings")
        return {"$dict": [[key, encode(item, blobs, depth + 1)] for key, item in value.items()]}
    raise WireError(f"a {_type_name(value)} object cannot be checked (return numbers, arrays, tuples, lists or dicts)")


def _literal(text: Any) -> Any:
    import ast

    try:
        return float(text) if text in ("nan", "inf", "-inf") else ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as error:
        raise WireError("malformed scalar") from error


def decode(data: Any, blobs: list[bytes], depth: int = 0) -> Any:
    """The inverse of encode, strict about everything it reads."""
    if depth > MAX_DEPTH:
        raise WireError("the value is nested too deeply")
    if data is None or type(data) in (bool, str, int, float):
        return data
    if type(data) is list:
        return [decode(item, blobs, depth + 1) for item in data]
    keys = set(data) if type(data) is dict else None
    if keys == {"$array"}:
        array = np.load(io.BytesIO(blobs[data["$array"]]), allow_pickle=False)
        if type(array) is not np.ndarray or array.dtype.kind not in "biufc":
            raise WireError("malformed array")
        return array
    if keys == {"$scalar", "value"}:
        dtype = np.dtype(data["$scalar"])
        if dtype.kind not in "biufc":
            raise WireError("malformed scalar")
        value = _literal(data["value"])
        if isinstance(value, complex) and dtype.kind != "c":
            raise WireError("malformed scalar")
        return dtype.type(value)
    if keys == {"$float"}:
        return float(data["$float"])
    if keys == {"$bigint"}:
        return int(data["$bigint"])
    if keys == {"$tuple"}:
        return tuple(decode(item, blobs, depth + 1) for item in data["$tuple"])
    if keys == {"$dict"}:
        return {str(key): decode(item, blobs, depth + 1) for key, item in data["$dict"]}
    raise WireError("malformed value")


def send(fd: int, message: dict[str, Any], blobs: list[bytes] = ()) -> None:  # type: ignore[assignment]
    header = json.dumps({**message, "$blobs": [len(b) for b in blobs]}).encode()
    frame = b"".join([struct.pack("!I", len(header)), header, *blobs])
    view = memoryview(frame)
    while view:
        view = view[os.write(fd, view) :]


def read_exact(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def receive(fd: int, read: Any = read_exact) -> tuple[dict[str, Any], list[bytes]]:
    """Read one message; ``read(fd, n)`` may be replaced by one that enforces a deadline."""
    (length,) = struct.unpack("!I", read(fd, 4))
    if length > MAX_HEADER:
        raise WireError("message header too large")
    try:
        message = json.loads(read(fd, length))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WireError(f"malformed message: {error}") from error
    if type(message) is not dict:
        raise WireError("malformed message")
    sizes = message.pop("$blobs", None)
    if type(sizes) is not list or any(type(s) is not int or not 0 <= s <= MAX_BLOB for s in sizes):
        raise WireError("malformed message")
    return message, [read(fd, size) for size in sizes]
