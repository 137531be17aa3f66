"""`grader validate` runs notebooks in a real Jupyter kernel."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from grader.authoring.limits import limits_check, slowest_calls
from grader.config import Assignment, load_assignment
from grader.grading.suite import load_suite
from tests.conftest import ROOT, run_cli, write_notebook

pytestmark = pytest.mark.kernel


def test_validate_the_real_assignment() -> None:
    result = run_cli("validate", "cnn_step_by_step")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok ") == 2


def test_a_broken_master_is_reported_with_its_cell(tmp_path: Path) -> None:
    course = tmp_path / "course"
    shutil.copytree(ROOT / "solutions", course / "solutions")
    shutil.copytree(ROOT / "assignments", course / "assignments")
    master = course / "solutions" / "cnn_step_by_step" / "cnn_step_by_step.ipynb"
    notebook = nbformat.read(master, as_version=4)
    number, cell = next((n, c) for n, c in enumerate(notebook.cells, 1) if c.source.startswith("# GRADED FUNCTION: zero_pad"))
    cell.source = cell.source.replace("(pad, pad), (pad, pad), (0, 0))", "(pad, pad), (pad, pad + 1), (0, 0))")
    nbformat.write(notebook, master)
    result = run_cli("validate", "cnn_step_by_step", cwd=course)
    assert result.returncode == 1
    assert f"FAIL {master}" in result.stdout
    assert "raised CheckFailed: zero_pad(x, 3) has shape (4, 9, 10, 2), expected (4, 9, 9, 2)." in result.stdout
    test_cell = next(n for n, c in enumerate(notebook.cells, 1) if c.source.strip() == "zero_pad_test(zero_pad)")
    assert test_cell > number and f"cell {test_cell} raised" in result.stdout


def test_validate_prints_how_much_room_call_seconds_leaves_the_reference() -> None:
    result = run_cli("validate", "cnn_step_by_step")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^     limits: the reference's slowest call is [\d.]+ (µs|ms) \(\w+, (public test|hidden #\d+)\); "
                     r"call_seconds = [\d.]+ s leaves \d+x$", result.stdout, re.MULTILINE), result.stdout
    # conv_forward calls conv_single_step once per output value: 3 * 6 * 5 * 3 of them in hidden #3, and zero_pad once
    assert re.search(r"^     limits: conv_forward, hidden #3 calls other graded functions 271 times; .* about [\d.]+ ms, "
                     r"and call_seconds leaves at least [\d.]+x$", result.stdout, re.MULTILINE), result.stdout


TOY_TOML = """title = "Toy"
version = "1"
notebook = "toy.ipynb"
release_files = ["public_tests.py"]
[limits]
call_seconds = {call_seconds}
[[functions]]
name = "inc"
points = 1
"""
TOY_PUBLIC = """
from grader.checks import CheckFailed, passed

def inc_test(target):
    if target(1) != 2:
        raise CheckFailed("values", "inc(1) should be 2")
    passed()
"""
TOY_HIDDEN = """
from grader.checks import Case, CheckFailed

def cases(ref, seed):
    def run(target):
        if target(5) != ref.inc(5):
            raise CheckFailed("values", "inc differs")
    return [Case("inc", "inc hidden #1", "x = 5", run)]
"""


def spin(seconds: float) -> None:
    """Spend ``seconds`` of this process's CPU time (what the limit check times: sleeping costs nothing)."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def toy_course(folder: Path, busy: float, call_seconds: float) -> Assignment:
    """A one-function assignment whose reference spends ``busy`` seconds of CPU per call."""
    source = folder / "solutions" / "toy"
    source.mkdir(parents=True)
    (source / "assignment.toml").write_text(TOY_TOML.format(call_seconds=call_seconds))
    (source / "public_tests.py").write_text(TOY_PUBLIC)
    (source / "hidden_tests.py").write_text(TOY_HIDDEN)
    (folder / "solutions" / "course.key").write_text("toy-course-key-for-validate-limits-0123456789\n")
    write_notebook(source / "toy.ipynb",
                   "import time\n\nfrom public_tests import inc_test",
                   f"def inc(x):\n    # YOUR CODE STARTS HERE\n    end = time.process_time() + {busy}\n"
                   "    while time.process_time() < end:\n        pass\n    return x + 1\n    # YOUR CODE ENDS HERE",
                   "inc_test(inc)")
    return load_assignment("toy", folder)


def test_a_call_limit_too_small_for_the_reference_fails_validation(tmp_path: Path) -> None:
    # the reference spends 0.2 s per call: whatever the machine, 1 s is less than 20x that
    toy_course(tmp_path, busy=0.2, call_seconds=1)
    run_cli("generate", "toy", cwd=tmp_path, check=True)
    result = run_cli("validate", "toy", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    master = tmp_path / "solutions" / "toy" / "toy.ipynb"
    assert f"FAIL {master}" in result.stdout
    assert f"ok   {tmp_path / 'assignments' / 'toy' / 'toy.ipynb'}" in result.stdout  # only the limit is wrong
    assert re.search(r"limits: the reference's slowest call is 2\d\d ms \(inc, (public test|hidden #1)\); "
                     r"call_seconds = 1 s leaves [\d.]+x", result.stdout), result.stdout
    assert re.search(r"call_seconds = 1 s is less than 20x the reference's slowest call .*: a correct but slower "
                     r"student solution could time out .* set \[limits\] call_seconds = [\d.]+ or more", result.stdout), result.stdout


def test_the_limit_check_in_process(tmp_path: Path) -> None:
    """Without a kernel: a reference far faster than the limit passes, a slow one fails, and the repeats are bounded."""
    fast = toy_course(tmp_path / "fast", busy=0, call_seconds=1)
    lines, problems = limits_check(fast, load_suite(fast))
    assert len(lines) == 1 and lines[0].startswith("limits: the reference's slowest call is ") and problems == []
    slow = toy_course(tmp_path / "slow", busy=0.3, call_seconds=4)  # 4 s < 20 x 0.3 s
    lines, problems = limits_check(slow, load_suite(slow))
    assert "(inc, " in lines[0] and len(problems) == 1 and "less than 20x" in problems[0]
    runs: list[int] = []

    def busy(x: int) -> int:
        runs.append(x)
        spin(0.3)
        return x + 1

    (public, hidden) = slowest_calls(load_suite(slow), {"inc": busy})
    assert (public.kind, hidden.kind, public.error, hidden.error) == ("public", "hidden", "", "")
    assert public.seconds >= 0.3 and public.calls == 1
    assert len(runs) <= 4  # 0.3 s a run: each check stops repeating after its second run (budget 0.5 s)


def test_the_limit_check_times_a_call_by_its_fastest_run(tmp_path: Path) -> None:
    """A machine that is busy for a while (here: the first two runs of each check) only ever adds time: the fastest
    run is the reference's cost (a median of three would take a busy run)."""
    course = toy_course(tmp_path, busy=0, call_seconds=1)
    runs: list[int] = []

    def busy_at_first(x: int) -> int:
        runs.append(x)
        spin(0.05 if len(runs) % 3 else 0)
        return x + 1

    calls = slowest_calls(load_suite(course), {"inc": busy_at_first})
    assert len(runs) == 6 and all(c.seconds < 0.01 <= c.worst for c in calls), calls


def test_the_limit_check_counts_cpu_time_as_call_seconds_does(tmp_path: Path) -> None:
    """Time the reference spends waiting (here asleep; on a busy machine, for a core) is not its cost: the wall clock
    read 63 ms for a 14-32 ms call while another job shared the cores, and validation failed."""
    course = toy_course(tmp_path, busy=0, call_seconds=1)

    def waiting(x: int) -> int:
        time.sleep(0.05)
        return x + 1

    calls = slowest_calls(load_suite(course), {"inc": waiting})
    assert calls and all(c.worst < 0.01 for c in calls), calls
    walled = slowest_calls(load_suite(course), {"inc": waiting}, clock=time.perf_counter)  # what bench_limits asks
    assert all(c.seconds >= 0.05 for c in walled), walled


CALLER_TOML = """title = "Caller"
version = "1"
notebook = "caller.ipynb"
isolate = {isolate}
[limits]
call_seconds = {call_seconds}
[[functions]]
name = "inc"
points = 1
[[functions]]
name = "add_300"
points = 1
"""
CALLER_PUBLIC = """
def inc_test(target):
    assert target(1) == 2

def add_300_test(target):
    assert target(1) == 301
"""


def caller_course(folder: Path, call_seconds: float, isolate: bool = True) -> Assignment:
    """add_300 calls the graded inc 300 times: for a student whose inc is wrong, 300 round trips to the reference."""
    source = folder / "solutions" / "caller"
    source.mkdir(parents=True)
    (source / "assignment.toml").write_text(CALLER_TOML.format(call_seconds=call_seconds, isolate=str(isolate).lower()))
    (source / "public_tests.py").write_text(CALLER_PUBLIC)
    write_notebook(source / "caller.ipynb", "def inc(x):\n    return x + 1",
                   "def add_300(x):\n    for _ in range(300):\n        x = inc(x)\n    return x")
    return load_assignment("caller", folder)


def test_calls_of_other_graded_functions_count_as_round_trips_out_of_the_sandbox(tmp_path: Path) -> None:
    # counted, not timed: 300 calls at 0.2 ms are 60 ms, and 0.2 s is less than 5x that whatever the machine
    tight = caller_course(tmp_path / "tight", call_seconds=0.2)
    suite = load_suite(tight)
    lines, problems = limits_check(tight, suite)
    assert re.fullmatch(r"limits: add_300, public test calls other graded functions 300 times; .* about 6\d(\.\d)? ms, "
                        r"and call_seconds leaves at least 3.\dx", lines[1]), lines
    assert len(problems) == 1 and re.search(r"less than 5x the slowest call estimated with round trips .* 300 calls of "
                                            r"other graded functions.* set \[limits\] call_seconds = 0.4 or more", problems[0])
    assert suite.reference.add_300.__globals__["inc"] is suite.reference.inc  # the reference's namespace is restored
    roomy = caller_course(tmp_path / "roomy", call_seconds=0.5)
    lines, problems = limits_check(roomy, load_suite(roomy))
    assert len(lines) == 2 and problems == []
    unisolated = caller_course(tmp_path / "unisolated", call_seconds=0.2, isolate=False)  # no round trips then
    lines, problems = limits_check(unisolated, load_suite(unisolated))
    assert len(lines) == 1 and problems == []
