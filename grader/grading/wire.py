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
import math
import os
import re
import struct
from functools import lru_cache
from typing import Any

import numpy as np

# Caps on one message, checked before anything is allocated: whatever the other side sends, reading it
# costs at most about MAX_MESSAGE bytes and MAX_ITEMS values.
MAX_HEADER = 8 * 1024 * 1024
MAX_MESSAGE = 64 * 1024 * 1024  # header and arrays together
MAX_BLOBS = 1024
MAX_DEPTH = 32
MAX_ITEMS = 100_000  # values in one decoded message, all containers together
MAX_INT_BITS = 13_000  # about 3,900 digits: what decode takes
MAX_STRING = 100_000  # characters of one string
#: Threads a child may run at once, counted by the zygote: the kernel never applies RLIMIT_NPROC to the host's root,
#: which the sandbox's root is when the grader runs as root, and a notebook started thousands with small stacks,
#: enough to take every PID of the host (red-team finding). A child past it is killed and its exit reported to the
#: grader as TOO_MANY_THREADS (no signal's number).
MAX_THREADS, TOO_MANY_THREADS = 64, -1000
_NDARRAY = np.ndarray  # kept before any student code could rebind numpy names
#: Characters that break a UTF-8 file, a terminal, XML or a log line: replaced wherever text crosses.
UNSAFE_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


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
        if value.bit_length() > MAX_INT_BITS:  # str() refuses past 4,300 digits, and decode past 4,000
            raise WireError(f"an integer of about {int(value.bit_length() * 0.30103)} digits is too large to be checked")
        return value if abs(value) < 2**63 else {"$bigint": str(value)}
    if kind is float:
        return {"$float": repr(value)} if value != value or value in (float("inf"), float("-inf")) else value
    if kind is _NDARRAY:
        if value.dtype.kind not in "biufc" or value.dtype.fields is not None:
            raise WireError(f"an array of dtype {value.dtype} cannot be checked")
        if value.nbytes > MAX_MESSAGE:
            raise WireError(f"an array of shape {value.shape} is too large to be checked "
                            f"({value.nbytes // 2**20} MB; at most {MAX_MESSAGE // 2**20} MB)")
        blobs.append(_npy(value))
        return {"$array": len(blobs) - 1}
    if isinstance(value, np.generic) and kind.__module__ == "numpy" and value.dtype.kind in "biufc":
        return {"$scalar": value.dtype.str, "value": repr(value.item())}
    if kind in (list, tuple):
        if len(value) > MAX_ITEMS:
            raise WireError("the sequence is too long")
        items = [encode(item, blobs, depth + 1) for item in value]
        return items if kind is list else {"$tuple": items}
    if kind is dict:
        if len(value) > MAX_ITEMS or not all(isinstance(key, str) for key in value):
            raise WireError("a dict can only be checked if its keys are strings")
        # a NumPy string (keys taken from an array) is a str: sent as the plain string it equals
        return {"$dict": [[str.__str__(key), encode(item, blobs, depth + 1)] for key, item in value.items()]}
    raise WireError(f"a {_type_name(value)} object cannot be checked (return numbers, arrays, tuples, lists or dicts)")


def _npy(value: np.ndarray) -> bytes:
    """A plain array as a version 1.0 ``.npy`` file, written directly (~1 us instead of np.save's ~7: a call moves
    several arrays each way, and the worker hashes each argument before and after); a Fortran-ordered one by NumPy."""
    if value.flags.f_contiguous and not value.flags.c_contiguous:
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        return buffer.getvalue()
    header = f"{{'descr': '{value.dtype.str}', 'fortran_order': False, 'shape': {value.shape!r}, }}"
    header += " " * (64 - (len(header) + 11) % 64) + "\n"  # the data starts at a multiple of 64 bytes
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1") + value.tobytes()


def _literal(text: str, kind: str) -> Any:
    """A NumPy scalar's value as ``repr`` wrote it, read as its dtype's kind says (no expression is ever parsed:
    ast.literal_eval cost ~4 us of each answer a reference gives under isolation)."""
    try:
        if kind == "b":
            return {"True": True, "False": False}[text]
        return int(text) if kind in "iu" else float(text) if kind == "f" else complex(text)
    except (KeyError, ValueError) as error:
        raise WireError("malformed scalar") from error


def clean_string(text: str) -> str:
    """A string from the other side as the grader may use it: valid UTF-8, no control characters but
    newline and tab, at most MAX_STRING characters."""
    return UNSAFE_TEXT.sub("\ufffd", text[:MAX_STRING])


def _array(blob: bytes) -> np.ndarray:
    """Read one .npy blob: its header is checked against its size, then the numbers are copied out of it as the
    header's plain dtype says. No object array can come out of this (nothing is ever unpickled), and nothing is
    allocated beyond the blob's own size."""
    canonical = _canonical_header(blob)
    if canonical is not None:
        shape, fortran, dtype, offset = canonical
    else:
        stream = io.BytesIO(blob)
        try:
            version = np.lib.format.read_magic(stream)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            shape, fortran, dtype = read_header[version](stream)
        except Exception as error:  # NumPy's header parser raises many types (tokenize's included) on forged input
            raise WireError("malformed array header") from error
        offset = stream.tell()
    if dtype.kind not in "biufc" or dtype.fields is not None or dtype.subdtype is not None or dtype.itemsize > 16:
        raise WireError("malformed array")
    if len(shape) > MAX_DEPTH:
        raise WireError("malformed array: too many dimensions")
    if len(blob) - offset != math.prod(shape) * dtype.itemsize:  # Python's integers: no overflow
        raise WireError("malformed array: its size does not match its shape")
    flat = np.frombuffer(blob, dtype=dtype, offset=offset)
    return flat.reshape(shape, order="F" if fortran else "C").copy(order="K")


#: The header np.save writes for a plain array (version 1.0), exactly: read without NumPy's general header parser,
#: which costs ~25 us an array (a callback to the reference carries three). Anything else takes NumPy's parser.
_NPY_HEADER = re.compile(rb"\{'descr': '([<>|][biufc][0-9]{1,2})', 'fortran_order': (False|True), "
                         rb"'shape': \(((?:[0-9]{1,18}, )*(?:[0-9]{1,18},?)?)\), \} *\n")


def _canonical_header(blob: bytes) -> tuple[tuple[int, ...], bool, np.dtype[Any], int] | None:
    """(shape, Fortran order, dtype, offset of the data) from np.save's own version 1.0 header, else None."""
    if blob[:8] != b"\x93NUMPY\x01\x00" or len(blob) < 10:
        return None
    end = 10 + int.from_bytes(blob[8:10], "little")
    found = _NPY_HEADER.fullmatch(blob, 10, end) if end <= len(blob) else None
    if found is None:
        return None
    dtype = _dtype(found[1])
    if dtype is None:
        return None
    return tuple(int(n) for n in found[3].replace(b",", b" ").split()), found[2] == b"True", dtype, end


@lru_cache(maxsize=256)  # a handful in practice; bounded whatever headers a submission forges
def _dtype(descr: bytes) -> np.dtype[Any] | None:
    try:
        return np.dtype(descr.decode("ascii"))
    except TypeError:  # a size no NumPy type has ('<f3'): NumPy's parser refuses it too
        return None


def decode(data: Any, blobs: list[bytes], depth: int = 0, budget: list[int] | None = None,
           taken: set[int] | None = None) -> Any:
    """The inverse of encode, strict about everything it reads. Strings come back cleaned (clean_string). Each blob is
    read once (``taken``: encode never names one twice): 100,000 references to one 8 MB blob were 800 GB of copies."""
    budget = [MAX_ITEMS] if budget is None else budget
    taken = set() if taken is None else taken
    budget[0] -= 1
    if budget[0] < 0:
        raise WireError("the value has too many items")
    if depth > MAX_DEPTH:
        raise WireError("the value is nested too deeply")
    if type(data) is str:
        return clean_string(data)
    if data is None or type(data) in (bool, int, float):
        return data
    if type(data) is list:
        return [decode(item, blobs, depth + 1, budget, taken) for item in data]
    keys = set(data) if type(data) is dict else None
    if keys == {"$array"}:
        index = data["$array"]
        if type(index) is not int or not 0 <= index < len(blobs) or index in taken:
            raise WireError("malformed array reference")
        taken.add(index)
        return _array(blobs[index])
    if keys == {"$scalar", "value"}:
        if type(data["$scalar"]) is not str or len(data["$scalar"]) > 100:  # a dict is a structured dtype's spec
            raise WireError("malformed scalar")
        try:
            dtype = np.dtype(data["$scalar"])
        except (TypeError, ValueError, OverflowError) as error:
            raise WireError("malformed scalar") from error
        if dtype.kind not in "biufc" or type(data["value"]) is not str or len(data["value"]) > 100:
            raise WireError("malformed scalar")
        value = _literal(data["value"], dtype.kind)
        try:
            return dtype.type(value)
        except (TypeError, ValueError, OverflowError) as error:
            raise WireError("malformed scalar") from error
    if keys == {"$float"} and type(data["$float"]) is str:
        try:
            return float(data["$float"])
        except ValueError as error:
            raise WireError("malformed float") from error
    if keys == {"$bigint"} and type(data["$bigint"]) is str and len(data["$bigint"]) <= 4000:
        try:
            return int(data["$bigint"])
        except ValueError as error:
            raise WireError("malformed integer") from error
    if keys == {"$tuple"} and type(data["$tuple"]) is list:
        return tuple(decode(item, blobs, depth + 1, budget, taken) for item in data["$tuple"])
    if keys == {"$dict"} and type(data["$dict"]) is list:
        pairs = data["$dict"]
        if not all(type(pair) is list and len(pair) == 2 and type(pair[0]) is str for pair in pairs):
            raise WireError("malformed dict")
        return {clean_string(key): decode(item, blobs, depth + 1, budget, taken) for key, item in pairs}
    raise WireError("malformed value")


def frame(message: dict[str, Any], blobs: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    """One message as bytes: a length, a JSON header naming the blob sizes, the blobs."""
    header = json.dumps({**message, "$blobs": [len(b) for b in blobs]}).encode()
    return b"".join([struct.pack("!I", len(header)), header, *blobs])


def send(fd: int, message: dict[str, Any], blobs: list[bytes] = ()) -> None:  # type: ignore[assignment]
    view = memoryview(frame(message, blobs))
    while view:
        view = view[os.write(fd, view) :]


def read_exact(fd: int, size: int, wait: Any = None) -> bytes:
    """``size`` bytes from ``fd``; ``wait(fd)``, if given, runs before each read (to enforce a deadline)."""
    chunks = []
    while size:
        if wait is not None:
            wait(fd)
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def drain(fd: int) -> None:
    """Throw away whatever is waiting in a pipe (left unread by a process that has ended); its blocking mode stays."""
    blocking = os.get_blocking(fd)
    os.set_blocking(fd, False)
    try:
        while os.read(fd, 1 << 16):
            pass
    except BlockingIOError:
        pass
    finally:
        os.set_blocking(fd, blocking)


def receive(fd: int, read: Any = read_exact) -> tuple[dict[str, Any], list[bytes]]:
    """Read one message; ``read(fd, n)`` may be replaced by one that enforces a deadline."""
    (length,) = struct.unpack("!I", read(fd, 4))
    if length > MAX_HEADER:
        raise WireError("message header too large")
    try:
        message = json.loads(read(fd, length))
    except (ValueError, RecursionError) as error:  # bad UTF-8 or JSON, an int past 4,300 digits, brackets nested deep
        raise WireError(f"malformed message: {type(error).__name__}") from error
    if type(message) is not dict:
        raise WireError("malformed message")
    sizes = message.pop("$blobs", None)
    if type(sizes) is not list or len(sizes) > MAX_BLOBS or any(type(s) is not int or s < 0 for s in sizes):
        raise WireError("malformed message")
    if length + sum(sizes) > MAX_MESSAGE:
        raise WireError(f"the message is larger than {MAX_MESSAGE // 2**20} MB")
    return message, [read(fd, size) for size in sizes]
