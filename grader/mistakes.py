"""Known mistakes: recognising, after a check failed, which classic mistake a submission made.

An assignment's catalogue (``solutions/<name>/mistakes.py``, a function ``catalogue(ref)``) lists
Mistake entries: data, with a recogniser and a hint each. Recognisers run here, in the trusted
process, on the calls a failed check made: the arguments it passed and what came back. The
``like`` recogniser runs the reference with the mistake put in and compares; it only fires when
that output differs from the correct one, so it can never fire on a correct answer.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.checks import tolerance


@dataclass(frozen=True)
class Call:
    """One call a check made of the student's function, as plain data."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    value: Any = None
    error: str = ""  # the student's traceback when the call raised
    failure: str = ""  # how the check that made the call failed (shape, values, modified, ...)


Recogniser = Callable[[Call, Callable[..., Any]], bool]


@dataclass(frozen=True)
class Mistake:
    id: str
    title: str
    hint: str
    recognise: Recogniser
    function: str | None = None  # None: any function


def close(got: Any, expected: Any) -> bool:
    """The same structure and shapes, and values within the checks' tolerance."""
    if isinstance(expected, np.ndarray):
        return (isinstance(got, np.ndarray) and got.shape == expected.shape and got.dtype.kind in "biuf"
                and bool(np.all(np.abs(got.astype(float) - expected.astype(float)) <= tolerance(expected.astype(float)))))
    if isinstance(expected, (tuple, list)):
        return isinstance(got, (tuple, list)) and len(got) == len(expected) and all(map(close, got, expected))
    if isinstance(expected, (int, float, np.number)) and not isinstance(expected, bool):
        return isinstance(got, (int, float, np.number)) and abs(float(got) - float(expected)) <= 1e-4 * max(1.0, abs(float(expected)))
    return bool(got == expected)


def _run(function: Callable[..., Any], call: Call) -> Any:
    try:
        return function(*copy.deepcopy(call.args), **copy.deepcopy(call.kwargs))
    except Exception:  # the mistaken version may well fail on these inputs: then it explains nothing
        return _FAILED


_FAILED = object()


def like(*mistaken: Callable[..., Any]) -> Recogniser:
    """The student's answer equals that of one of the ``mistaken`` implementations, which differ from the reference."""

    def recognise(call: Call, reference: Callable[..., Any]) -> bool:
        if call.error:
            return False
        right = _run(reference, call)
        for version in mistaken:
            wrong = _run(version, call)
            if wrong is not _FAILED and not close(wrong, right) and close(call.value, wrong):
                return True
        return False

    return recognise


def raises(pattern: str) -> Recogniser:
    """The student's code raised an error whose traceback matches ``pattern``."""
    compiled = re.compile(pattern)
    return lambda call, reference: bool(call.error and compiled.search(call.error))


def failed_as(kind: str) -> Recogniser:
    """The check failed for this reason (e.g. "modified": the input was changed in place)."""
    return lambda call, reference: call.failure == kind


def returns(value: float) -> Recogniser:
    """The student's function returns this constant where the reference returns something else."""

    def recognise(call: Call, reference: Callable[..., Any]) -> bool:
        right = _run(reference, call)
        return not call.error and close(call.value, value) and not close(right, value)

    return recognise


def either(*recognisers: Recogniser) -> Recogniser:
    """One mistake can show in several ways: a wrong answer in one student's code, an error in another's."""
    return lambda call, reference: any(r(call, reference) for r in recognisers)


def recognise(catalogue: Sequence[Mistake], function: str, calls: Sequence[Call],
              reference: Callable[..., Any] | None) -> list[Mistake]:
    """The catalogue entries for ``function`` that explain at least one of ``calls``."""
    found = []
    for mistake in catalogue:
        if mistake.function not in (None, function):
            continue
        if reference is not None and any(mistake.recognise(call, reference) for call in calls):
            found.append(mistake)
    return found
