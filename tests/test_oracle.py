"""Issue 7, attack 2: "use the reference as an oracle, then replay it".

Isolation lets a sandboxed function call back to the grader, which answers with a reference
function. A submission can deliberately fail a function, record the hidden inputs it is called with,
have a later function ask the reference for the answers and print them in a public error message;
a second submission then looks the answers up by input hash. Two defences, each tested here through
the real CLI under bubblewrap: a function only gets the references its own reference calls, and the
hidden inputs come from a seed that changes with the submission's code.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest

from grader.config import Assignment
from grader.grading.extract import extract_submission
from grader.grading.suite import isolation_depends, load_suite, reference_depends
from tests.conftest import ROOT, run_cli, sandbox_mode, write_notebook

PUBLIC_CONV_SINGLE_STEP = -6.999089450680221

# What every attacker cell shares: a hash of a call's inputs, the same in both submissions.
HASH = '''
import base64, hashlib, json
import numpy as np
SEEN = []

def input_key(*args):
    digest = hashlib.sha256()
    for arg in args:
        if isinstance(arg, dict):
            digest.update(repr(sorted(arg.items())).encode())
        else:
            arg = np.asarray(arg)
            digest.update(f"{arg.dtype}{arg.shape}".encode() + np.ascontiguousarray(arg).tobytes())
    return digest.hexdigest()[:16]
'''

# Attack on conv_forward, whose reference conv_backward's does not call.
RECORD_CONV_FORWARD = HASH + '''
def conv_forward(A_prev, W, b, hparameters):
    SEEN.append((A_prev.copy(), W.copy(), b.copy(), dict(hparameters)))
    return np.zeros(1), (A_prev, W, b, hparameters)
'''
LEAK_CONV_FORWARD = '''
def conv_backward(dZ, cache):
    table = {}
    for A_prev, W, b, hparameters in list(SEEN):
        Z = np.asarray(conv_forward(A_prev, W, b, hparameters)[0])  # the grader's reference, if it lends it
        table[input_key(A_prev, W, b, hparameters)] = [list(Z.shape), base64.b64encode(Z.astype(np.float32).tobytes()).decode()]
    raise RuntimeError("ANSWERS" + json.dumps(table) + "END")
'''
REPLAY_CONV_FORWARD = HASH + '''
TABLE = {table}

def conv_forward(A_prev, W, b, hparameters):
    found = TABLE.get(input_key(A_prev, W, b, hparameters))
    if found is None:
        return np.zeros((1, 1, 1, 1)), (A_prev, W, b, hparameters)
    shape, data = found
    Z = np.frombuffer(base64.b64decode(data), dtype=np.float32).reshape(shape).astype(np.float64)
    return Z, (A_prev, W, b, hparameters)
'''

# Attack on conv_single_step through conv_forward, which may rightly get its reference.
RECORD_SINGLE_STEP = HASH + '''
def conv_single_step(a_slice_prev, W, b):
    SEEN.append((a_slice_prev.copy(), W.copy(), b.copy()))
    return 0.0
'''
LEAK_SINGLE_STEP = '''
def conv_forward(A_prev, W, b, hparameters):
    table = {input_key(*args): float(conv_single_step(*args)) for args in list(SEEN)}
    raise RuntimeError("ANSWERS" + json.dumps(table) + "END")
'''
REPLAY_SINGLE_STEP = HASH + '''
TABLE = {table}

def conv_single_step(a_slice_prev, W, b):
    return TABLE.get(input_key(a_slice_prev, W, b), 0.0)
'''


OTHER_ZERO_PAD = """
def zero_pad(X, pad):
    padded = np.zeros((X.shape[0], X.shape[1] + 2 * pad, X.shape[2] + 2 * pad, X.shape[3]), dtype=X.dtype)
    padded[:, pad:pad + X.shape[1], pad:pad + X.shape[2], :] = X
    return padded
"""


def _notebook(path: Path, solution_cells: dict[str, str], **replaced: str) -> Path:
    cells = ["import numpy as np", *(replaced.get(name, code) for name, code in solution_cells.items())]
    return write_notebook(path, *cells)


def _grade(folder: Path, *paths: Path) -> dict[str, dict]:
    out = folder / "out"
    result = run_cli("grade", "cnn_step_by_step", *paths, "--out", out, "--sandbox", sandbox_mode())
    assert result.returncode == 0, result.stdout + result.stderr
    return {p.stem: json.loads((out / p.stem / "results.json").read_text()) for p in paths}


def _points(results: dict, function: str) -> float:
    return sum(t["score"] for t in results["tests"] if t["extra_data"]["function"] == function)


def _harvest(results: dict, test: str) -> dict:
    (output,) = [t["output"] for t in results["tests"] if t["name"] == test]
    found = re.search(r"ANSWERS(\{.*?\})END", output, re.S)
    assert found, f"no table in the output of {test}: {output[:500]}"
    return json.loads(found.group(1))


@pytest.fixture(scope="module")
def rounds(tmp_path_factory: pytest.TempPathFactory, solution_cells: dict[str, str]) -> dict[str, dict]:
    """Round 1: the recording submissions and some honest ones. Round 2: the replays, built from what
    round 1 leaked, and one honest notebook graded again."""
    folder = tmp_path_factory.mktemp("oracle")
    first = folder / "first"
    honest = _notebook(first / "honest.ipynb", solution_cells)
    other = _notebook(first / "other_style.ipynb", solution_cells, zero_pad=OTHER_ZERO_PAD)
    partly = first / "partly_right.ipynb"
    shutil.copy(ROOT / "examples" / "submissions" / "bob_partly_right.ipynb", partly)
    graded = _grade(first, honest, other, partly,
                    _notebook(first / "record_conv_forward.ipynb", solution_cells, conv_forward=RECORD_CONV_FORWARD,
                              conv_backward=LEAK_CONV_FORWARD),
                    _notebook(first / "record_single_step.ipynb", solution_cells, conv_single_step=RECORD_SINGLE_STEP,
                              conv_forward=LEAK_SINGLE_STEP))
    second = folder / "second"
    conv_table = _harvest(graded["record_conv_forward"], "conv_backward: conv_backward_test")
    step_table = _harvest(graded["record_single_step"], "conv_forward: conv_forward_test")
    replays = _grade(second,
                     _notebook(second / "replay_conv_forward.ipynb", solution_cells,
                               conv_forward=REPLAY_CONV_FORWARD.replace("{table}", repr(conv_table))),
                     _notebook(second / "replay_single_step.ipynb", solution_cells,
                               conv_single_step=REPLAY_SINGLE_STEP.replace("{table}", repr(step_table))),
                     shutil.copy(partly, second / "partly_right.ipynb"))
    return {**graded, **{f"{name} again" if name in graded else name: r for name, r in replays.items()},
            "_tables": {"conv_forward": conv_table, "conv_single_step": step_table}}


def test_replaying_conv_forward_answers_earns_nothing(rounds: dict) -> None:
    """conv_backward's reference does not call conv_forward: it never gets conv_forward's reference,
    so the recorded 'answers' are the attacker's own zeros, and they are for other inputs anyway."""
    assert all(shape == [1] for shape, _ in rounds["_tables"]["conv_forward"].values())
    assert _points(rounds["replay_conv_forward"], "conv_forward") == 0
    assert rounds["replay_conv_forward"]["score"] == 60  # all the rest earned: 100 - 40 (optional work is ungraded)


def test_replaying_answers_from_a_lent_reference_earns_nothing(rounds: dict) -> None:
    """conv_forward may get conv_single_step's reference (its own reference calls it), and does: the
    leak works, public inputs included. The hidden inputs of the next submission are new ones."""
    table = rounds["_tables"]["conv_single_step"]
    assert len(table) >= 6 and any(value == pytest.approx(PUBLIC_CONV_SINGLE_STEP) for value in table.values())
    replay = rounds["replay_single_step"]
    failed = {t["extra_data"]["kind"] for t in replay["tests"]
              if t["extra_data"]["function"] == "conv_single_step" and t["status"] == "failed"}
    assert failed == {"hidden"}  # the public answer replays (students know it anyway), no hidden one does
    assert _points(replay, "conv_single_step") == 0


def test_the_same_notebook_graded_twice_gets_the_same_results(rounds: dict) -> None:
    def scored(results: dict) -> list[tuple]:
        return [(t["name"], t["status"], t["score"], t["extra_data"]["outcome"], t["extra_data"]["params"])
                for t in results["tests"]]

    first, again = rounds["partly_right"], rounds["partly_right again"]
    assert first["score"] == again["score"] == 40  # bob: pool_forward and zero_pad right; optional work ungraded
    assert scored(first) == scored(again)


def test_different_correct_notebooks_both_get_full_marks(rounds: dict) -> None:
    assert rounds["honest"]["score"] == rounds["other_style"]["score"] == 100
    assert all(t["status"] == "passed" for name in ("honest", "other_style") for t in rounds[name]["tests"])


def test_different_notebooks_meet_different_hidden_inputs(assignment: Assignment, solution_cells: dict[str, str],
                                                          tmp_path: Path) -> None:
    from grader.grading.extract import allowed_chunks

    suite = load_suite(assignment)
    one = allowed_chunks(extract_submission(_notebook(tmp_path / "one.ipynb", solution_cells)), assignment)
    other = allowed_chunks(extract_submission(_notebook(tmp_path / "two.ipynb", solution_cells, zero_pad=OTHER_ZERO_PAD)),
                           assignment)
    first, again, second = (suite.for_submission(assignment, s).hidden for s in (one, one, other))
    assert first is again  # the same build: its expected values are computed once
    assert [c.name for c in first] == [c.name for c in second] and first is not second


# ---------------------------------------------------------------------------------------------
# Which references a function may get
# ---------------------------------------------------------------------------------------------


def test_a_function_gets_only_the_references_its_reference_calls(assignment: Assignment) -> None:
    suite = load_suite(assignment)
    everything_failed = {f.name for f in assignment.functions}
    # The rule before issue 7 lent every failed earlier function, conv_forward included, to conv_backward.
    assert set(suite.stubs_for("conv_backward", everything_failed)) == {"zero_pad"}
    assert set(suite.stubs_for("pool_backward", everything_failed)) == {"create_mask_from_window", "distribute_value"}
    assert set(suite.stubs_for("conv_forward", everything_failed)) == {"zero_pad", "conv_single_step"}
    assert suite.stubs_for("conv_forward", {"conv_single_step"}) == {"conv_single_step": suite.reference.conv_single_step}
    assert suite.stubs_for("pool_forward", everything_failed) == {}
    assert suite.stubs_for("zero_pad", everything_failed) == {}


def test_dependencies_are_followed_through_helpers_and_not_into_the_function_itself(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "master.ipynb",
                              "def helper(x):\n    return scale(x)\n",
                              "def scale(x):\n    return 2 * x\n",
                              "def top(x):\n    return helper(x) + top_rec(x)\n",
                              "def top_rec(x):\n    return top_rec(x - 1) if x else 0\n",
                              "def lonely(x):\n    return x\n")
    chunks = extract_submission(notebook).chunks
    depends = reference_depends(chunks, ["scale", "top", "top_rec", "lonely"])
    assert depends == {"scale": (), "top": ("scale", "top_rec"), "top_rec": (), "lonely": ()}


def test_depends_in_assignment_toml_overrides_the_analysis(assignment: Assignment) -> None:
    functions = tuple(dataclasses.replace(f, depends=("conv_forward",)) if f.name == "conv_backward" else f
                      for f in assignment.functions)
    depends = isolation_depends(dataclasses.replace(assignment, functions=functions))
    assert depends["conv_backward"] == ("conv_forward",)
    assert depends["conv_forward"] == ("zero_pad", "conv_single_step")
