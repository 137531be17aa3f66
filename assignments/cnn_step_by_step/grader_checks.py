"""Comparisons that decide whether a value returned by a student's function is right.

Pure NumPy and standard library, because this module is also shipped beside the student
notebook (as ``grader_checks.py``) so that the public tests run there unchanged. In the
grader these functions only ever see plain data decoded from the sandbox, never objects
built by student code.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Relative tolerance, scaled by the largest expected magnitude: loose enough for a float32
#: answer or a different summation order, far tighter than any real mistake.
RTOL = 1e-4


class CheckFailed(AssertionError):
    """A wrong answer. ``kind`` names what was wrong: structure, type, shape, values or modified.

    A failed public array check also carries ``expected`` and ``got``, for the picture in the feedback.
    """

    def __init__(self, kind: str, message: str, expected: Any = None, got: Any = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.expected = expected
        self.got = got


@dataclass(frozen=True)
class Case:
    """One hidden check: ``run(target)`` raises CheckFailed when ``target`` gets it wrong."""

    function: str
    name: str
    params: str
    run: Callable[[Callable[..., Any]], None]


def passed(message: str = "All tests passed.") -> None:
    print(f"\033[92m{message}\033[0m")


def _snapshot(value: Any) -> Any:
    return copy.deepcopy(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and a.dtype == b.dtype
            and bool(np.array_equal(a, b, equal_nan=True))
        )
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def call_unchanged(function: Callable[..., Any], name: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``function`` and fail if it modified any of its arguments in place."""
    before = _snapshot((args, kwargs))
    result = function(*args, **kwargs)
    for index, (old, new) in enumerate(zip(before[0], args)):
        if not _same(old, new):
            raise CheckFailed("modified", f"{name} changed its argument #{index + 1} in place; work on a copy.")
    for key in kwargs:
        if not _same(before[1][key], kwargs[key]):
            raise CheckFailed("modified", f"{name} changed its argument {key!r} in place; work on a copy.")
    return result


def expect_tuple(name: str, got: Any, length: int) -> tuple:
    if not isinstance(got, (tuple, list)) or len(got) != length:
        described = f"a {type(got).__name__}" + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "")
        raise CheckFailed("structure", f"{name} should return {length} values, got {described}.")
    return tuple(got)


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"ndarray of shape {value.shape} and dtype {value.dtype}"
    return type(value).__name__


def tolerance(expected: np.ndarray) -> float:
    finite = np.abs(expected[np.isfinite(expected)]) if expected.size else np.zeros(0)
    scale = float(finite.max()) if finite.size else 1.0
    return RTOL * max(scale, 1e-3)


def expect_shape(name: str, got: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``got`` must be a numeric ndarray (not a subclass) of the given shape."""
    if type(got) is not np.ndarray or got.dtype.kind not in "biuf":
        raise CheckFailed("type", f"{name} should be a numeric numpy array, got {_describe(got)}.")
    if got.shape != tuple(shape):
        raise CheckFailed("shape", f"{name} has shape {got.shape}, expected {tuple(shape)}.")
    return got


def expect_array(name: str, got: Any, expected: Any, *, show_values: bool = True) -> None:
    """``got`` must be an ndarray of the expected shape whose values match within tolerance."""
    expected = np.asarray(expected)
    try:
        expect_shape(name, got, expected.shape)
    except CheckFailed as failed:
        if show_values and failed.kind == "shape":
            raise CheckFailed("shape", failed.message, expected, got) from None
        raise
    if expected.dtype.kind == "b":
        wrong = got.astype(bool) != expected
        if got.dtype.kind != "b":
            wrong |= (got != 0) & (got != 1)
        error = wrong.astype(float)
    else:
        error = np.abs(got.astype(np.float64) - expected.astype(np.float64))
        error = np.where(np.isnan(error), np.inf, error)
        wrong = error > tolerance(expected)
    if not wrong.any():
        return
    first = tuple(int(i) for i in np.argwhere(wrong)[0])
    count = int(wrong.sum())
    message = f"{name} has {count} wrong value{'s' * (count > 1)} out of {wrong.size}"
    if show_values:
        where = first if got.ndim else "()"
        message += (
            f"; first at index {where}: expected {expected[first]!r}, got {got[first]!r}"
            f"; largest error {float(error.max()):.3g}."
        )
    if not show_values:
        raise CheckFailed("values", message + ".")
    raise CheckFailed("values", message, expected, got)


def expect_scalar(name: str, got: Any, expected: float, *, show_values: bool = True) -> None:
    """``got`` must be a real number (Python float/int, a NumPy real scalar, or a 0-d array, which
    behaves as one everywhere), not an array with dimensions such as (1, 1, 1)."""
    if type(got) is np.ndarray and got.ndim == 0 and got.dtype.kind in "iuf":
        got = got.item()
    if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, float, np.integer, np.floating)):
        hint = " Use .item() to take the number out of a one-element array." if isinstance(got, np.ndarray) else ""
        raise CheckFailed("type", f"{name} should be a real number, got {_describe(got)}.{hint}")
    error = abs(float(got) - expected)
    if not error <= RTOL * max(abs(expected), 1e-3):
        detail = f": expected {expected!r}, got {float(got)!r}" if show_values else ""
        raise CheckFailed("values", f"{name} is wrong{detail}.")
