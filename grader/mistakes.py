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

from grader.checks import expect_like


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
    """The same structure (container types, lengths, keys, shapes) and values within the checks'
    tolerance, as ``expect_like`` judges it. Never raises: a value it cannot compare is not close."""
    try:
        expect_like("value", got, expected)
    except Exception:  # CheckFailed, or a value of a kind the comparison does not know
        return False
    return True


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
    return lambda call, reference: bool(call.error) and isinstance(call.error, str) and bool(compiled.search(call.error))


def failed_as(kind: str) -> Recogniser:
    """The check failed for this reason (e.g. "modified": the input was changed in place)."""
    return lambda call, reference: call.failure == kind


def returns(value: float) -> Recogniser:
    """The student's function returns this constant where the reference returns something else."""

    def recognise(call: Call, reference: Callable[..., Any]) -> bool:
        if call.error or not close(call.value, value):
            return False
        right = _run(reference, call)
        return right is not _FAILED and not close(right, value)

    return recognise


def either(*recognisers: Recogniser) -> Recogniser:
    """One mistake can show in several ways: a wrong answer in one student's code, an error in another's."""
    return lambda call, reference: any(r(call, reference) for r in recognisers)


def both(*recognisers: Recogniser) -> Recogniser:
    """A mistake recognised only when every one of ``recognisers`` agrees (e.g. ``failed_as("modified")`` and a
    sign of how the input was modified)."""
    return lambda call, reference: all(r(call, reference) for r in recognisers)


def matches(mistake: Mistake, call: Call, reference: Callable[..., Any]) -> bool:
    """Whether ``mistake`` explains ``call``. A recogniser is the catalogue's code run on whatever the student
    returned; if it raises, that is a bug of the catalogue, never of the student, so it means "no match"
    and the error goes back to the caller, to be logged."""
    return bool(mistake.recognise(call, reference))


def recognise(catalogue: Sequence[Mistake], function: str, calls: Sequence[Call],
              reference: Callable[..., Any] | None,
              on_error: Callable[[Mistake, Exception], None] | None = None) -> list[Mistake]:
    """The catalogue entries for ``function`` that explain at least one of ``calls``. A recogniser that
    raises matches nothing; ``on_error(mistake, error)`` hears about it (to log it)."""
    found = []
    for mistake in catalogue:
        if mistake.function not in (None, function) or reference is None:
            continue
        for call in calls:
            try:
                matched = matches(mistake, call, reference)
            except Exception as error:
                if on_error is not None:
                    on_error(mistake, error)
                break
            if matched:
                found.append(mistake)
                break
    return found
