"""How much room ``[limits] call_seconds`` leaves the reference: each public and hidden check timed on the reference, in
process (it is trusted), and, with isolation, its calls of other graded functions counted as the round trips out of
the sandbox they cost a student who got those functions wrong. Used by ``grader validate`` and bench/bench_limits.py.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from grader.config import Assignment
from grader.grading.suite import Suite

#: call_seconds must be at least this many times the reference's slowest call: a student's loops are often tens
#: of times slower than vectorised NumPy, and a sandboxed call adds the transfer of its arguments and answer
MARGIN = 20
#: each check is run up to REPEATS times and its slowest call taken from the fastest run, as timeit does: a busy
#: machine only ever adds time; a check stops repeating once its runs took REPEAT_BUDGET seconds in all
REPEATS = 3
REPEAT_BUDGET = 0.5
#: a call of another graded function that a student got wrong is answered by the reference, out of the sandbox and
#: back; call_seconds counts the child's CPU time only, which is about 60 µs of such a round trip here (encoding
#: the arguments, reading the answer; bench/bench_limits.py), while the reference's own time is not counted;
#: counted at 0.2 ms
CALLBACK_SECONDS = 0.0002
#: call_seconds must be at least this many times the slowest call estimated with those round trips
CALLBACK_MARGIN = 5


@dataclass(frozen=True)
class SlowestCall:
    """The slowest single call of ``function`` in one check (in its fastest repeat)."""

    function: str
    check: str
    kind: str
    params: str
    seconds: float
    calls: int  # calls of the function in one run of the check
    error: str = ""  # how the check failed ("" when it passed)
    total: float = 0.0  # all its calls in one run of the check (the fastest run): what the check costs a submission
    worst: float = 0.0  # the slowest call of any repeat, pauses of the machine included
    graded_calls: int = 0  # the most calls of other graded functions (those counted) made in one call

    @property
    def with_callbacks(self) -> float:
        """Its time estimated for a student who got every graded function it calls wrong: each such call is then a
        round trip out of the sandbox to the reference (isolation)."""
        return self.seconds + self.graded_calls * CALLBACK_SECONDS


def _timed(function: Callable[..., Any], durations: list[float], counts: list[int], counter: list[int],
           clock: Callable[[], float]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        before = counter[0]
        started = clock()
        try:
            return function(*args, **kwargs)
        finally:
            durations.append(clock() - started)
            counts.append(counter[0] - before)

    return call


@contextlib.contextmanager
def _counting(function: Callable[..., Any], names: tuple[str, ...], counter: list[int]) -> Iterator[None]:
    """Count in ``counter`` the calls ``function`` makes of ``names`` through its globals (the reference's namespace,
    where it finds the other graded functions); the namespace is restored afterwards."""
    namespace = getattr(function, "__globals__", {})
    saved = {name: namespace[name] for name in names if callable(namespace.get(name))}

    def counted(helper: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            counter[0] += 1
            return helper(*args, **kwargs)

        return call

    namespace.update({name: counted(helper) for name, helper in saved.items()})
    try:
        yield
    finally:
        namespace.update(saved)


def _failure(error: Exception) -> str:
    return f"{getattr(error, 'kind', type(error).__name__)}: {getattr(error, 'message', error)}"


def slowest_calls(suite: Suite, functions: dict[str, Callable[..., Any]], repeats: int = REPEATS,
                  budget: float = REPEAT_BUDGET, counted: Mapping[str, tuple[str, ...]] | None = None,
                  clock: Callable[[], float] = time.process_time) -> list[SlowestCall]:
    """Every public and hidden check of each of ``functions`` (name → callable, run in this process), with the
    slowest single call of the function it made: only the function's own time, not the check's comparisons or
    the expected values it computes. ``counted``: function → the graded functions whose calls by it to count
    (found in its globals). ``clock``: this process's CPU time by default, as call_seconds counts a call (the wall
    clock read 63 ms for a 14-32 ms call while another job shared the cores). Trusted code only:
    nothing here is sandboxed."""
    found = []
    for name, function in functions.items():
        for check, kind, params, run in suite.checks_for(name):
            slowest: list[float] = []
            totals: list[float] = []
            spent, error, calls, graded_calls = 0.0, "", 0, 0
            while len(slowest) < repeats and (not slowest or spent < budget):
                durations: list[float] = []
                counts: list[int] = []
                counter = [0]
                started = time.perf_counter()
                try:
                    with contextlib.redirect_stdout(io.StringIO()), \
                            _counting(function, (counted or {}).get(name, ()), counter):
                        run(_timed(function, durations, counts, counter, clock))
                except Exception as failed:
                    error = error or _failure(failed)
                spent += time.perf_counter() - started
                calls = len(durations)
                if not durations:
                    break
                slowest.append(max(durations))
                totals.append(sum(durations))
                graded_calls = max(graded_calls, *counts)
            if slowest:
                found.append(SlowestCall(name, check, kind, params, min(slowest), calls, error, min(totals),
                                         max(slowest), graded_calls))
            elif error:
                found.append(SlowestCall(name, check, kind, params, 0.0, 0, error))
    return found


def duration(seconds: float) -> str:
    """``0.0000547`` → "54.7 µs", ``0.0123`` → "12.3 ms", ``2`` → "2 s"."""
    if seconds < 0.001:
        return f"{seconds * 1e6:.3g} µs"
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def margin(ratio: float) -> str:
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def where(call: SlowestCall) -> str:
    """Where a call was made, as an instructor finds it: "conv_backward, hidden #3" or "zero_pad, public test"."""
    if call.kind == "public":
        return f"{call.function}, public test"
    return f"{call.function}, {call.check.removeprefix(call.function).strip()}"


def _at_least(seconds: float) -> str:
    """A limit to suggest: ``seconds`` rounded up to a tenth."""
    return f"{math.ceil(seconds * 10 - 1e-9) / 10:g}"


def limits_check(assignment: Assignment, suite: Suite) -> tuple[list[str], list[str]]:
    """Lines on how much room ``call_seconds`` leaves the reference's slowest call, and problems when it is less
    than MARGIN times that call (a correct student solution slower than the reference would time out and earn
    nothing for the function), or, with isolation, less than CALLBACK_MARGIN times the slowest call counting a
    round trip out of the sandbox for each call of another graded function (what a student who got those wrong
    costs)."""
    if suite.reference is None:
        return [], []
    functions = {f.name: getattr(suite.reference, f.name) for f in assignment.functions}
    calls = [c for c in slowest_calls(suite, functions, counted=suite.depends if assignment.isolate else None) if c.calls]
    if not calls:
        return ["limits: no check called a reference function, so nothing was timed"], []
    limit = assignment.limits.call_seconds
    slowest = max(calls, key=lambda c: c.seconds)
    ratio = limit / slowest.seconds if slowest.seconds > 0 else math.inf
    lines = [f"limits: the reference's slowest call is {duration(slowest.seconds)} ({where(slowest)}); "
             f"call_seconds = {limit:g} s leaves {margin(ratio)}"]
    problems = []
    if ratio < MARGIN:
        problems.append(f"call_seconds = {limit:g} s is less than {MARGIN}x the reference's slowest call "
                        f"({duration(slowest.seconds)}, {where(slowest)}): a correct but slower student solution could "
                        f"time out and earn nothing; set [limits] call_seconds = {_at_least(MARGIN * slowest.seconds)} "
                        f"or more in assignment.toml, or make that check's inputs smaller")
    busiest = max(calls, key=lambda c: c.with_callbacks)
    if busiest.graded_calls:
        estimate = busiest.with_callbacks
        lines.append(f"limits: {where(busiest)} calls other graded functions {busiest.graded_calls} times; for a student "
                     f"who got those wrong, each is a round trip to the reference out of the sandbox (counted at "
                     f"{duration(CALLBACK_SECONDS)} of its own CPU time; the reference's is not counted): about "
                     f"{duration(estimate)}, and call_seconds leaves at least {margin(limit / estimate)}")
        if limit < CALLBACK_MARGIN * estimate:
            problems.append(f"call_seconds = {limit:g} s is less than {CALLBACK_MARGIN}x the slowest call estimated with "
                            f"round trips to the reference ({duration(estimate)}, {where(busiest)}, "
                            f"{busiest.graded_calls} calls of other graded functions): a correct solution whose helper "
                            f"functions are wrong could time out and earn nothing; set [limits] call_seconds = "
                            f"{_at_least(CALLBACK_MARGIN * estimate)} or more in assignment.toml, or make that check's "
                            f"inputs smaller")
    return lines, problems
