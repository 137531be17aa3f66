"""The known-mistakes catalogue: every entry is recognised in a submission that makes that mistake,
and correct code in several styles triggers none. All through the real CLI, in one batch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.config import load_assignment
from grader.grading.suite import load_suite
from tests.conftest import ROOT, run_cli, sandbox_mode, write_notebook

CONV_LOOP = """import numpy as np
def conv_forward(A_prev, W, b, hparameters):
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    f, f, n_C_prev, n_C = W.shape
    stride, pad = hparameters["stride"], hparameters["pad"]
    n_H = int((n_H_prev - f + 2 * pad) / stride) + PLUS
    n_W = int((n_W_prev - f + 2 * pad) / stride) + PLUS
    Z = np.zeros((m, n_H, n_W, n_C))
    A_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                vs, hs = h * STEP, w * STEP
                for c in range(n_C):
                    Z[i, h, w, c] = np.sum(A_pad[i, vs:vs + f, hs:hs + f, :] * W[:, :, :, c]) + BIAS
    return Z, (A_prev, W, b, hparameters)
"""
POOL_LOOP = """import numpy as np
def pool_forward(A_prev, hparameters, mode="max"):
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    f, stride = hparameters["f"], hparameters["stride"]
    n_H, n_W = int(1 + (n_H_prev - f) / stride), int(1 + (n_W_prev - f) / stride)
    A = np.zeros((m, n_H, n_W, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                vs, hs = h * STEP, w * STEP
                for c in range(n_C):
                    window = A_prev[i, vs:vs + f, hs:hs + f, CHANNEL]
                    A[i, h, w, c] = np.max(window) if mode == "max" else AVERAGE(window)
    return A, (A_prev, hparameters)
"""
CONV_BACKWARD = """import numpy as np
def conv_backward(dZ, cache):
    A_prev, W, b, hparameters = cache
    stride, pad = hparameters["stride"], hparameters["pad"]
    f = W.shape[0]
    A_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dA_pad, dW, db = np.zeros(A_pad.shape), np.zeros(W.shape), np.zeros(b.shape)
    m, n_H, n_W, n_C = dZ.shape
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    vs, hs = h * stride, w * stride
                    dA_pad[i, vs:vs + f, hs:hs + f, :] ASSIGN W[:, :, :, c] * dZ[i, h, w, c]
                    dW[:, :, :, c] += A_pad[i, vs:vs + f, hs:hs + f, :] * dZ[i, h, w, c]
                    db[:, :, :, c] += dZ[i, h, w, c]
    return UNPAD, dW, db
"""
POOL_BACKWARD = """import numpy as np
def pool_backward(dA, cache, mode="max"):
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    dA_prev = np.zeros(A_prev.shape)
    m, n_H, n_W, n_C = dA.shape
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    vs, hs = h * stride, w * stride
                    if mode == "max":
                        window = A_prev[i, vs:vs + f, hs:hs + f, WINDOW_CHANNEL]
                        mask = window == np.max(window)
                        dA_prev[i, vs:vs + f, hs:hs + f, c] ASSIGN mask * dA[i, h, w, c]
                    else:
                        dA_prev[i, vs:vs + f, hs:hs + f, c] ASSIGN dA[i, h, w, c] / (f * f)
    return dA_prev
"""


def conv(plus: str = "1", step: str = "stride", bias: str = "b[0, 0, 0, c]") -> str:
    return CONV_LOOP.replace("PLUS", plus).replace("STEP", step).replace("BIAS", bias)


def pool(step: str = "stride", channel: str = "c", average: str = "np.mean") -> str:
    return POOL_LOOP.replace("STEP", step).replace("CHANNEL", channel).replace("AVERAGE", average)


def conv_back(assign: str = "+=", unpad: str = "dA_pad[:, pad:pad + A_prev.shape[1], pad:pad + A_prev.shape[2], :]") -> str:
    return CONV_BACKWARD.replace("ASSIGN", assign).replace("UNPAD", unpad)


def pool_back(assign: str = "+=", window_channel: str = "c") -> str:
    return POOL_BACKWARD.replace("ASSIGN", assign).replace("WINDOW_CHANNEL", window_channel)


# submission → (the function it replaces, its code, (function, mistake id) expected in the feedback)
MISTAKEN = {
    "pad_batch_axis": ("zero_pad", "import numpy as np\ndef zero_pad(X, pad):\n"
                       "    return np.pad(X, ((pad, pad), (pad, pad), (0, 0), (0, 0)))\n", "pad-wrong-axis"),
    "negative_pad_slice": ("conv_backward", conv_back(unpad="dA_pad[:, pad:-pad, pad:-pad, :]"), "negative-pad-slice"),
    "float_of_array": ("conv_single_step", "import numpy as np\ndef conv_single_step(a, W, b):\n"
                       "    return np.sum(a * W) + float(b)\n", "float-of-array"),
    "np_float": ("conv_single_step", "import numpy as np\ndef conv_single_step(a, W, b):\n"
                 "    return np.sum((np.sum(a * W), b.item()), dtype=np.float)\n", "np-float"),
    "no_bias_single_step": ("conv_single_step", "import numpy as np\ndef conv_single_step(a, W, b):\n"
                            "    return np.sum(a * W)\n", "bias-missing"),
    "no_bias_forward": ("conv_forward", conv(bias="0"), "bias-missing"),
    "stride_ignored_conv": ("conv_forward", conv(step="1"), "stride-ignored"),
    "stride_ignored_pool": ("pool_forward", pool(step="1"), "stride-ignored"),
    "size_off_by_one": ("conv_forward", conv(plus="0"), "output-size-off-by-one"),
    "pool_all_channels": ("pool_forward", pool(channel=":"), "pool-across-channels"),
    "average_as_sum": ("pool_forward", pool(average="np.sum"), "average-as-sum"),
    "assign_conv_backward": ("conv_backward", conv_back(assign="="), "assign-not-accumulate"),
    "assign_pool_backward": ("pool_backward", pool_back(assign="="), "assign-not-accumulate"),
    "mask_without_channel": ("pool_backward", pool_back(window_channel=":"), "mask-wrong-slice"),
    "modifies_input": ("conv_single_step", "import numpy as np\ndef conv_single_step(a, W, b):\n"
                       "    a *= W\n    return np.sum(a) + b.item()\n", "modifies-input"),
    "public_literal": ("conv_single_step", "def conv_single_step(a, W, b):\n    return -6.999089450680221\n",
                       "public-literal"),
}

CORRECT_STYLES = {
    "loops": {"conv_forward": conv(), "pool_forward": pool(), "conv_backward": conv_back(), "pool_backward": pool_back()},
    "vectorised": {
        "conv_single_step": "import numpy as np\ndef conv_single_step(a, W, b):\n"
                            "    return np.float32(np.einsum('ijk,ijk->', a, W) + b[0, 0, 0])\n",
        "create_mask_from_window": "import numpy as np\ndef create_mask_from_window(x):\n    mask = np.zeros(x.shape, bool)\n"
                                   "    mask[np.unravel_index(np.argmax(x), x.shape)] = True\n    return mask\n",
        "pool_forward": "import numpy as np\nfrom numpy.lib.stride_tricks import sliding_window_view\n"
                        "def pool_forward(A_prev, hparameters, mode='max'):\n    f, s = hparameters['f'], hparameters['stride']\n"
                        "    windows = sliding_window_view(A_prev, (f, f), axis=(1, 2))[:, ::s, ::s]\n"
                        "    reduce = np.max if mode == 'max' else np.mean\n"
                        "    return reduce(windows, axis=(-2, -1)), (A_prev, hparameters)\n",
        "distribute_value": "import numpy as np\ndef distribute_value(dz, shape):\n    return np.full(shape, dz / np.prod(shape))\n",
    },
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, solution_cells: dict[str, str]) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("mistakes")
    paths = []
    for name, (function, code, _) in MISTAKEN.items():
        cells = {**solution_cells, function: code}
        paths.append(write_notebook(folder / f"{name}.ipynb", "import numpy as np", *cells.values()))
    for name, replaced in CORRECT_STYLES.items():
        paths.append(write_notebook(folder / f"{name}.ipynb", "import numpy as np", *{**solution_cells, **replaced}.values()))
    paths += [ROOT / "examples" / "submissions" / "alice_full_marks.ipynb",
              ROOT / "solutions" / "cnn_step_by_step" / "cnn_step_by_step.ipynb"]
    out = folder / "out"
    run_cli("grade", "cnn_step_by_step", *paths, "--out", out, "--jobs", "2", "--sandbox", sandbox_mode(), check=True)
    return {p.stem: json.loads((out / p.stem / "results.json").read_text()) for p in paths} | {"_out": {"dir": str(out)}}


def test_every_catalogue_entry_is_demonstrated() -> None:
    suite = load_suite(load_assignment("cnn_step_by_step", ROOT))
    assert {m.id for m in suite.mistakes} == {mistake_id for _, _, mistake_id in MISTAKEN.values()}


@pytest.mark.parametrize("name", MISTAKEN)
def test_the_mistake_is_named_in_the_feedback(graded: dict, name: str) -> None:
    function, _, mistake_id = MISTAKEN[name]
    found = {(m["function"], m["id"]) for m in graded[name]["extra_data"]["mistakes"]}
    assert (function, mistake_id) in found
    html = (Path(graded["_out"]["dir"]) / name / "feedback.html").read_text()
    assert f'data-mistake="{mistake_id}"' in html


@pytest.mark.parametrize("name", [*CORRECT_STYLES, "alice_full_marks", "cnn_step_by_step"])
def test_correct_code_in_any_style_triggers_none(graded: dict, name: str) -> None:
    assert graded[name]["score"] == 100
    assert all(t["status"] == "passed" for t in graded[name]["tests"])
    assert graded[name]["extra_data"]["mistakes"] == []


def test_a_mistake_is_only_named_where_it_was_made(graded: dict) -> None:
    for name, (function, _, _) in MISTAKEN.items():
        assert {m["function"] for m in graded[name]["extra_data"]["mistakes"]} <= {function}, name


def test_the_reference_answers_each_call_once_whatever_the_number_of_recognisers() -> None:
    """Each ``like`` recogniser compares the student's answer with the reference's: ``recognise`` runs the reference
    once per recorded call for all of them (the master's loops are slow), and hands each recogniser its own copy."""
    from grader.mistakes import Call, Mistake, _run, like, recognise

    ran: list[int] = []

    def reference(x: list) -> list:
        ran.append(1)
        return [v * 2 for v in x]

    def careless(call: Call, ref: object) -> bool:  # changes the answer it is given into the "times" mistake's
        answer = _run(ref, call)  # type: ignore[arg-type]
        answer[:] = [v * 3 for v in call.args[0]]
        return False

    catalogue = [Mistake("plus", "t", "h", like(lambda x: [v + 2 for v in x]), "f"), Mistake("careless", "t", "h", careless, "f"),
                 Mistake("times", "t", "h", like(lambda x: [v * 3 for v in x]), "f"),
                 Mistake("square", "t", "h", like(lambda x: [v * v for v in x]), "f")]
    calls = [Call(([1, 2],), {}, value=[3, 6]), Call(([5],), {}, value=[7])]
    assert [m.id for m in recognise(catalogue, "f", calls, reference)] == ["plus", "times"]
    assert len(ran) == len(calls)
