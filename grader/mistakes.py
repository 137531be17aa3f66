"""Known mistakes: recognising, after a check failed, which classic mistake a submission made.

An assignment's catalogue (``solutions/<name>/mistakes.py``, a function ``catalogue(ref)``) lists
Mistake entries: data, with a recogniser and a hint each. Recognisers run here, in the trusted
process, on the calls a failed check made: the arguments it passed and what came back. The
``like`` recogniser runs the reference with the mistake put in and compares; it only fires when
that output differs from the correct one, so it can never fire on a correct answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from grader.checks import expect_like, snapshot


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
    if isinstance(function, _Remembering):
        return function.answer(call)
    try:
        return function(*snapshot(call.args), **snapshot(call.kwargs))
    except Exception:  # the mistaken version may well fail on these inputs: then it explains nothing
        return _FAILED


class _Remembering:
    """The reference, run once per recorded call however many recognisers ask for its answer (``_run``): each
    recogniser of a function would otherwise run it again on the same inputs, and the master's own loops are slow.
    Called directly, it is the reference."""

    def __init__(self, reference: Callable[..., Any]) -> None:
        self.reference = reference
        self._answers: dict[int, Any] = {}  # by the call's id: the calls outlive this object

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.reference(*args, **kwargs)

    def answer(self, call: Call) -> Any:
        if id(call) not in self._answers:
            self._answers[id(call)] = _run(self.reference, call)
        found = self._answers[id(call)]
        return found if found is _FAILED else snapshot(found)  # a recogniser may change what it is given


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


#: The reference-free forms of a recogniser (``{"raises": pattern}`` or ``{"failed_as": kind}``), any one of which
#: recognises the mistake without running the reference: what ``grader check`` can use where students have no
#: reference (written into the release as known_mistakes.json by ``grader generate``).
PUBLIC_FORMS = "public_forms"


def _with_forms(recogniser: Recogniser, forms: tuple[dict[str, str], ...]) -> Recogniser:
    setattr(recogniser, PUBLIC_FORMS, forms)
    return recogniser


def public_forms(recogniser: Recogniser) -> tuple[dict[str, str], ...]:
    return tuple(getattr(recogniser, PUBLIC_FORMS, ()))


def raises(pattern: str) -> Recogniser:
    """The student's code raised an error whose traceback matches ``pattern``."""
    compiled = re.compile(pattern)
    return _with_forms(lambda call, reference: bool(call.error) and isinstance(call.error, str)
                       and bool(compiled.search(call.error)), ({"raises": pattern},))


def failed_as(kind: str) -> Recogniser:
    """The check failed for this reason (e.g. "modified": the input was changed in place)."""
    return _with_forms(lambda call, reference: call.failure == kind, ({"failed_as": kind},))


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
    return _with_forms(lambda call, reference: any(r(call, reference) for r in recognisers),
                       tuple(form for r in recognisers for form in public_forms(r)))


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
    reference = _Remembering(reference) if reference is not None else None
    for mistake in catalogue:
        if mistake.function not in (None, function):
            continue
        if reference is None:  # grader check: only what needs no reference
            forms = public_forms(mistake.recognise)
            if not forms:
                continue
            recogniser = from_forms(forms)
        else:
            recogniser = mistake.recognise
        for call in calls:
            try:
                matched = matches(mistake, call, reference) if reference is not None else bool(recogniser(call, _no_reference))
            except Exception as error:
                if on_error is not None:
                    on_error(mistake, error)
                break
            if matched:
                found.append(mistake)
                break
    return found


def _no_reference(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("a reference-free recogniser called the reference")


def from_forms(forms: Sequence[dict[str, str]]) -> Recogniser:
    """A recogniser from reference-free forms (as written to known_mistakes.json): any one of them matches."""
    parts = [raises(form["raises"]) if "raises" in form else failed_as(form["failed_as"]) for form in forms]
    return either(*parts)


def public_hints(catalogue: Sequence[Mistake]) -> list[dict[str, Any]]:
    """The entries of ``catalogue`` that can be recognised without the reference, as plain data for the release:
    id, title, hint, function and their reference-free forms. Never a mistaken implementation."""
    return [{"id": m.id, "title": m.title, "hint": m.hint, "function": m.function, "forms": list(public_forms(m.recognise))}
            for m in catalogue if public_forms(m.recognise)]


def from_public_hints(entries: Sequence[dict[str, Any]]) -> tuple[Mistake, ...]:
    """Mistakes rebuilt from ``public_hints`` data (the release's known_mistakes.json)."""
    return tuple(Mistake(e["id"], e["title"], e["hint"], from_forms(e["forms"]), e.get("function")) for e in entries)
