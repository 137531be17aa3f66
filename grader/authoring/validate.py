"""Run the master and the student notebooks in a real Jupyter kernel (nbclient).

The master must pass every public test; the student notebook must run to its end while every
public test fails, which shows the solutions are really gone. The reference is also timed on every
check, in process: ``call_seconds`` must leave a correct but slower solution room to finish.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError
from nbformat import NotebookNode

from grader.authoring.generate import CHECKS_MODULE
from grader.authoring.reference_check import reference_failures
from grader.config import Assignment
from grader.grading.suite import Suite, load_suite
from grader.notebooks import read_notebook
from grader.running.environments import prepare

PASSED = "All tests passed"
#: call_seconds must be at least this many times the reference's slowest call: a student's loops are often tens
#: of times slower than vectorised NumPy, and a sandboxed call adds the transfer of its arguments and answer
MARGIN = 20
#: each check is run up to REPEATS times and its slowest call taken as the median, so that one pause of a busy
#: machine cannot fail validation; a check stops repeating once its runs took REPEAT_BUDGET seconds in all
REPEATS = 3
REPEAT_BUDGET = 0.5
#: a call of another graded function that a student got wrong is answered by the reference, out of the sandbox and
#: back: 0.25 to 0.45 ms here, up to 0.75 ms with both cores busy (bench/bench_limits.py); counted at 1 ms
CALLBACK_SECONDS = 0.001
#: call_seconds must be at least this many times the slowest call estimated with those round trips
CALLBACK_MARGIN = 5


@dataclass(frozen=True)
class Validation:
    notebook: Path
    problems: tuple[str, ...]
    notes: tuple[str, ...] = ()  # figures worth showing the instructor, whatever the outcome

    @property
    def ok(self) -> bool:
        return not self.problems


def _test_cells(notebook: NotebookNode, assignment: Assignment) -> list[tuple[int, NotebookNode]]:
    names = "|".join(re.escape(f.name) for f in assignment.functions)
    pattern = re.compile(rf"^\s*({names})_test\(")
    return [(n, c) for n, c in enumerate(notebook.cells, 1) if c.cell_type == "code" and pattern.search(c.source)]


def _text(cell: NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", "") + "".join(output.get("traceback", [])) + str(output.get("data", {}).get("text/plain", "")))
    return "".join(parts)


def _kernel_python(assignment: Assignment) -> str:
    """The interpreter of the assignment's environment with ipykernel added (built on first use); "" for the
    grader's own kernel."""
    spec = assignment.environment
    environment = prepare(spec.with_kernel()) if spec is not None else None
    return environment.python if environment is not None else ""


def _kernel(python: str, folder: Path) -> KernelManager:
    """A kernel of ``python`` (a kernelspec written in ``folder``), or the grader's default ``python3``."""
    if not python:
        return KernelManager(kernel_name="python3")
    (folder / "grader-env").mkdir()
    spec = {"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "grader environment",
            "language": "python"}
    (folder / "grader-env" / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return KernelManager(kernel_name="grader-env", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(folder)]))


def _execute(notebook: NotebookNode, files: dict[str, Path], allow_errors: bool, timeout: int, python: str = "") -> str | None:
    """Run beside copies of ``files`` (name → source) in a scratch folder, in a kernel of ``python`` ("" for the
    grader's own); say what stopped it, if anything."""
    with tempfile.TemporaryDirectory(prefix="grader-validate-") as scratch, \
            tempfile.TemporaryDirectory(prefix="grader-kernel-") as kernels:
        for name, path in files.items():
            shutil.copy(path, Path(scratch) / name)
        client = NotebookClient(notebook, km=_kernel(python, Path(kernels)), timeout=timeout, kernel_name="python3",
                                allow_errors=allow_errors, resources={"metadata": {"path": scratch}})
        try:
            client.execute()
        except CellExecutionError as error:
            cell = next((n for n, c in enumerate(notebook.cells, 1) if c.get("outputs") and any(
                o.get("output_type") == "error" for o in c.outputs)), "?")
            return f"cell {cell} raised {error.ename}: {error.evalue}"
        except DeadKernelError as error:
            return f"the kernel died: {error}"
        except TimeoutError as error:
            return f"a cell ran longer than {timeout} s: {error}"
    return None


@dataclass(frozen=True)
class SlowestCall:
    """The slowest single call of ``function`` in one check (the median over the check's repeats)."""

    function: str
    check: str
    kind: str
    params: str
    seconds: float
    calls: int  # calls of the function in one run of the check
    error: str = ""  # how the check failed ("" when it passed)
    total: float = 0.0  # all its calls in one run of the check (median): what the check costs a submission
    worst: float = 0.0  # the slowest call of any repeat, pauses of the machine included
    graded_calls: int = 0  # the most calls of other graded functions (those counted) made in one call

    @property
    def with_callbacks(self) -> float:
        """Its time estimated for a student who got every graded function it calls wrong: each such call is then a
        round trip out of the sandbox to the reference (isolation)."""
        return self.seconds + self.graded_calls * CALLBACK_SECONDS


def _timed(function: Callable[..., Any], durations: list[float], counts: list[int], counter: list[int]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        before = counter[0]
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            durations.append(time.perf_counter() - started)
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
                  budget: float = REPEAT_BUDGET, counted: Mapping[str, tuple[str, ...]] | None = None) -> list[SlowestCall]:
    """Every public and hidden check of each of ``functions`` (name → callable, run in this process), with the
    slowest single call of the function it made: only the function's own time, not the check's comparisons or
    the expected values it computes. ``counted``: function → the graded functions whose calls by it to count
    (found in its globals). Trusted code only: nothing here is sandboxed."""
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
                        run(_timed(function, durations, counts, counter))
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
                found.append(SlowestCall(name, check, kind, params, statistics.median(slowest), calls, error,
                                         statistics.median(totals), max(slowest), graded_calls))
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
                        f"time out and earn nothing; set [limits] call_seconds = {math.ceil(MARGIN * slowest.seconds)} "
                        f"or more in assignment.toml, or make that check's inputs smaller")
    busiest = max(calls, key=lambda c: c.with_callbacks)
    if busiest.graded_calls:
        estimate = busiest.with_callbacks
        lines.append(f"limits: {where(busiest)} calls other graded functions {busiest.graded_calls} times; for a student "
                     f"who got those wrong, each is a round trip to the reference out of the sandbox (counted at "
                     f"{duration(CALLBACK_SECONDS)}, though the grader's own part of it is given back): about "
                     f"{duration(estimate)}, and call_seconds leaves at least {margin(limit / estimate)}")
        if limit < CALLBACK_MARGIN * estimate:
            problems.append(f"call_seconds = {limit:g} s is less than {CALLBACK_MARGIN}x the slowest call estimated with "
                            f"round trips to the reference ({duration(estimate)}, {where(busiest)}, "
                            f"{busiest.graded_calls} calls of other graded functions): a correct solution whose helper "
                            f"functions are wrong could time out and earn nothing; set [limits] call_seconds = "
                            f"{math.ceil(CALLBACK_MARGIN * estimate)} or more in assignment.toml, or make that check's "
                            f"inputs smaller")
    return lines, problems


def validate_master(assignment: Assignment, timeout: int = 300) -> Validation:
    notebook = read_notebook(assignment.master_notebook)
    files = {name: assignment.source_dir / name for name in assignment.release_files}
    stopped = _execute(notebook, {**files, "grader_checks.py": CHECKS_MODULE}, allow_errors=False, timeout=timeout,
                       python=_kernel_python(assignment))
    problems = []
    if stopped:
        problems.append(stopped)
    tests = _test_cells(notebook, assignment)
    if not tests:
        problems.append("no public test cell (e.g. zero_pad_test(zero_pad)) was found")
    suite = load_suite(assignment)
    problems += [f"the reference fails its own check {failure}" for failure in reference_failures(assignment, suite)]
    problems += [f"cell {n}: the public test did not pass" for n, cell in tests if not stopped and PASSED not in _text(cell)]
    limits, too_tight = limits_check(assignment, suite)
    return Validation(assignment.master_notebook, tuple(problems + too_tight), tuple(limits))


def validate_student(assignment: Assignment, release_dir: Path | None = None, timeout: int = 300) -> Validation:
    release_dir = assignment.release_dir if release_dir is None else release_dir
    path = release_dir / assignment.notebook
    notebook = read_notebook(path)
    files = {p.name: p for p in release_dir.iterdir() if p.is_file() and p.name != assignment.notebook}
    problems = []
    stopped = _execute(notebook, files, allow_errors=True, timeout=timeout, python=_kernel_python(assignment))
    if stopped:
        problems.append(stopped)
    tests = _test_cells(notebook, assignment)
    if len(tests) < len(assignment.functions):
        problems.append(f"only {len(tests)} public test cells for {len(assignment.functions)} graded functions")
    problems += [f"cell {n}: the public test passed on the stripped notebook" for n, cell in tests if PASSED in _text(cell)]
    return Validation(path, tuple(problems))
