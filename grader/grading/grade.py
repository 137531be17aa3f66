"""One submission, top to bottom: extract → load in the sandbox → run every check → score → report.

The checks (public tests and hidden cases) run here, in the grader's process; they call a
proxy that forwards each call of a student's function to the sandboxed worker and turns what
comes back into a value or an exception.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np

from grader.checks import CheckFailed, describe, identical, snapshot
from grader.config import Assignment, Limits
from grader.errors import NotebookError
from grader.grading.extract import allowed_chunks, chunk_labels, cite_cells, edited, extract_bounded, extract_kept
from grader.grading.sandbox import CallOutcome, Worker
from grader.grading.suite import Suite
from grader.mistakes import Call, Mistake, recognise
from grader.model import CheckResult, FunctionScore, GradeReport, MistakeMatch, Submission, places_of
from grader.text import clean_text


class StudentFailure(Exception):
    """The student's function did not return a value: it raised, timed out, ran out of memory or crashed."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


OUTCOME_OF_STATUS = {"raised": "error", "memory": "memory", "timeout": "timeout", "crash": "crash"}
#: The outcome of a check that failed because of the grader, a test or the reference. It earns nothing until the
#: staff fix it (a sloppy test must not hand out points), but it is never reported as the student's mistake.
GRADER_ERROR = "grader-error"


#: What a student can do about a notebook that cannot be read: shown instead of every check failing the same way.
UNREADABLE_ADVICE = ("Open it in Jupyter, save it again and hand it in again. If it will not open, look for a merge "
                     "conflict (lines starting with <<<<<<< or >>>>>>>) or an upload that was cut short, and hand in "
                     "the copy that opens.")


def grader_error_message(error: BaseException, kind: str) -> str:
    detail = f" ({type(error).__name__}: {error})" if kind == "public" else f" ({type(error).__name__})"
    return clean_text(f"The grader failed while running this check{detail}. This is not a mistake in your code; "
                      "the course staff will fix the check and grade it again.", 600)


def _write_back(original: Any, new: Any) -> None:
    """Make an in-place change the student's code made in the sandbox visible to the check here."""
    if isinstance(original, np.ndarray) and isinstance(new, np.ndarray) and original.shape == new.shape:
        np.copyto(original, new, casting="unsafe")
    elif isinstance(original, dict) and isinstance(new, dict):
        original.clear()
        original.update(new)
    elif isinstance(original, list) and isinstance(new, list):
        original[:] = new
    elif isinstance(original, tuple) and isinstance(new, tuple) and len(original) == len(new):
        for old_item, new_item in zip(original, new):
            _write_back(old_item, new_item)


Arguments = tuple[tuple[Any, ...], dict[str, Any]]


class Proxy:
    """Stands in for the student's function inside a check; remembers its last call and what it printed.

    ``then`` (set before a check runs): the arguments the next check will call with first (``first_calls``). It is
    queued in the sandbox as soon as this check's own first call is answered: at once when an earlier check queued
    that call for this one, else behind it (``Worker.call``). The child runs it while this check prepares its call and
    judges the answer; the next check takes that answer if it calls with those arguments, else calls anew. Calls
    happen in the order they would without it, except that the next check's first call comes before this check's
    second call, and before its first call when that is not the one planned for it."""

    def __init__(self, worker: Worker, function: str, stubs: dict[str, Callable[..., Any]], waited: float = 0.0) -> None:
        self.worker = worker
        self.waited = waited  # wall clock spent waiting for the sandbox, this submission's earlier functions included
        self.function = function
        self.stubs = stubs
        self.output: list[str] = []
        self.calls: list[Call] = []  # this check's calls, for recognising known mistakes
        self._last: Arguments | None = None  # the arguments of the check's last call, as they were
        self._changed = False  # whether that call changed any of them
        self.then: Arguments | None = None
        self._ahead: tuple[Arguments, CallOutcome | None] | None = None  # what was queued for the next check, its answer
        self._mine: tuple[Arguments, CallOutcome | None] | None = None  # what the check before queued for this one
        self.__name__ = function

    def next_check(self, then: Arguments | None) -> None:
        """A check begins: what the previous one queued is its own now; ``then`` is the one after's first call."""
        if self._ahead is not None and self._ahead[1] is None:  # never collected: the sandbox must answer it first
            started = time.monotonic()
            self._ahead = (self._ahead[0], self.worker.take_queued())
            self.waited += time.monotonic() - started
        self._mine, self._ahead = self._ahead, None
        self.then = then  # None for a function with stubs (_run_function plans nothing for it)
        if then is not None and self._mine is not None and self._mine[1] is not None:
            self.then = None  # this check's call is answered and the child idle: the next check's starts now
            self.worker.queue(self.function, *then)
            self._ahead = (then, None) if self.worker.queued else None

    def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallOutcome:
        mine, self._mine = self._mine, None
        then, self.then = self.then, None
        if mine is not None and mine[1] is not None and identical((args, kwargs), mine[0]):
            return mine[1]
        if self._ahead is not None and self._ahead[1] is None:  # a second call: the next check's call answers first
            self._ahead = (self._ahead[0], self.worker.take_queued())
        outcome = self.worker.call(self.function, args, kwargs, frozenset(self.stubs), then=then)
        if then is not None and self.worker.queued:
            self._ahead = (then, None)
        return outcome

    def forget(self) -> None:
        """A check begins: nothing of the last one's calls is its own."""
        self.output.clear()
        self.calls.clear()
        self._last, self._changed = None, False

    @property
    def last_call(self) -> str:
        """The check's last call as one line, "zero_pad(array of shape (4, 3, 3, 2) (float64), 2)": described only
        when a failed check shows it, from the arguments as they were when it was made."""
        if self._last is None:
            return ""
        args, kwargs = self._last
        arguments = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
        return f"{self.function}({', '.join(arguments)})"

    @property
    def arguments_before(self) -> Arguments | None:
        """The last call's arguments as they were before it, if it changed any in place (the sandbox says which, and
        they are written back here), else None: ``checks.call_unchanged`` then has nothing to compare."""
        return self._last if self._changed else None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        before: Arguments = snapshot((args, kwargs))
        self._last, self._changed = before, False
        started = time.monotonic()
        outcome = self._call(args, kwargs)
        self.waited += time.monotonic() - started
        self._changed = bool(outcome.changed)
        self.calls.append(Call(*before, value=outcome.value, error=outcome.message if outcome.status == "raised" else ""))
        if outcome.output:
            self.output.append(outcome.output)
        if outcome.status == "returned":
            for key, value in outcome.changed.items():
                where = f"argument #{key + 1}" if isinstance(key, int) else f"argument {key!r}"
                if value is None:
                    raise CheckFailed("modified", f"{self.function} put something that is not plain data into {where}.")
                if isinstance(key, int) and key < len(args):
                    _write_back(args[key], value)
                elif key in kwargs:
                    _write_back(kwargs[key], value)
            return outcome.value
        if outcome.status == "unencodable":
            raise CheckFailed("type", f"{self.function} returned {outcome.message.removeprefix('a ')}")
        raise StudentFailure(OUTCOME_OF_STATUS[outcome.status], outcome.message)


class _FirstCall(BaseException):
    """A check's first call of the student's function, stopped (a BaseException: a check that catches the student's
    errors must not catch this)."""

    def __init__(self, arguments: Arguments) -> None:
        super().__init__()
        self.arguments = arguments


def first_calls(checks: list[tuple[str, str, str, Callable[[Callable[..., Any]], None]]]) -> list[Arguments | None]:
    """The arguments each hidden check first calls the student's function with, found by running it up to that call
    (None where it makes none, or fails first; public tests print and are not planned): see ``Proxy``."""

    def stop(*args: Any, **kwargs: Any) -> None:
        raise _FirstCall((args, kwargs))

    found: list[Arguments | None] = []
    for _, kind, _, run in checks:
        arguments = None
        if kind == "hidden":
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    run(stop)
                except _FirstCall as call:
                    arguments = call.arguments
                except Exception:  # met again, and reported, when the check runs
                    pass
        found.append(arguments)
    return found


def run_check(function: str, name: str, kind: str, params: str, run: Callable[[Callable[..., Any]], None],
              proxy: Proxy) -> CheckResult:
    """Run one check against the proxy; every way it can end becomes a CheckResult."""
    proxy.forget()
    started = time.perf_counter()
    result: dict[str, str] = {"outcome": "passed"}
    with contextlib.redirect_stdout(io.StringIO()):  # public tests print their success line
        try:
            run(proxy)
        except CheckFailed as failed:
            result = {"outcome": "wrong", "failure": failed.kind, "message": failed.message}
            if kind == "public" and isinstance(failed.expected, np.ndarray) and isinstance(failed.got, np.ndarray):
                from grader.reporting.plots import comparison  # here, as difflib and logging: only on failures

                picture = comparison(failed.expected, failed.got)
                result.update(image=picture.image, image_alt=picture.alt)
        except StudentFailure as failure:
            result = {"outcome": failure.outcome, "message": failure.message}
        except Exception as error:  # a bug of the test, the reference or the grader: never the student's fault
            result = {"outcome": GRADER_ERROR, "message": grader_error_message(error, kind)}
    output = clean_text("".join(proxy.output), proxy.worker.limits.output_kb * 1024)  # per check, however many calls
    called = proxy.last_call if kind == "public" and result["outcome"] != "passed" else ""
    return CheckResult(function=function, name=name, kind=kind, params=params, output=output, called=called,
                       duration=round(time.perf_counter() - started, 4), **result)


def _not_run(function: str, suite: Suite, message: str, outcome: str = "missing") -> list[CheckResult]:
    return [CheckResult(function=function, name=name, kind=kind, params=params, outcome=outcome, message=message)
            for name, kind, params, _ in suite.checks_for(function)]


def why_missing(name: str, submission: Submission, graded: Collection[str] = ()) -> str:
    """The most useful thing to tell a student whose function the grader cannot find (a renamed copy is looked for
    among the other names only: pool_forward was not renamed to conv_forward)."""
    unparsed = [why for function, why in submission.unparsed if function == name]
    if unparsed:
        return f"{name} was not graded: {unparsed[-1]}"
    if name in submission.defined:
        return f"{name} is defined, but its cell failed when it ran (see the notes above)."
    import difflib

    similar = difflib.get_close_matches(name, sorted(submission.defined - set(graded)), n=1, cutoff=0.75)
    hint = f" The notebook defines {similar[0]}: was it renamed? Keep the name {name}." if similar else ""
    return f"{name} is not defined in the notebook.{hint}"


def score(assignment: Assignment, checks: list[CheckResult]) -> tuple[tuple[FunctionScore, ...], float]:
    """A function earns its points when it has at least one check and passes all of them. Optional functions
    follow ``assignment.optional_scoring``: worth nothing (``ungraded``), or extra credit, capped at the maximum
    (``extra-credit-capped``) or not (``extra-credit``)."""
    scores = []
    for function in assignment.functions:
        own = [c for c in checks if c.function == function.name]
        passed = sum(c.passed for c in own)
        points = 0.0 if function.optional and assignment.optional_scoring == "ungraded" else function.points
        earned = points if own and passed == len(own) else 0.0
        scores.append(FunctionScore(function.name, points, function.optional, earned, len(own), passed))
    total = sum(s.score for s in scores)
    if assignment.optional_scoring != "extra-credit":
        total = min(assignment.max_score, total)
    return tuple(scores), total


def not_graded(path: Path, assignment: Assignment, suite: Suite, problem: str, started: float,
               outcome: str = "error") -> GradeReport:
    """The report of a submission that could not be graded at all: every check failed, and why."""
    checks = [r for f in assignment.functions for r in _not_run(f.name, suite, f"not graded: {problem}", outcome=outcome)]
    functions, total = score(assignment, checks)
    return GradeReport(assignment.name, assignment.title, str(path), total, assignment.max_score, functions, tuple(checks),
                       error=problem, execution_time=round(time.perf_counter() - started, 3),
                       scoring=assignment.optional_scoring)


def _log_recogniser(mistake: Mistake, error: Exception) -> None:
    """A recogniser that raises is the catalogue's bug: skipped, logged for the staff, never the student's cost."""
    import logging

    logging.getLogger(__name__).warning("recogniser %r of the mistakes catalogue raised and was skipped: %s: %s",
                                        mistake.id, type(error).__name__, error)


def _out_of_time(limits: Limits) -> str:
    return (f"not run: this submission's calls had taken {limits.submission_seconds:g} s of wall clock in all, as "
            "much as one submission may (do its functions sleep or wait for something?)")


def _run_function(name: str, suite: Suite, proxy: Proxy) -> tuple[list[CheckResult], list[MistakeMatch]]:
    own: list[CheckResult] = []
    known: dict[str, MistakeMatch] = {}
    reference = getattr(suite.reference, name, None)
    checks = suite.checks_for(name)
    planned = [*first_calls(checks)[1:], None] if not proxy.stubs else [None] * len(checks)
    limits = proxy.worker.limits
    for (check, kind, params, run), then in zip(checks, planned):
        if proxy.waited >= limits.submission_seconds:
            own.append(CheckResult(name, check, kind, "timeout", _out_of_time(limits), params=params))
            continue
        if own and own[-1].outcome == "timeout":  # the function earns nothing now; don't wait again
            own.append(CheckResult(name, check, kind, "timeout", "not run: an earlier check of this function timed out",
                                   params=params))
            continue
        proxy.next_check(then)
        result = run_check(name, check, kind, params, run, proxy)
        own.append(result)
        if not result.passed and suite.mistakes:
            calls = [dataclasses.replace(call, failure=result.failure) for call in proxy.calls]
            for mistake in recognise(suite.mistakes, name, calls, reference, on_error=_log_recogniser):
                known.setdefault(mistake.id, MistakeMatch(name, mistake.id, mistake.title, mistake.hint, check))
    proxy.next_check(None)  # nothing left queued in the sandbox for the next function
    return own, list(known.values())


def _edited(submission: Submission, assignment: Assignment) -> tuple[str, ...]:
    try:
        template = extract_kept(assignment.student_notebook)
    except NotebookError:  # no release beside the course: the failures alone say "not started"
        return ()
    return edited(submission, template, assignment.graded)


def grade_submission(path: Path, assignment: Assignment, suite: Suite, worker: Worker,
                     meanwhile: Callable[[Submission], None] | None = None) -> GradeReport:
    """``meanwhile``: the caller's own work (given what extraction found), done while the sandbox runs the notebook's
    definitions."""
    started = time.perf_counter()
    names = [f.name for f in assignment.functions]
    try:
        submission = allowed_chunks(extract_bounded(path, names), assignment)
    except NotebookError as error:
        return not_graded(path, assignment, suite, f"This file could not be read as a notebook: {error}. {UNREADABLE_ADVICE}",
                          started)

    suite = suite.for_submission(assignment, submission)  # hidden cases drawn from this notebook's own seed
    loaded = worker.begin_load(submission, names)
    if loaded is None:  # the sandbox runs the notebook's definitions while the hidden cases work out their answers
        if meanwhile is not None:
            meanwhile(submission)
        suite.prepare_hidden()
        loaded = worker.finish_load()
    if loaded.unsafe:  # the grader's fault: nothing of the student's ran, and they are told so
        worker.end()
        return not_graded(path, assignment, suite, f"The grader could not run this submission safely ({loaded.failure}); "
                          "nothing of it was run. Please tell the course staff.", started, outcome=GRADER_ERROR)
    notes = [*submission.notes, *(f"loading {problem}" for problem in loaded.errors)]
    isolate = assignment.isolate and suite.reference is not None
    checks: list[CheckResult] = []
    mistakes: list[MistakeMatch] = []
    failed: set[str] = set()
    waited = 0.0
    for name in names:
        if loaded.failure:
            checks += _not_run(name, suite, loaded.failure, outcome="error")
        elif name not in loaded.defined:
            checks += _not_run(name, suite, why_missing(name, submission, names))
            failed.add(name)
        elif waited >= worker.limits.submission_seconds:
            checks += _not_run(name, suite, _out_of_time(worker.limits), outcome="timeout")
            failed.add(name)
        else:
            stubs = suite.stubs_for(name, failed) if isolate else {}
            proxy = Proxy(worker, name, stubs, waited)
            own, known = _run_function(name, suite, proxy)
            waited = proxy.waited
            if not all(c.passed for c in own):
                failed.add(name)
            checks += own
            mistakes += known
    worker.end()
    broken = sorted({c.function for c in checks if c.outcome == GRADER_ERROR})
    if broken:
        notes.insert(0, f"The grader failed on {sum(c.outcome == GRADER_ERROR for c in checks)} check(s) of "
                        f"{', '.join(broken)}: not your fault. The course staff will fix them and grade again.")
    labels = chunk_labels(submission.chunks, names)  # cells named as the student sees them, not by a count
    checks = [dataclasses.replace(c, message=cite_cells(c.message, labels)) for c in checks]
    notes = [cite_cells(note, labels) for note in notes]
    functions, total = score(assignment, checks)
    problem = f"The notebook's definitions could not be loaded: {loaded.failure}." if loaded.failure else ""
    return GradeReport(assignment.name, assignment.title, str(path), total, assignment.max_score, functions, tuple(checks),
                       tuple(notes), tuple(mistakes), error=problem, execution_time=round(time.perf_counter() - started, 3),
                       scoring=assignment.optional_scoring, edited=_edited(submission, assignment),
                       places=places_of(submission))
