"""Hostile and broken submissions through the real CLI: each yields a results file that says what happened,
while every other function and every other submission is graded normally. Runs under bubblewrap where it is
installed (CI installs it and requires it)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli, sandbox_mode, write_notebook

HIDDEN_TESTS = Path(__file__).resolve().parent.parent / "solutions" / "cnn_step_by_step" / "hidden_tests.py"

# name → (function replaced, its hostile source, extra module-level cell or "")
HOSTILE = {
    "raises": ("zero_pad", "def zero_pad(X, pad):\n    raise ValueError('I give up')\n", ""),
    "system_exit": ("zero_pad", "import sys\ndef zero_pad(X, pad):\n    sys.exit(3)\n", ""),
    "keyboard_interrupt": ("zero_pad", "def zero_pad(X, pad):\n    raise KeyboardInterrupt\n", ""),
    "os_exit": ("conv_single_step", "import os\ndef conv_single_step(a, W, b):\n    os._exit(0)\n", ""),
    "kills_its_parent": ("conv_single_step",
                         "import os, signal\ndef conv_single_step(a, W, b):\n    os.kill(os.getppid(), signal.SIGKILL)\n"
                         "    os.killpg(0, signal.SIGKILL)\n", ""),
    "infinite_loop": ("zero_pad", "def zero_pad(X, pad):\n    while True:\n        pass\n", ""),
    "sleeps_forever": ("zero_pad", "import time\ndef zero_pad(X, pad):\n    time.sleep(10**6)\n", ""),
    "infinite_recursion": ("zero_pad", "def zero_pad(X, pad):\n    return zero_pad(X, pad + 1)\n", ""),
    # zeros: address space without writing each page (here ~0.5 GB/s), so the limit is met before call_seconds
    "memory_bomb": ("zero_pad", "import numpy as np\ndef zero_pad(X, pad):\n    hog = [np.zeros((1024, 1024)) for _ in range(10**5)]\n"
                    "    return hog\n", ""),
    "huge_allocation": ("zero_pad", "import numpy as np\ndef zero_pad(X, pad):\n    return np.ones((10**6, 10**6))\n", ""),
    "reads_hidden_tests": ("zero_pad", f"def zero_pad(X, pad):\n    return open({str(HIDDEN_TESTS)!r}).read()\n", ""),
    "writes_outside": ("zero_pad", "def zero_pad(X, pad):\n    open('/tmp/grader-hostile-was-here', 'w').write('x')\n"
                       "    open(__import__('os').path.expanduser('~/grader-hostile-was-here'), 'w').write('x')\n"
                       "    return 1\n", ""),
    "reaches_network": ("zero_pad", "import socket\ndef zero_pad(X, pad):\n"
                        "    socket.create_connection(('1.1.1.1', 80), timeout=2)\n    return 'connected'\n", ""),
    "monkeypatches_numpy": ("conv_single_step", "import numpy as np\nnp.allclose = lambda *a, **k: True\n"
                            "np.isclose = lambda *a, **k: True\nnp.testing.assert_allclose = lambda *a, **k: None\n"
                            "def conv_single_step(a, W, b):\n    return 0.0\n", ""),
    "lying_equality": ("conv_single_step", "class Liar(float):\n    def __eq__(self, other):\n        return True\n"
                       "    __hash__ = float.__hash__\ndef conv_single_step(a, W, b):\n    return Liar(0.0)\n", ""),
    "ndarray_subclass": ("zero_pad", "import numpy as np\nclass Sneaky(np.ndarray):\n    def __eq__(self, other):\n"
                         "        return True\ndef zero_pad(X, pad):\n    return np.zeros(1).view(Sneaky)\n", ""),
    "public_literal": ("conv_single_step", "def conv_single_step(a, W, b):\n    return -6.999089450680221\n", ""),
    "modifies_input": ("zero_pad", "import numpy as np\ndef zero_pad(X, pad):\n    X *= 1.0\n    X[...] = 0.0\n"
                       "    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))\n", ""),
    "leaves_processes": ("zero_pad", "import numpy as np, subprocess\ndef zero_pad(X, pad):\n"
                         "    subprocess.Popen(['sleep', '4242'], start_new_session=True)\n"
                         "    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))\n", ""),
    "fork_bomb": ("zero_pad", "import os\ndef zero_pad(X, pad):\n    while True:\n        os.fork()\n", ""),
    "uses_threads": ("zero_pad", "import numpy as np, threading\ndef zero_pad(X, pad):\n    out = []\n"
                     "    worker = threading.Thread(target=lambda: out.append(np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))))\n"
                     "    worker.start()\n    worker.join()\n    return out[0]\n", ""),
    "floods_output": ("zero_pad", "import numpy as np\ndef zero_pad(X, pad):\n    for _ in range(2000):\n"
                      "        print('spam ' * 200)\n    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))\n", ""),
    "warns_and_writes_stderr": ("zero_pad", "import numpy as np, sys, warnings\ndef zero_pad(X, pad):\n"
                                "    warnings.warn('deprecated style', DeprecationWarning)\n"
                                "    print('debug: padding', file=sys.stderr)\n    np.float64(1.0) / np.float64(0.0)\n"
                                "    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))\n", ""),
}

# Only bubblewrap keeps these from the real files and network: without it they are not even run.
SANDBOX_ONLY = {"reads_hidden_tests", "writes_outside", "reaches_network"}

# Files that are not notebooks, or notebooks that are broken in some way.
BAD_FILES = {
    "invalid_json": b'{"cells": [ this is not json',
    "binary": bytes(range(256)) * 8,
    "empty": b"",
    "json_not_notebook": b'{"hello": "world", "cells": 3}',
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, solution_cells: dict[str, str]) -> dict[str, dict]:
    """Grade every hostile and broken submission in one CLI run (as a batch) and return their results."""
    folder = tmp_path_factory.mktemp("hostile")
    paths = []
    for name, (function, source, extra) in HOSTILE.items():
        if name in SANDBOX_ONLY and sandbox_mode() != "bwrap":
            continue
        cells = ["import numpy as np", *(source if f == function else code for f, code in solution_cells.items())]
        paths.append(write_notebook(folder / f"{name}.ipynb", *cells, *([extra] if extra else [])))
    for name, content in BAD_FILES.items():
        (folder / f"{name}.ipynb").write_bytes(content)
        paths.append(folder / f"{name}.ipynb")
    paths.append(write_notebook(folder / "no_code.ipynb", markdown=("# Only words here",)))
    broken_cell = dict(solution_cells)
    broken_cell["zero_pad"] = solution_cells["zero_pad"].replace("def zero_pad(X, pad):", "def zero_pad(X, pad)")
    paths.append(write_notebook(folder / "syntax_error_in_one_cell.ipynb", "import numpy as np", *broken_cell.values()))
    paths.append(write_notebook(folder / "correct.ipynb", "import numpy as np", *solution_cells.values()))
    out = folder / "out"
    result = run_cli("grade", "cnn_step_by_step", *paths, "--out", out, "--jobs", "2", "--sandbox", sandbox_mode())
    assert result.returncode == 0, result.stderr
    results = {p.stem: json.loads((out / p.stem / "results.json").read_text()) for p in paths}
    return results | {"_out": {"dir": str(out), "count": len(paths)}}


def outcomes(results: dict, function: str) -> set[str]:
    return {t["extra_data"]["outcome"] for t in results["tests"] if t["extra_data"]["function"] == function}


def function_points(results: dict, function: str) -> float:
    return sum(t["score"] for t in results["tests"] if t["extra_data"]["function"] == function)


def others_full_marks(results: dict, function: str) -> bool:
    return all(t["status"] == "passed" for t in results["tests"] if t["extra_data"]["function"] != function)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("raises", {"error"}),
        ("system_exit", {"error"}),
        ("keyboard_interrupt", {"error"}),
        ("os_exit", {"crash"}),
        ("infinite_loop", {"timeout"}),
        ("sleeps_forever", {"timeout"}),
        ("infinite_recursion", {"error"}),
        ("fork_bomb", {"error"}),
        ("memory_bomb", {"memory"}),
        ("huge_allocation", {"memory"}),
        ("lying_equality", {"wrong"}),
        ("ndarray_subclass", {"wrong"}),
        ("monkeypatches_numpy", {"wrong"}),
    ],
)
def test_each_failure_costs_only_its_function(graded: dict, name: str, expected: set[str]) -> None:
    function = HOSTILE[name][0]
    results = graded[name]
    assert outcomes(results, function) == expected
    assert function_points(results, function) == 0
    assert others_full_marks(results, function), "a hostile function must not cost any other function"
    # 100 points from the required functions; the optional ones are ungraded
    assert results["score"] == 100 - {"zero_pad": 10, "conv_single_step": 10}[function]


def test_the_process_killer_cannot_stop_grading(graded: dict) -> None:
    results = graded["kills_its_parent"]
    found = outcomes(results, "conv_single_step")
    # under bubblewrap the kill is refused (error); without it the zygote dies and the child with it (crash)
    assert found and found <= {"crash", "error"}, found
    assert function_points(results, "conv_single_step") == 0
    assert others_full_marks(results, "conv_single_step")
    assert graded["correct"]["score"] == 100  # the batch it was in went on


def test_correct_submission_in_the_same_batch_gets_full_marks(graded: dict) -> None:
    assert graded["correct"]["score"] == 100
    assert all(t["status"] == "passed" for t in graded["correct"]["tests"])


def test_wrong_types_are_named(graded: dict) -> None:
    messages = " ".join(t["output"] for t in graded["lying_equality"]["tests"] if t["status"] == "failed")
    assert "Liar" in messages
    messages = " ".join(t["output"] for t in graded["ndarray_subclass"]["tests"] if t["status"] == "failed")
    assert "Sneaky" in messages


def test_returning_the_public_literal_passes_public_but_not_hidden(graded: dict) -> None:
    tests = [t for t in graded["public_literal"]["tests"] if t["extra_data"]["function"] == "conv_single_step"]
    assert {t["extra_data"]["kind"]: t["status"] for t in tests if t["extra_data"]["kind"] == "public"} == {"public": "passed"}
    assert any(t["status"] == "failed" for t in tests if t["extra_data"]["kind"] == "hidden")
    assert function_points(graded["public_literal"], "conv_single_step") == 0


def test_modifying_the_input_is_reported(graded: dict) -> None:
    failures = {t["extra_data"]["failure"] for t in graded["modifies_input"]["tests"] if t["status"] == "failed"}
    assert failures == {"modified"}


def test_output_flood_warnings_and_stderr_cost_nothing(graded: dict) -> None:
    assert graded["floods_output"]["score"] == 100
    assert graded["warns_and_writes_stderr"]["score"] == 100
    # and the function itself passed
    for name in ("floods_output", "warns_and_writes_stderr"):
        assert outcomes(graded[name], "zero_pad") == {"passed"}, name
    printed = max((t["output"] for t in graded["floods_output"]["tests"]), key=len)
    assert "spam" in printed and len(printed) < 10_000


def test_no_process_can_be_started_or_left_behind_but_threads_work(graded: dict) -> None:
    assert outcomes(graded["leaves_processes"], "zero_pad") == {"error"}
    assert "Operation not permitted" in graded["leaves_processes"]["tests"][0]["output"]
    assert outcomes(graded["uses_threads"], "zero_pad") == {"passed"}
    leftovers = subprocess.run(["pgrep", "-f", "sleep 4242"], capture_output=True, text=True).stdout.split()
    assert leftovers == []


@pytest.mark.skipif(sandbox_mode() != "bwrap", reason="only bubblewrap hides files and the network")
def test_sandbox_hides_files_and_network_and_keeps_writes_inside(graded: dict) -> None:
    for name in ("reads_hidden_tests", "reaches_network"):
        assert outcomes(graded[name], "zero_pad") == {"error"}, name
    # refused by the seccomp filter (no inet socket at all), not by an offline machine's routing table; the network
    # namespace is held by test_sandbox_guarantees.py::test_no_listener_of_the_host_can_be_reached
    assert all("Operation not permitted" in t["output"] for t in graded["reaches_network"]["tests"]
               if t["extra_data"]["function"] == "zero_pad")
    assert all("No such file or directory" in t["output"] for t in graded["reads_hidden_tests"]["tests"]
               if t["extra_data"]["function"] == "zero_pad")
    assert outcomes(graded["writes_outside"], "zero_pad") == {"wrong"}  # its writes land in the sandbox's own /tmp
    text = json.dumps(graded["reads_hidden_tests"])
    assert "def cases" not in text and "_rng" not in text
    assert not Path("/tmp/grader-hostile-was-here").exists()
    assert not (Path.home() / "grader-hostile-was-here").exists()


@pytest.mark.parametrize("name", [*BAD_FILES, "no_code"])
def test_unreadable_files_get_a_results_file_saying_why(graded: dict, name: str) -> None:
    results = graded[name]
    assert results["score"] == 0
    assert results["output"].strip()
    assert all(t["status"] == "failed" for t in results["tests"])
    if name != "no_code":
        assert "could not be read as a notebook" in results["output"]
    else:
        assert "no code cells" in results["output"]


def test_syntax_error_costs_only_that_cell(graded: dict) -> None:
    results = graded["syntax_error_in_one_cell"]
    assert outcomes(results, "zero_pad") == {"missing"}
    assert others_full_marks(results, "zero_pad")
    assert "could not be read" in next(t["output"] for t in results["tests"] if t["extra_data"]["function"] == "zero_pad")


def test_every_submission_has_its_reports(graded: dict) -> None:
    out = Path(graded["_out"]["dir"])
    names = [n for n in graded if n != "_out"]
    for name in names:
        assert (out / name / "feedback.html").stat().st_size > 1000
        assert (out / name / "feedback.md").is_file()
    rows = (out / "grades.csv").read_text().splitlines()
    assert len(rows) == 1 + len(names) == 1 + graded["_out"]["count"]
