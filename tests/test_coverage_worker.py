"""What the worker does beside student code, through the real worker (bubblewrap where it is installed): the state
one submission leaves for the next, arguments changed into something that is not data, tracebacks of deep
recursion, the output cap, cells with two statements on a line, and frames a submission forges on its channel.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from grader.checks import CheckFailed
from grader.config import Limits
from grader.grading.extract import extract_cells
from grader.grading.grade import Proxy
from grader.grading.sandbox import Worker
from grader.model import Submission
from tests.conftest import sandbox_mode

LIMITS = Limits(call_seconds=10, cpu_seconds=10, memory_mb=256, output_kb=1)


def submission(*cells: str) -> Submission:
    chunks, notes, _ = extract_cells(list(enumerate(cells, 1)))
    assert not notes, notes
    return Submission("x.ipynb", chunks)


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    worker = Worker(sandbox_mode(), LIMITS)
    yield worker
    worker.close()


def run(worker: Worker, code: str, function: str, *args: object, **kwargs: object) -> object:
    loaded = worker.load(submission(code), [function])
    assert loaded.defined == (function,), loaded
    try:
        return worker.call(function, args, kwargs)
    finally:
        worker.end()


# --- what one submission leaves for the next -----------------------------------------------------------------------

@pytest.mark.parametrize("mode", sorted({"none", sandbox_mode()}))
def test_course_files_are_there_for_every_submission_of_a_job(tmp_path: Path, mode: str) -> None:
    helper = tmp_path / "helper.py"
    helper.write_text("VALUE = 41\n", encoding="utf-8")
    code = "import helper\n\ndef f():\n    return helper.VALUE + 1"
    worker = Worker(mode, LIMITS, (helper,))
    try:
        for _ in range(3):  # the worker wipes its folder after each submission; the course files are not in it
            loaded = worker.load(submission(code), ["f"])
            assert (loaded.failure, loaded.defined) == ("", ("f",))
            assert worker.call("f", (), {}).value == 42
            worker.end()
    finally:
        worker.close()


LOCKS_ITS_FOLDER = '''
import os

def lock():
    os.makedirs("d/e")
    for name in ("left.txt", "d/e/deep.txt"):
        with open(name, "w") as file:
            file.write("for the next one")
    os.symlink("/opt/grader", "d/link")
    os.mkdir("d/locked", 0)  # a mode given at creation: chmod itself is refused (seccomp)
    os.mkdir("d/e/read_only", 0o500)
    refused = []
    for path, mode in (("d/e", 0o500), ("d", 0), (".", 0o500)):
        try:
            os.chmod(path, mode)
        except PermissionError:
            refused.append(path)
    return refused

def look():
    found = sorted(os.listdir("."))
    with open("mine.txt", "w") as file:
        file.write("mine")
    return found, oct(os.stat(".").st_mode)
'''


def test_a_submission_that_locks_its_folder_leaves_nothing_for_the_next(worker: Worker) -> None:
    before = run(worker, LOCKS_ITS_FOLDER, "look").value  # an interpreter installed under /tmp shows its folder here
    assert run(worker, LOCKS_ITS_FOLDER, "lock").value == ["d/e", "d", "."]
    # Without capabilities (bubblewrap) the zygote could neither remove those files nor give /tmp back (when chmod
    # was allowed); what is made with a mode at creation is removed all the same.
    assert run(worker, LOCKS_ITS_FOLDER, "look").value == before


DRAWS = "import numpy as np\n\ndef draw():\n    return [float(v) for v in np.random.rand(3)]"


def test_student_code_is_compiled_without_the_workers_future_imports(worker: Worker) -> None:
    """worker.py starts with ``from __future__ import annotations``; a notebook does not: its annotations are values,
    as in Jupyter (inherited, they were strings, and an annotation naming nothing passed)."""
    code = "def f(x: int) -> int:\n    return x\n\ndef g():\n    return f.__annotations__['x'] is int"
    assert run(worker, code, "g").value is True


def test_a_notebooks_future_imports_hold_for_its_later_cells(worker: Worker) -> None:
    """IPython carries ``from __future__`` imports from cell to cell: an annotation naming what only a type checker
    imports (``if TYPE_CHECKING: import numpy.typing as npt``) is never evaluated. Extraction keeps the import (it
    binds nothing a graded function reads) and the worker compiles every later cell with its flag."""
    future = "from __future__ import annotations\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import numpy.typing as npt"
    graded = "def f(x: npt.NDArray) -> npt.NDArray:\n    return x + 1"
    loaded = worker.load(submission(future, graded), ["f"])
    try:
        assert (loaded.defined, loaded.errors) == (("f",), ())
        assert worker.call("f", (1,), {}).value == 2
    finally:
        worker.end()


def test_every_child_draws_the_same_random_numbers(worker: Worker) -> None:
    """NumPy's random module is loaded in the zygote (not again in every child), and its global state is set as
    each child starts: a function that draws without a seed gets the same numbers in every grade, in any job."""
    first = run(worker, DRAWS, "draw").value
    assert isinstance(first, list) and len(set(first)) == 3
    assert run(worker, DRAWS, "draw").value == first
    other = Worker(sandbox_mode(), LIMITS)
    try:
        assert run(other, DRAWS, "draw").value == first
    finally:
        other.close()


# --- a call queued behind another ----------------------------------------------------------------------------------

QUEUES = '''
import time
SEEN = []

def step(x):
    SEEN.append(x)
    if x < 0:
        while True:
            time.sleep(0) if x == -2 else None
    return list(SEEN)
'''


def test_a_queued_call_runs_in_order_right_after_the_one_before(worker: Worker) -> None:
    """``call(..., then=...)``: the child runs the next call as soon as it has answered, in the order the grader would
    have made them; ``take_queued`` collects it, and a call made before collecting it drops it, answered."""
    worker.load(submission(QUEUES), ["step"])
    try:
        assert worker.call("step", (1,), {}, then=((2,), {})).value == [1]
        assert worker.queued == "step"
        queued = worker.take_queued()
        assert queued is not None and (queued.status, queued.value, worker.queued) == ("returned", [1, 2], None)
        assert worker.take_queued() is None  # nothing queued now
        worker.call("step", (3,), {}, then=((4,), {}))
        assert worker.call("step", (5,), {}).value == [1, 2, 3, 4, 5]  # 4 was answered (and dropped) first
    finally:
        worker.end()


@pytest.fixture(scope="module")
def quick() -> Iterator[Worker]:
    """A worker whose calls may use half a second of CPU time, as the assignments allow."""
    worker = Worker(sandbox_mode(), Limits(call_seconds=0.5, cpu_seconds=10, memory_mb=256, output_kb=1))
    yield worker
    worker.close()


def test_a_queued_call_dies_with_a_call_before_it_that_times_out(quick: Worker) -> None:
    quick.load(submission(QUEUES), ["step"])
    try:
        assert quick.call("step", (-1,), {}, then=((2,), {})).status == "timeout"
        assert quick.take_queued() is None  # lost with its child: never run
        assert quick.call("step", (7,), {}).value == [7]  # a new child
    finally:
        quick.end()


BURNS = """
import time

def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return seconds
"""


def test_a_queued_call_has_its_own_time_limit_counted_from_its_start(quick: Worker) -> None:
    """Its limit of CPU time starts when the child starts it, not when it was sent: after a call that used most of
    its own, the queued one still has all of its own, and times out as itself."""
    quick.load(submission(BURNS), ["burn"])
    try:
        assert quick.call("burn", (0.35,), {}, then=((0.35,), {})).value == 0.35
        answer = quick.take_queued()
        assert answer is not None and (answer.status, answer.value) == ("returned", 0.35)  # 0.7 s in all: two limits
        quick.call("burn", (0.1,), {}, then=((5.0,), {}))
        answer = quick.take_queued()
        assert answer is not None and answer.status == "timeout" and "burn used 0.5 s of CPU time" in answer.message
    finally:
        quick.end()


def test_the_proxy_gives_a_check_the_call_queued_for_it_if_it_makes_that_call(worker: Worker) -> None:
    """A check's first call queues the next check's planned one, and a check whose own call was queued queues the
    next one's as it begins; a second call of the same check waits for it (so the order changes only there, and
    for a first call that is not the planned one), and the next check gets that answer only for the same arguments."""
    worker.load(submission(QUEUES), ["step"])
    try:
        proxy = Proxy(worker, "step", {})
        proxy.next_check(((1,), {}))  # check A; check B will first call step(1)
        assert proxy(0) == [0]
        assert proxy(5) == [0, 1, 5]  # A's second call: after B's, queued behind A's first
        proxy.next_check(((2,), {}))  # check B; check C will first call step(2): queued as B begins
        assert worker.queued == "step"
        assert proxy(1) == [0, 1]  # the answer queued for B, computed before A's second call
        proxy.next_check(((4,), {}))  # check C, its call answered: D's step(4) is queued as C begins ...
        assert worker.queued == "step"
        assert proxy(3) == [0, 1, 5, 2, 4, 3]  # ... so C, calling with other arguments (2 ran, unused), comes after it
        proxy.next_check(None)  # check D gets the answer queued for it
        assert proxy(4) == [0, 1, 5, 2, 4]
        assert worker.queued is None
        proxy.next_check(None)
        assert proxy(8) == [0, 1, 5, 2, 4, 3, 8]
        assert worker.queued is None
    finally:
        worker.end()


def test_a_large_call_is_not_queued(worker: Worker) -> None:
    worker.load(submission(QUEUES), ["step"])
    try:
        assert worker.call("step", (1,), {}, then=((list(range(20_000)),), {})).value == [1]
        assert (worker.queued, worker.take_queued()) == (None, None)
    finally:
        worker.end()


# --- arguments, tracebacks, output ----------------------------------------------------------------------------------

CHANGES = '''
def spoil(items, table=None):
    items.append(object())
    table["k"] = [1, 2]
    return len(items)
'''


def test_an_argument_changed_into_something_that_is_not_data_is_named(worker: Worker) -> None:
    outcome = run(worker, CHANGES, "spoil", [1], table={})
    assert (outcome.status, outcome.value, outcome.changed) == ("returned", 2, {0: None, "table": {"k": [1, 2]}})
    worker.load(submission(CHANGES), ["spoil"])
    try:
        with pytest.raises(CheckFailed, match=r"spoil put something that is not plain data into argument #1\."):
            Proxy(worker, "spoil", {})([1], table={})
    finally:
        worker.end()


def test_the_traceback_of_deep_recursion_shows_its_ends(worker: Worker) -> None:
    code = "def descend(n):\n    return descend(n + 1)"
    outcome = run(worker, code, "descend", 0)
    assert outcome.status == "raised"
    lines = outcome.message.splitlines()
    assert lines[-1].startswith("RecursionError: maximum recursion depth exceeded")
    assert lines[:6] == ['  File "cell 1", line 2, in descend', "    return descend(n + 1)"] * 3  # the first three calls
    assert lines[6] == "  ... (more calls of the same functions)"
    # and the last three (where the limit struck depends on the tracer: any line of descend), never folded into
    # "[Previous line repeated ...]"
    assert [line.startswith('  File "cell 1", line ') and line.endswith(", in descend") for line in lines[7:13:2]] == [True] * 3
    assert len(lines) == 14 and "Previous line" not in outcome.message


def test_printed_output_past_the_cap_is_counted_not_kept(worker: Worker) -> None:
    code = "import sys\n\ndef chatty():\n    print('x' * 5000, end='')\n    print('y' * 10)\n    return sys.stdout.writable()"
    outcome = run(worker, code, "chatty")
    assert outcome.value is True
    assert outcome.output == "x" * 1024 + "\n... (3987 more characters not shown)"


def test_two_statements_on_one_line_load_once_each_and_are_quoted(worker: Worker) -> None:
    code = "import math; SCALE = 2\ndef root(x):\n    return math.sqrt(x) * SCALE"
    assert [chunk.kind for chunk in submission(code).chunks] == ["import", "assign", "def"]
    assert run(worker, code, "root", 4.0).value == 4.0
    failed = run(worker, code, "root", -1.0)
    assert failed.message == '  File "cell 1", line 3, in root\n    return math.sqrt(x) * SCALE\nValueError: math domain error'


def test_a_definition_that_fails_as_it_loads_costs_its_chunk(worker: Worker) -> None:
    loaded = worker.load(submission("def f():\n    return 1", "RATE = 1 / 0\n\ndef g():\n    return RATE"), ["f", "g"])
    try:
        assert loaded.defined == ("f", "g")  # g is defined; only RATE is missing, and says why
        assert loaded.errors == ('cell 2:   File "cell 2", line 1, in <module>\n    RATE = 1 / 0\nZeroDivisionError: division by zero',)
    finally:
        worker.end()


# --- what a child leaves on its line to the reference ---------------------------------------------------------------

FORGES = '''
import os, select, sys, wire

def forge():
    line_out, line_in = int(sys.argv[-2]), int(sys.argv[-1])
    wire.send(line_out, {"function": "double", "args": [[1], {"$dict": []}]})
    select.select([line_in], [], [])  # the runner's answer has arrived: leave it unread
    os._exit(0)

def honest(x):
    return double(x)

def double(x):
    return 0
'''


def test_a_reply_left_unread_by_a_child_never_reaches_the_next() -> None:
    worker = Worker(sandbox_mode(), LIMITS)
    worker.use_reference(SimpleNamespace(double=lambda x: 2 * x))
    try:
        loaded = worker.load(submission(FORGES), ["forge", "honest"])
        assert loaded.defined == ("forge", "honest")
        outcome = worker.call("forge", (), {}, frozenset({"double"}))
        assert (outcome.status, "exit code 0" in outcome.message) == ("crash", True), outcome
        # a new child, whose line starts empty: its own answer, not the one left behind
        assert worker.call("honest", (21,), {}, frozenset({"double"})).value == 42
    finally:
        worker.close()
