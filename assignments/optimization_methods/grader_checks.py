"""Comparisons that decide whether a value returned by a student's function is right.

Pure NumPy and standard library, because this module is also shipped beside the student
notebook (as ``grader_checks.py``) so that the public tests run there unchanged. In the
grader these functions only ever see plain data decoded from the sandbox, never objects
built by student code.
"""

from __future__ import annotations

import copy
import math
import re
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

    def _render_traceback_(self) -> list[str]:
        """What Jupyter shows for a failed public test: the message alone. IPython uses this instead of a traceback,
        which would run through the test and this module (``call_unchanged``, ``expect_array``): lines about the
        checking code that tell a student nothing about their own."""
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self.message}"]


@dataclass(frozen=True)
class Case:
    """One hidden check: ``run(target)`` raises CheckFailed when ``target`` gets it wrong. ``prepare``, if given,
    works out (and keeps) what the check expects, so that the grader can have it done while it waits for the
    sandbox rather than while the check runs."""

    function: str
    name: str
    params: str
    run: Callable[[Callable[..., Any]], None]
    prepare: Callable[[], Any] | None = None


def passed(message: str = "All tests passed.") -> None:
    print(f"\033[92m{message}\033[0m")


_UNCHANGING = (type(None), bool, int, float, complex, str, bytes)


def snapshot(value: Any) -> Any:
    """``copy.deepcopy(value)``, several times faster for the plain data checks pass (arrays, lists, tuples and dicts
    of them, numbers, strings): each check copies the arguments of every call. Anything else is deep-copied."""
    kind = type(value)
    if kind is np.ndarray and value.dtype != object:
        return value.copy(order="K")  # as deepcopy: the same memory order
    if kind is list or kind is tuple:
        return kind(snapshot(item) for item in value)
    if kind is dict:
        return {key: snapshot(item) for key, item in value.items()}
    if kind in _UNCHANGING or isinstance(value, np.generic):
        return value
    return copy.deepcopy(value)


def identical(a: Any, b: Any) -> bool:
    """The same structure, container types, shapes, dtypes and values (NaN the same as NaN): nothing changed."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and a.dtype == b.dtype
            and bool(np.array_equal(a, b, equal_nan=True))
        )
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(identical, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(identical(a[k], b[k]) for k in a)
    return bool(a == b)


def call_unchanged(function: Callable[..., Any], name: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``function`` and fail if it modified any of its arguments in place."""
    __tracebackhide__ = True  # IPython leaves this frame out when the student's function raises through it
    reported = hasattr(function, "arguments_before")  # the grader's stand-in: the sandbox says what changed
    before: Any = None if reported else snapshot((args, kwargs))
    result = function(*args, **kwargs)
    if reported:
        before = function.arguments_before  # type: ignore[attr-defined]  # None: the call changed none of them
    if before is None:
        return result
    for index, (old, new) in enumerate(zip(before[0], args)):
        if not identical(old, new):
            raise CheckFailed("modified", f"{name} changed its argument #{index + 1} in place; work on a copy.")
    for key in kwargs:
        if not identical(before[1][key], kwargs[key]):
            raise CheckFailed("modified", f"{name} changed its argument {key!r} in place; work on a copy.")
    return result


def number(value: Any) -> str:
    """A number as a person writes it (``0.5``, ``-3``, ``1.2e-08``): messages must never show NumPy 2's
    ``np.float64(0.5)`` reprs, which read like code rather than a value."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        if int(value).bit_length() > 64:  # str() refuses past 4,300 digits, and no one reads 400
            return f"an integer of about {int(int(value).bit_length() * math.log10(2)) + 1} digits"
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        text = repr(float(value))
        return text if len(text) <= 12 else f"{float(value):.10g}"
    if isinstance(value, (complex, np.complexfloating)):
        return str(complex(value))
    return repr(value)


#: How long a ``describe`` line may get, and how many items of one container it lists: the feedback's
#: "Called ..." line must stay one readable line whatever the arguments are.
DESCRIBE_LIMIT = 240
DESCRIBE_ITEMS = 6


def describe(value: Any, limit: int = DESCRIBE_LIMIT) -> str:
    """One line that says what a value is without printing its contents: arrays by shape and dtype,
    containers item by item (the first few), numbers plainly; at most ``limit`` characters."""
    text = _describe_value(value, 0)
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def _describe_items(items: list[str], total: int) -> str:
    if total > len(items):
        items = [*items, f"... {total - len(items)} more"]
    return ", ".join(items)


def _shown(container: Any) -> int:
    """A short container is listed whole; of a long one, the first two items show what the rest look like."""
    return len(container) if len(container) <= DESCRIBE_ITEMS else 2


def _describe_value(value: Any, depth: int) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} ({value.dtype})"
    if value is None or isinstance(value, (bool, np.bool_, int, float, complex, np.number)):
        return number(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if depth >= 4 and isinstance(value, (tuple, list, dict)):
        return f"{type(value).__name__} of {len(value)}"
    if isinstance(value, (tuple, list)):
        shown = [_describe_value(item, depth + 1) for item in value[:_shown(value)]]
        inner = _describe_items(shown, len(value))
        if isinstance(value, tuple):
            return "(" + inner + ("," if len(value) == 1 else "") + ")"
        return "[" + inner + "]"
    if isinstance(value, dict):
        shown = [f"{_describe_value(key, depth + 1)}: {_describe_value(item, depth + 1)}"
                 for key, item in list(value.items())[:_shown(value)]]
        return "{" + _describe_items(shown, len(value)) + "}"
    return f"a {type(value).__name__}"


def _kind(value: Any) -> str:
    """What a wrong value is, for a message that must not show the value itself."""
    if isinstance(value, np.ndarray):
        return f"an ndarray of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (tuple, list, dict)):
        return f"a {type(value).__name__} of length {len(value)}"
    if value is None:
        return "None"
    return f"a {type(value).__name__}"


def expect_tuple(name: str, got: Any, length: int) -> tuple:
    """``got`` must be a tuple (a list is not: ``a, b = f(...)`` hides the difference, callers may not)."""
    if type(got) is not tuple or len(got) != length:
        raise CheckFailed("structure", f"{name} should return a tuple of {length} values, got {_kind(got)}.")
    return got


def tolerance(expected: np.ndarray, rtol: float = RTOL) -> float:
    finite = np.abs(expected[np.isfinite(expected)]) if expected.size else np.zeros(0)
    scale = float(finite.max()) if finite.size else 1.0
    return rtol * max(scale, 1e-3)


def expect_shape(name: str, got: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``got`` must be a numeric ndarray (not a subclass) of the given shape."""
    if type(got) is not np.ndarray or got.dtype.kind not in "biuf":
        raise CheckFailed("type", f"{name} should be a numeric numpy array, got {_kind(got)}.")
    if got.shape != tuple(shape):
        raise CheckFailed("shape", f"{name} has shape {got.shape}, expected {tuple(shape)}.")
    return got


def expect_array(name: str, got: Any, expected: Any, *, show_values: bool = True, rtol: float = RTOL) -> None:
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
        wrong = error > tolerance(expected, rtol)
    if not wrong.any():
        return
    first = tuple(int(i) for i in np.argwhere(wrong)[0])
    count = int(wrong.sum())
    message = f"{name} has {count} wrong value{'s' * (count > 1)} out of {wrong.size}"
    where = element(name, first)
    if not show_values:
        raise CheckFailed("values", f"{message}, the first at {where}. Its shape and type are right: {NEXT_STEP}")
    message += (f"; first differing element: {where}: expected {number(expected[first])}, got {number(got[first])}"
                f"; largest error {float(error.max()):.3g}.")
    raise CheckFailed("values", message, expected, got)


#: What to do about a hidden check that failed on values, which shows neither the inputs nor the answer.
NEXT_STEP = "try your function on inputs with the parameters listed with this check and work one value out by hand."

# A name that reads as an expression (``Z``, ``Z[0, 2, 1]``, ``zero_pad(x, 3)``, ``parameters["W1"]``), then what
# the test added after it (`` (pool_forward with stride = 1)``, `` for an integer window``).
_INDEXABLE = re.compile(r"(?P<base>[A-Za-z_][\w.]*(?:\((?:[^()]|\([^()]*\))*\))?(?:\[[^\[\]]*\])*)"
                        r"(?P<rest>(?: \(.*| for .*)?)", re.DOTALL)
_INTEGER_INDEX = re.compile(r"\[(?P<ints>\s*-?\d+(?:\s*,\s*-?\d+)*\s*)\]$")


def element(name: str, index: tuple[int, ...]) -> str:
    """The element at ``index`` of the array called ``name``, written as an index into it: ``Z[0, 2, 1, 3]`` for
    element (3,) of ``Z[0, 2, 1]``, ``zero_pad(x, 3)[0, 1, 1, 0]``; ``[0, 1] of the cache`` for a name that is not
    an expression."""
    if not index:
        return name
    inside = ", ".join(map(str, index))
    found = _INDEXABLE.fullmatch(name)
    if found is None:
        return f"[{inside}] of {name}"
    base, rest = found["base"], found["rest"]
    integers = _INTEGER_INDEX.search(base)
    if integers and not base[: integers.start()].endswith("]"):  # Z[0, 2, 1] then [3] is Z[0, 2, 1, 3] in NumPy;
        # mini_batches[0][0] may index a tuple first: its element is mini_batches[0][0][0, 3]
        return f"{base[: integers.start()]}[{integers['ints'].strip()}, {inside}]{rest}"
    return f"{base}[{inside}]{rest}"


def expect_scalar(name: str, got: Any, expected: float, *, show_values: bool = True, rtol: float = RTOL) -> None:
    """``got`` must be a real number (Python float/int, a NumPy real scalar, or a 0-d array, which
    behaves as one everywhere), not an array with dimensions such as (1, 1, 1)."""
    if type(got) is np.ndarray and got.ndim == 0 and got.dtype.kind in "iuf":
        got = got.item()
    if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, float, np.integer, np.floating)):
        raise CheckFailed("type", f"{name} should be a real number, got {_kind(got)}.{_number_hint(got)}")
    expected = float(expected)
    try:
        error = abs(float(got) - expected)
    except OverflowError:  # an int beyond any float, 10**400
        error = math.inf
    if not error <= rtol * max(abs(expected), 1e-3):
        if show_values:
            raise CheckFailed("values", f"{name} is wrong: expected {number(expected)}, got {number(got)}.")
        raise CheckFailed("values", f"{name} is a number, as it should be, but not the right one: {NEXT_STEP}")


def _number_hint(got: Any) -> str:
    """How to get a number from what came back: ``.item()`` only fits an array of one element."""
    if not isinstance(got, np.ndarray):
        return ""
    if got.size == 1:
        return " Use .item() to take the number out of a one-element array."
    return (f" It holds {got.size} values where one is wanted: sum them, or index the one you need "
            f"(with {got.ndim} indices, one per axis).")


def expect_like(name: str, got: Any, expected: Any, *, names: tuple[str, ...] | list[str] | None = None,
                show_values: bool = True, rtol: float = RTOL) -> None:
    """``got`` must have the structure of ``expected`` and match it part by part.

    Any nesting of arrays, numbers, strings, bools, None, tuples, lists and dicts. Arrays and numbers
    follow expect_array and expect_scalar (a Python float, a NumPy scalar and a 0-d array are the same
    number; float32 passes), containers must be of the same type (a list is not a tuple), the same
    length, and dicts must have the same keys. A failure names the part that differs as a path,
    ``parameters["W1"]`` or ``caches[0][1]``; ``names`` names the items of a top-level tuple or list
    instead (``names=("dW", "db")`` gives "dW has 3 wrong values"). With ``show_values=False`` no
    message carries an expected value, only what kind of thing is wrong and where.
    """
    if names is not None and (not isinstance(expected, (tuple, list)) or len(names) != len(expected)):
        raise ValueError(f"names= gives {len(names)} names for an expected value that is not a tuple or list of that length")
    _expect_part(name, got, expected, tuple(names) if names is not None else None, show_values, rtol)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _expect_part(path: str, got: Any, expected: Any, names: tuple[str, ...] | None, show: bool, rtol: float) -> None:
    if isinstance(expected, np.ndarray) and expected.ndim == 0 and expected.dtype.kind in "iuf":
        expected = expected.item()  # a 0-d array is a number, whichever side it is on
    if isinstance(expected, np.ndarray):
        expect_array(path, got, expected, show_values=show, rtol=rtol)
    elif isinstance(expected, (bool, np.bool_)):
        if type(got) is np.ndarray and got.ndim == 0 and got.dtype.kind == "b":
            got = got.item()
        if not isinstance(got, (bool, np.bool_)):
            raise CheckFailed("type", f"{path} should be True or False, got {_kind(got)}.")
        if bool(got) != bool(expected):
            raise CheckFailed("values", f"{path} is wrong: expected {bool(expected)}, got {bool(got)}." if show else
                              f"{path} is a bool, as it should be, but not the right one: {NEXT_STEP}")
    elif _is_number(expected):
        expect_scalar(path, got, float(expected), show_values=show, rtol=rtol)
    elif isinstance(expected, str):
        if not isinstance(got, str):
            raise CheckFailed("type", f"{path} should be a string, got {_kind(got)}.")
        if got != expected:
            raise CheckFailed("values", f"{path} is wrong: expected {describe(expected)}, got {describe(got)}." if show
                              else f"{path} is a string, as it should be, but not the right one: {NEXT_STEP}")
    elif expected is None:
        if got is not None:
            raise CheckFailed("type", f"{path} should be None, got {_kind(got)}.")
    elif isinstance(expected, (tuple, list)):
        _expect_sequence(path, got, expected, names, show, rtol)
    elif isinstance(expected, dict):
        _expect_dict(path, got, expected, show, rtol)
    else:
        raise TypeError(f"expect_like cannot compare an expected {type(expected).__name__} (at {path})")


def _expect_sequence(path: str, got: Any, expected: tuple | list, names: tuple[str, ...] | None, show: bool,
                     rtol: float) -> None:
    kind = type(expected).__name__
    if type(got) is not type(expected):
        raise CheckFailed("structure", f"{path} should be a {kind} of {len(expected)} items, got {_kind(got)}.")
    if len(got) != len(expected):
        raise CheckFailed("structure", f"{path} should have {len(expected)} items, got {len(got)}.")
    for index, (item, want) in enumerate(zip(got, expected)):
        _expect_part(names[index] if names else f"{path}[{index}]", item, want, None, show, rtol)


def _expect_dict(path: str, got: Any, expected: dict, show: bool, rtol: float) -> None:
    if type(got) is not dict:
        raise CheckFailed("structure", f"{path} should be a dict, got {_kind(got)}.")
    missing = [key for key in expected if key not in got]
    unexpected = [key for key in got if key not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"is missing the key{'s' * (len(missing) > 1)} {_keys(missing)}")
        if unexpected:
            parts.append(f"has the unexpected key{'s' * (len(unexpected) > 1)} {_keys(unexpected)}")
        raise CheckFailed("structure", f"{path} {' and '.join(parts)}.")
    for key, want in expected.items():
        _expect_part(f"{path}[{_key(key)}]", got[key], want, None, show, rtol)


def _key(key: Any) -> str:
    return f'"{key}"' if isinstance(key, str) else describe(key)


def _keys(keys: list[Any]) -> str:
    shown = [_key(key) for key in keys[:DESCRIBE_ITEMS]]
    return _describe_items(shown, len(keys))
