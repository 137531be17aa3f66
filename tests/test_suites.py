"""The public tests and the hidden checks themselves: they pass on the reference, they are deterministic,
they catch the mistakes students really make, they accept right answers written in other styles, and the
hidden ones never give the expected values away."""

from __future__ import annotations

import contextlib
import copy
import io
import re
from collections.abc import Callable
from functools import partial
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from grader.checks import Case, CheckFailed
from tests.conftest import ROOT, load_module

SOLUTIONS = ROOT / "solutions" / "cnn_step_by_step"
FUNCTIONS = (
    "zero_pad", "conv_single_step", "conv_forward", "pool_forward",
    "conv_backward", "create_mask_from_window", "distribute_value", "pool_backward",
)
PUBLIC_LITERAL = -6.999089450680221  # the value conv_single_step_test expects
SEED = 2026  # one submission's seed; the grader derives one per submission from the course key
SEEDS = [SEED, 2**64 - 1]  # the smallest and largest kinds of seed the grader derives


@pytest.fixture(scope="module")
def public() -> ModuleType:
    return load_module(SOLUTIONS / "public_tests.py", "cnn_public_tests_under_test")


@pytest.fixture(scope="module")
def hidden() -> ModuleType:
    return load_module(SOLUTIONS / "hidden_tests.py", "cnn_hidden_tests_under_test")


@pytest.fixture(params=SEEDS, ids=["seed-small", "seed-large"])
def cases_for(hidden: ModuleType, reference: SimpleNamespace, request: pytest.FixtureRequest) -> Callable[[str], list[Case]]:
    """Freshly built hidden cases of one function, as two different submissions meet them."""
    return lambda function: [case for case in hidden.cases(reference, request.param) if case.function == function]


def run_public(public: ModuleType, function: str, target: Callable[..., Any]) -> str:
    """Run ``<function>_test(target)``; return what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        getattr(public, f"{function}_test")(target)
    return out.getvalue()


def public_failure(public: ModuleType, function: str, target: Callable[..., Any]) -> CheckFailed:
    with pytest.raises(CheckFailed) as failed:
        run_public(public, function, target)
    return failed.value


def hidden_results(cases: list[Case], target: Callable[..., Any]) -> dict[str, CheckFailed | None]:
    """Case name → the CheckFailed it raised, or None when it passed."""
    results: dict[str, CheckFailed | None] = {}
    for case in cases:
        try:
            case.run(target)
        except CheckFailed as failed:
            results[case.name] = failed
        else:
            results[case.name] = None
    return results


def param(case: Case, key: str) -> int:
    found = re.search(rf"\b{key} = (\d+)", case.params)
    assert found, f"{case.name} does not say its {key}: {case.params!r}"
    return int(found.group(1))


# ---------------------------------------------------------------------------------------------
# The suites pass on the reference and are deterministic
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_public_test_passes_on_reference(public: ModuleType, reference: SimpleNamespace, function: str) -> None:
    assert "All tests passed" in run_public(public, function, getattr(reference, function))


def test_public_conv_backward_data_file_is_conv_forward_output(reference: SimpleNamespace) -> None:
    np.random.seed(1)
    A_prev = np.random.randn(10, 4, 4, 3)
    W = np.random.randn(2, 2, 3, 8)
    b = np.random.randn(1, 1, 1, 8)
    Z = reference.conv_forward(A_prev, W, b, {"pad": 2, "stride": 2})[0]
    np.testing.assert_array_equal(np.load(SOLUTIONS / "conv_backward_dZ.npy", allow_pickle=False), Z)


def test_every_hidden_case_passes_on_reference(hidden: ModuleType, reference: SimpleNamespace) -> None:
    cases = hidden.cases(reference, SEED)
    assert len(cases) >= 4 * len(FUNCTIONS)
    for case in cases:
        case.run(getattr(reference, case.function))


def test_every_hidden_case_rejects_a_function_returning_none(hidden: ModuleType, reference: SimpleNamespace) -> None:
    results = hidden_results(hidden.cases(reference, SEED), lambda *args, **kwargs: None)
    assert [name for name, failed in results.items() if failed is None] == []
    assert {failed.kind for failed in results.values() if failed is not None} <= {"structure", "type"}


def test_hidden_cases_are_deterministic(hidden: ModuleType, reference: SimpleNamespace) -> None:
    first = [(c.function, c.name, c.params) for c in hidden.cases(reference, SEED)]
    second = [(c.function, c.name, c.params) for c in hidden.cases(reference, SEED)]
    assert first == second
    assert len({name for _, name, _ in first}) == len(first), "hidden case names are not unique"
    assert all(params for _, _, params in first), "every hidden case should say with which parameters it runs"


def _inputs_seen(cases: list[Case], reference: SimpleNamespace) -> list[tuple[str, Any]]:
    """Run every case on the reference, recording (a copy of) what each call received."""
    seen: list[tuple[str, Any]] = []
    for case in cases:
        right = getattr(reference, case.function)

        def recorder(*args: Any, right: Callable[..., Any] = right, name: str = case.name, **kwargs: Any) -> Any:
            seen.append((name, copy.deepcopy((args, kwargs))))
            return right(*args, **kwargs)

        case.run(recorder)
    return seen


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_equal, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def test_hidden_cases_call_with_the_same_inputs_every_time(hidden: ModuleType, reference: SimpleNamespace) -> None:
    first = _inputs_seen(hidden.cases(reference, SEED), reference)
    second = _inputs_seen(hidden.cases(reference, SEED), reference)
    assert {name for name, _ in first} == {c.name for c in hidden.cases(reference, SEED)}, "a case never called its target"
    assert [name for name, _ in first] == [name for name, _ in second]
    different = [name for (name, a), (_, b) in zip(first, second) if not _equal(a, b)]
    assert different == []


def test_hidden_cases_cover_every_function(hidden: ModuleType, reference: SimpleNamespace) -> None:
    cases = hidden.cases(reference, SEED)
    assert {c.function for c in cases} == set(FUNCTIONS)
    for function in FUNCTIONS:
        assert sum(c.function == function for c in cases) >= 4, function
    conv = [c for c in cases if c.function == "conv_forward"]
    assert any(param(c, "pad") == 0 for c in conv)
    assert any(param(c, "stride") > 1 for c in conv)
    assert any("float32" in c.params for c in conv)
    pool = [c for c in cases if c.function == "pool_forward"]
    assert any(param(c, "stride") > 1 for c in pool)
    assert any("float32" in c.params for c in pool)
    assert any(param(c, "f") > param(c, "stride") for c in pool), "no pool_forward case with overlapping windows"
    assert any(param(c, "pad") == 0 for c in cases if c.function == "conv_backward")


MANY_SEEDS = [int(seed) for seed in np.random.default_rng(7).integers(0, 2**63, size=16)] + SEEDS


def _calls(seen: list[tuple[str, Any]], function: str) -> list[tuple[tuple, dict]]:
    """The (args, kwargs) that the hidden cases (not the sweep) of ``function`` passed."""
    return [call for name, call in seen if name.startswith(f"{function} hidden #")]


def _overlaps_or_leaves_a_rest(n: int, f: int, stride: int, pad: int = 0) -> tuple[bool, bool]:
    return f > stride, (n + 2 * pad - f) % stride != 0


@pytest.mark.parametrize("seed", MANY_SEEDS)
def test_every_seed_meets_every_edge_case(hidden: ModuleType, reference: SimpleNamespace, seed: int) -> None:
    """Only the random values come from a submission's seed: each edge case is there, in the inputs
    actually passed, whatever the seed."""
    seen = _inputs_seen(hidden.cases(reference, seed), reference)
    pads = _calls(seen, "zero_pad")
    assert any(pad == 0 for (X, pad), _ in pads) and any(X.dtype == np.float32 for (X, _), _ in pads)
    assert any(a.shape[0] == 1 for (a, _, _), _ in _calls(seen, "conv_single_step"))
    conv = [args for args, _ in _calls(seen, "conv_forward")]
    assert any(hp["pad"] == 0 for *_, hp in conv)
    assert any(_overlaps_or_leaves_a_rest(A.shape[1], W.shape[0], hp["stride"], hp["pad"])[1] for A, W, _, hp in conv)
    assert any(W.shape[0] == 1 for _, W, _, _ in conv)
    assert any(W.shape[0] > hp["stride"] > 1 for _, W, _, hp in conv)
    assert any(A.dtype == np.float32 for A, *_ in conv)
    pool = _calls(seen, "pool_forward")
    assert {kwargs["mode"] for _, kwargs in pool} == {"max", "average"}
    assert all((A < 0).all() for (A, _), kwargs in pool if kwargs["mode"] == "max"), "a maximum started at 0 must show"
    assert any(_overlaps_or_leaves_a_rest(A.shape[1], hp["f"], hp["stride"])[0] for (A, hp), _ in pool)
    assert any(_overlaps_or_leaves_a_rest(A.shape[1], hp["f"], hp["stride"])[1] for (A, hp), _ in pool)
    assert any(hp["f"] == 1 for (_, hp), _ in pool) and any(A.dtype == np.float32 for (A, _), _ in pool)
    assert any(cache[3]["pad"] == 0 for (_, cache), _ in _calls(seen, "conv_backward"))
    windows = [x for (x,), _ in _calls(seen, "create_mask_from_window")]
    assert any(x.shape == (1, 1) for x in windows) and any(x.dtype.kind == "i" for x in windows)
    assert any((x < 0).all() for x in windows)
    values = [args for args, _ in _calls(seen, "distribute_value")]
    assert {type(dz) for dz, _ in values} == {float, int, np.float64}
    assert any(dz < 0 for dz, _ in values) and any(shape == (1, 1) for _, shape in values)
    pool_back = _calls(seen, "pool_backward")
    assert {kwargs["mode"] for _, kwargs in pool_back} == {"max", "average"}
    assert any(hp["f"] > hp["stride"] for (_, (_, hp)), _ in pool_back)


@pytest.mark.parametrize("seed", MANY_SEEDS)
def test_every_hidden_case_passes_on_reference_whatever_the_seed(hidden: ModuleType, reference: SimpleNamespace,
                                                                  seed: int) -> None:
    for case in hidden.cases(reference, seed):
        case.run(getattr(reference, case.function))


def test_another_seed_draws_other_inputs_for_the_same_checks(hidden: ModuleType, reference: SimpleNamespace) -> None:
    """What one submission recorded is no use to another: same checks, other values."""
    first, second = (hidden.cases(reference, seed) for seed in SEEDS)
    assert [(c.name, c.params) for c in first] == [(c.name, c.params) for c in second]
    a, b = _inputs_seen(first, reference), _inputs_seen(second, reference)
    same = {name for (name, x), (_, y) in zip(a, b) if _equal(x, y)}
    assert same <= {"distribute_value hidden #3"}  # an integer dz from 1 to 10 may come up twice


# ---------------------------------------------------------------------------------------------
# Wrong implementations, as students write them
# ---------------------------------------------------------------------------------------------


def zero_pad_pads_the_batch_axis(X: np.ndarray, pad: int) -> np.ndarray:
    return np.pad(X, ((pad, pad), (pad, pad), (0, 0), (0, 0)))


def conv_single_step_returns_an_array(a_slice_prev: np.ndarray, W: np.ndarray, b: np.ndarray) -> Any:
    return np.sum(a_slice_prev * W) + b  # shape (1, 1, 1)


def conv_single_step_without_bias(a_slice_prev: np.ndarray, W: np.ndarray, b: np.ndarray) -> float:
    return float(np.sum(a_slice_prev * W))


def conv_single_step_public_literal(a_slice_prev: np.ndarray, W: np.ndarray, b: np.ndarray) -> float:
    return PUBLIC_LITERAL


def student_conv_forward(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, hparameters: dict, *, use_stride: bool = True,
                         plus_one: int = 1) -> tuple:
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f, _, _, n_C = W.shape
    stride, pad = hparameters["stride"], hparameters["pad"]
    n_H = (n_H_prev + 2 * pad - f) // stride + plus_one
    n_W = (n_W_prev + 2 * pad - f) // stride + plus_one
    A_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    step = stride if use_stride else 1
    Z = np.zeros((m, n_H, n_W, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                window = A_pad[i, h * step:h * step + f, w * step:w * step + f, :]
                for c in range(n_C):
                    Z[i, h, w, c] = np.sum(window * W[..., c]) + b[0, 0, 0, c]
    return Z, (A_prev, W, b, hparameters)


def conv_forward_vectorised(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, hparameters: dict) -> tuple:
    """Right, in another style: sliding windows and one einsum."""
    stride, pad, f = hparameters["stride"], hparameters["pad"], W.shape[0]
    A_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    windows = sliding_window_view(A_pad, (f, f), axis=(1, 2))[:, ::stride, ::stride]  # m, n_H, n_W, n_C_prev, f, f
    Z = np.einsum("mhwcij,ijcn->mhwn", windows, W) + b
    return Z, (A_prev, W, b, hparameters)


def conv_forward_adds_f_to_hparameters(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, hparameters: dict) -> tuple:
    hparameters["f"] = W.shape[0]  # right answer, but the caller's dictionary changed
    return conv_forward_vectorised(A_prev, W, b, hparameters)


def student_pool_forward(A_prev: np.ndarray, hparameters: dict, mode: str = "max", *, bug: str = "") -> tuple:
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    f, stride = hparameters["f"], hparameters["stride"]
    n_H, n_W = (n_H_prev - f) // stride + 1, (n_W_prev - f) // stride + 1
    A = np.zeros((m, n_H, n_W, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                block = A_prev[i, h * stride:h * stride + f, w * stride:w * stride + f, :]
                if bug == "all channels":
                    A[i, h, w, :] = np.max(block) if mode == "max" else np.mean(block)
                    continue
                for c in range(n_C):
                    window = block[:, :, c]
                    if mode == "max":
                        A[i, h, w, c] = max(0.0, np.max(window)) if bug == "max from zero" else np.max(window)
                    else:
                        A[i, h, w, c] = np.sum(window) if bug == "sum" else np.mean(window)
    return A, (A_prev, hparameters)


def student_conv_backward(dZ: np.ndarray, cache: tuple, *, bug: str = "") -> tuple:
    A_prev, W, _, hparameters = cache
    _, n_H_prev, n_W_prev, _ = A_prev.shape
    f, _, _, n_C = W.shape
    stride, pad = hparameters["stride"], hparameters["pad"]
    m, n_H, n_W, _ = dZ.shape
    A_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dA_pad = np.zeros(A_pad.shape)
    dW = np.zeros(W.shape)
    db = np.zeros((1, 1, 1, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                t, le = h * stride, w * stride
                for c in range(n_C):
                    if bug == "assign":
                        dA_pad[i, t:t + f, le:le + f, :] = W[:, :, :, c] * dZ[i, h, w, c]
                    else:
                        dA_pad[i, t:t + f, le:le + f, :] += W[:, :, :, c] * dZ[i, h, w, c]
                    dW[:, :, :, c] += A_pad[i, t:t + f, le:le + f, :] * dZ[i, h, w, c]
                    db[:, :, :, c] += dZ[i, h, w, c]
    if bug == "minus pad":
        return dA_pad[:, pad:-pad, pad:-pad, :], dW, db
    return dA_pad[:, pad:pad + n_H_prev, pad:pad + n_W_prev, :], dW, db


def conv_backward_vectorised_assign(dZ: np.ndarray, cache: tuple) -> tuple:
    """All channels at once, but ``=`` for dA_prev: wrong only where windows overlap."""
    A_prev, W, _, hparameters = cache
    stride, pad, f = hparameters["stride"], hparameters["pad"], W.shape[0]
    A_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dA_pad = np.zeros(A_pad.shape)
    dW = np.zeros(W.shape)
    for h in range(dZ.shape[1]):
        for w in range(dZ.shape[2]):
            t, le = h * stride, w * stride
            dA_pad[:, t:t + f, le:le + f, :] = np.einsum("ijcn,mn->mijc", W, dZ[:, h, w])
            dW += np.einsum("mijc,mn->ijcn", A_pad[:, t:t + f, le:le + f], dZ[:, h, w])
    n_H_prev, n_W_prev = A_prev.shape[1:3]
    return dA_pad[:, pad:pad + n_H_prev, pad:pad + n_W_prev], dW, dZ.sum(axis=(0, 1, 2), keepdims=True)


def student_pool_backward(dA: np.ndarray, cache: tuple, mode: str = "max", *, assign: bool = False) -> np.ndarray:
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    m, n_H, n_W, n_C = dA.shape
    dA_prev = np.zeros(A_prev.shape)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                t, le = h * stride, w * stride
                for c in range(n_C):
                    window = A_prev[i, t:t + f, le:le + f, c]
                    if mode == "max":
                        share = (window == np.max(window)) * dA[i, h, w, c]
                    else:
                        share = np.full((f, f), dA[i, h, w, c] / (f * f))
                    if assign:
                        dA_prev[i, t:t + f, le:le + f, c] = share
                    else:
                        dA_prev[i, t:t + f, le:le + f, c] += share
    return dA_prev


def create_mask_subtracting_in_place(x: np.ndarray) -> np.ndarray:
    x -= np.max(x)  # right answer, but the caller's window changed
    return x == 0


def test_zero_pad_on_the_batch_axis_is_caught(public: ModuleType, cases_for: Callable[[str], list[Case]]) -> None:
    assert public_failure(public, "zero_pad", zero_pad_pads_the_batch_axis).kind == "shape"
    cases = cases_for("zero_pad")
    results = hidden_results(cases, zero_pad_pads_the_batch_axis)
    for case in cases:
        if param(case, "pad") > 0:
            assert results[case.name] is not None and results[case.name].kind == "shape", case.name


def test_conv_single_step_returning_an_array_is_a_type_error(public: ModuleType, cases_for: Callable[[str], list[Case]]) -> None:
    failed = public_failure(public, "conv_single_step", conv_single_step_returns_an_array)
    assert failed.kind == "type" and ".item()" in failed.message
    results = hidden_results(cases_for("conv_single_step"), conv_single_step_returns_an_array)
    assert results and all(r is not None and r.kind == "type" for r in results.values())


def test_conv_single_step_without_bias_is_caught(public: ModuleType, reference: SimpleNamespace,
                                                 cases_for: Callable[[str], list[Case]]) -> None:
    assert public_failure(public, "conv_single_step", conv_single_step_without_bias).kind == "values"
    results = hidden_results(cases_for("conv_single_step"), conv_single_step_without_bias)
    assert results and all(r is not None and r.kind == "values" for r in results.values())


def test_conv_single_step_returning_the_public_literal_fails_hidden(public: ModuleType, cases_for: Callable[[str], list[Case]]) -> None:
    assert "All tests passed" in run_public(public, "conv_single_step", conv_single_step_public_literal)
    results = hidden_results(cases_for("conv_single_step"), conv_single_step_public_literal)
    assert results and all(r is not None and r.kind == "values" for r in results.values())


def test_conv_forward_ignoring_stride_is_caught(public: ModuleType, cases_for: Callable[[str], list[Case]]) -> None:
    target = partial(student_conv_forward, use_stride=False)
    assert public_failure(public, "conv_forward", target).kind == "values"
    cases = cases_for("conv_forward")
    results = hidden_results(cases, target)
    strided = [c for c in cases if param(c, "stride") > 1]
    assert strided
    assert all(results[c.name] is not None and results[c.name].kind == "values" for c in strided)
    assert all(results[c.name] is None for c in cases if param(c, "stride") == 1), "the stride-1 cases should not care"


def test_conv_forward_off_by_one_output_size_is_caught(public: ModuleType, cases_for: Callable[[str], list[Case]]) -> None:
    target = partial(student_conv_forward, plus_one=0)
    assert public_failure(public, "conv_forward", target).kind == "shape"
    results = hidden_results(cases_for("conv_forward"), target)
    assert results and all(r is not None and r.kind == "shape" for r in results.values())


def test_pool_forward_average_as_a_sum_is_caught(public: ModuleType, cases_for: Callable[[str], list[Case]]) -> None:
    target = partial(student_pool_forward, bug="sum")
    assert public_failure(public, "pool_forward", target).kind == "values"
    cases = cases_for("pool_forward")
    results = hidden_results(cases, target)
    averaged = [c for c in cases if "average" in c.params and param(c, "f") > 1]
    assert averaged
    assert all(results[c.name] is not None and results[c.name].kind == "values" for c in averaged)
    assert all(results[c.name] is None for c in cases if "'max'" in c.params)


def test_pool_forward_over_all_channels_at_once_is_caught(public: ModuleType, cases_for: Callable[[str], list[Case]]) -> None:
    target = partial(student_pool_forward, bug="all channels")
    assert public_failure(public, "pool_forward", target).kind == "values"
    cases = cases_for("pool_forward")
    results = hidden_results(cases, target)
    several_channels = [c for c in cases if param(c, "n_C") > 1]
    assert several_channels
    assert all(results[c.name] is not None and results[c.name].kind == "values" for c in several_channels)


def test_pool_forward_maximum_started_at_zero_is_caught_by_hidden_cases(cases_for: Callable[[str], list[Case]]) -> None:
    target = partial(student_pool_forward, bug="max from zero")
    cases = cases_for("pool_forward")
    results = hidden_results(cases, target)
    maxed = [c for c in cases if "'max'" in c.params]
    assert maxed
    assert all(results[c.name] is not None and results[c.name].kind == "values" for c in maxed)


def test_distribute_value_dividing_by_the_sum_of_sides_is_caught(public: ModuleType, cases_for: Callable[[str], list[Case]]) -> None:
    def target(dz: float, shape: tuple[int, int]) -> np.ndarray:
        return np.full(shape, dz / (shape[0] + shape[1]))  # right only for a 2 × 2 window

    assert public_failure(public, "distribute_value", target).kind == "values"
    cases = cases_for("distribute_value")
    results = hidden_results(cases, target)
    assert [c.name for c in cases if results[c.name] is None] == [c.name for c in cases if "(2, 2)" in c.params]


def test_conv_backward_slicing_minus_pad_is_caught_by_hidden_cases(public: ModuleType,
                                                                    cases_for: Callable[[str], list[Case]]) -> None:
    target = partial(student_conv_backward, bug="minus pad")
    # The public test uses pad = 2, where `[pad:-pad]` happens to be right: only hidden cases with pad = 0 can see it.
    assert "All tests passed" in run_public(public, "conv_backward", target)
    cases = cases_for("conv_backward")
    results = hidden_results(cases, target)
    unpadded = [c for c in cases if param(c, "pad") == 0]
    assert unpadded
    assert all(results[c.name] is not None and results[c.name].kind == "shape" for c in unpadded)
    assert all(results[c.name] is None for c in cases if param(c, "pad") > 0)


def test_conv_backward_assigning_dA_prev_is_caught(public: ModuleType, cases_for: Callable[[str], list[Case]]) -> None:
    target = partial(student_conv_backward, bug="assign")
    assert public_failure(public, "conv_backward", target).kind == "values"
    results = hidden_results(cases_for("conv_backward"), target)
    assert any(r is not None and r.kind == "values" for r in results.values())


def test_conv_backward_assigning_across_overlapping_windows_is_caught(public: ModuleType,
                                                                      cases_for: Callable[[str], list[Case]]) -> None:
    """Vectorised over channels, ``=`` only goes wrong where windows overlap, which the public test (f = 2, stride = 2)
    does not have; the hidden cases with stride < f must catch it, and the gradient check too."""
    assert "All tests passed" in run_public(public, "conv_backward", conv_backward_vectorised_assign)
    cases = cases_for("conv_backward")
    results = hidden_results(cases, conv_backward_vectorised_assign)
    overlapping = [c for c in cases if param(c, "stride") < param(c, "f")]
    assert overlapping
    assert all(results[c.name] is not None and results[c.name].kind == "values" for c in overlapping)
    assert any(results[c.name] is not None for c in cases if "finite-difference" in c.params)


def test_prepared_hidden_cases_run_without_working_out_their_answers_again(hidden: ModuleType,
                                                                          reference: SimpleNamespace) -> None:
    """The grader has the cases prepare what they expect while the sandbox loads the notebook (Suite.prepare_hidden):
    the costly ones (forward and backward passes, gradient checks) must then not run the reference again."""
    calls: list[str] = []

    def counted(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return getattr(reference, name)(*args, **kwargs)
        return call

    watched = SimpleNamespace(**{name: counted(name) for name in FUNCTIONS})
    costly = [case for case in hidden.cases(watched, SEED)
              if case.function in ("conv_forward", "pool_forward", "conv_backward", "pool_backward")]
    assert all(case.prepare is not None for case in costly)
    for case in costly:
        case.prepare()
    calls.clear()
    for case in costly:
        case.run(getattr(reference, case.function))
    assert calls == []


@pytest.mark.parametrize("seed", [SEED, 1, 2])
def test_the_hidden_checks_own_passes_agree_with_the_reference(hidden: ModuleType, reference: SimpleNamespace,
                                                               seed: int) -> None:
    """The hidden checks work out expected values (and the finite-difference losses) with vectorised passes of their
    own, cheaper than the reference's loops: on every setting, both dtypes and both modes they must give the
    reference's results, or correct code would fail them."""
    close = partial(np.testing.assert_allclose, rtol=1e-9, atol=1e-12)
    rng = np.random.default_rng(seed)
    for index, setting in enumerate(hidden.CONV_SETTINGS):
        for dtype in (np.float64, np.float32):
            inputs = hidden._conv_inputs(seed, index, setting, dtype)
            Z = reference.conv_forward(*inputs)[0]
            assert Z.shape == hidden._conv_out(setting)
            np.testing.assert_allclose(hidden._conv_forward(*inputs), Z, rtol=1e-9 if dtype is np.float64 else 1e-5,
                                       atol=1e-12 if dtype is np.float64 else 1e-5)
            G = rng.standard_normal(Z.shape)
            assert hidden._conv_loss(*inputs, G) == pytest.approx(float(np.sum(Z * G)), rel=1e-5)
        inputs = hidden._conv_inputs(seed, index, setting)
        dZ = rng.standard_normal(hidden._conv_out(setting))
        for mine, theirs in zip(hidden._conv_backward(dZ, inputs), reference.conv_backward(dZ, inputs), strict=True):
            close(mine, theirs)
    for index, setting in enumerate(hidden.POOL_SETTINGS):
        for mode in ("max", "average"):
            for dtype in (np.float64, np.float32):
                A_prev, hparameters = hidden._pool_inputs(seed, index, setting, dtype)
                A = reference.pool_forward(A_prev, hparameters, mode=mode)[0]
                assert A.shape == hidden._pool_out(setting)
                np.testing.assert_allclose(hidden._pool_forward(A_prev, hparameters, mode), A,
                                           rtol=1e-9 if dtype is np.float64 else 1e-5, atol=1e-12 if dtype is np.float64 else 1e-6)
            A_prev, hparameters = hidden._pool_inputs(seed, index, setting)
            dA = rng.standard_normal(hidden._pool_out(setting))
            close(hidden._pool_backward(dA, (A_prev, hparameters), mode),
                  reference.pool_backward(dA, (A_prev, hparameters), mode=mode))
            G = rng.standard_normal(dA.shape)
            assert hidden._pool_loss(A_prev, hparameters, mode, G) == pytest.approx(
                float(np.sum(reference.pool_forward(A_prev, hparameters, mode=mode)[0] * G)), rel=1e-9)


@pytest.mark.parametrize("mode", ["max", "average"])
def test_pool_backward_assigning_overlapping_windows_is_caught(public: ModuleType, cases_for: Callable[[str], list[Case]],
                                                               mode: str) -> None:
    target = partial(student_pool_backward, assign=True)
    assert public_failure(public, "pool_backward", target).kind == "values"
    cases = [c for c in cases_for("pool_backward") if repr(mode) in c.params]
    results = hidden_results(cases, target)
    overlapping = [c for c in cases if param(c, "stride") < param(c, "f")]
    assert overlapping
    assert all(results[c.name] is not None and results[c.name].kind == "values" for c in overlapping)
    assert results[next(c.name for c in cases if "finite-difference" in c.params)] is not None


def test_modifying_the_input_in_place_is_caught(public: ModuleType, cases_for: Callable[[str], list[Case]]) -> None:
    assert public_failure(public, "create_mask_from_window", create_mask_subtracting_in_place).kind == "modified"
    results = hidden_results(cases_for("create_mask_from_window"), create_mask_subtracting_in_place)
    assert results and all(r is not None and r.kind == "modified" for r in results.values())

    assert public_failure(public, "conv_forward", conv_forward_adds_f_to_hparameters).kind == "modified"
    results = hidden_results(cases_for("conv_forward"), conv_forward_adds_f_to_hparameters)
    assert results and all(r is not None and r.kind == "modified" for r in results.values())


def _vandalise(value: Any) -> None:
    """Change every array and dictionary inside ``value`` in place."""
    if isinstance(value, np.ndarray):
        value[...] = 0
    elif isinstance(value, dict):
        value["vandal"] = True
    elif isinstance(value, (tuple, list)):
        for item in value:
            _vandalise(item)


@pytest.mark.parametrize("function", [f for f in FUNCTIONS if f != "distribute_value"])
def test_a_target_modifying_its_inputs_does_not_poison_later_runs(hidden: ModuleType, reference: SimpleNamespace,
                                                                  function: str) -> None:
    """The grader builds the cases once per batch and writes a submission's in-place changes back into the arguments
    it passed; a submission that vandalises them must not make the next submission fail."""
    right = getattr(reference, function)

    def vandal(*args: Any, **kwargs: Any) -> Any:
        result = right(*args, **kwargs)
        _vandalise(args)
        return result

    cases = [c for c in hidden.cases(reference, SEED) if c.function == function]  # one suite for the whole batch
    for case in cases:
        case.run(right)  # fill any cache first, as an earlier submission would
    results = hidden_results(cases, vandal)
    assert all(r is not None and r.kind == "modified" for r in results.values()), results
    assert hidden_results(cases, right) == dict.fromkeys(results)  # the next submission is right: it passes all


# ---------------------------------------------------------------------------------------------
# Right answers in other styles get full marks
# ---------------------------------------------------------------------------------------------


def conv_single_step_float32(a_slice_prev: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.float32:
    Z = np.sum(a_slice_prev.astype(np.float32) * W.astype(np.float32)) + np.float32(b.item())
    assert isinstance(Z, np.float32)
    return Z


def conv_single_step_python_float(a_slice_prev: np.ndarray, W: np.ndarray, b: np.ndarray) -> float:
    return float(np.sum(a_slice_prev * W)) + float(b.item())


def create_mask_with_argmax(x: np.ndarray) -> np.ndarray:
    mask = np.zeros(x.shape, dtype=bool)
    mask[np.unravel_index(np.argmax(x), x.shape)] = True
    return mask


def pool_forward_vectorised(A_prev: np.ndarray, hparameters: dict, mode: str = "max") -> tuple:
    f, stride = hparameters["f"], hparameters["stride"]
    windows = sliding_window_view(A_prev, (f, f), axis=(1, 2))[:, ::stride, ::stride]
    A = windows.max(axis=(-2, -1)) if mode == "max" else windows.mean(axis=(-2, -1))
    return A, (A_prev, hparameters)


OTHER_STYLES = {
    "conv_forward vectorised with einsum": ("conv_forward", conv_forward_vectorised),
    "conv_single_step in float32": ("conv_single_step", conv_single_step_float32),
    "conv_single_step returning a Python float": ("conv_single_step", conv_single_step_python_float),
    "create_mask_from_window via argmax": ("create_mask_from_window", create_mask_with_argmax),
    "pool_forward vectorised with sliding windows": ("pool_forward", pool_forward_vectorised),
    "conv_backward written out in loops": ("conv_backward", student_conv_backward),
    "pool_backward written out in loops": ("pool_backward", student_pool_backward),
}


@pytest.mark.parametrize("style", OTHER_STYLES)
def test_right_answer_in_another_style_passes_everything(public: ModuleType, cases_for: Callable[[str], list[Case]],
                                                         style: str) -> None:
    function, target = OTHER_STYLES[style]
    assert "All tests passed" in run_public(public, function, target)
    results = hidden_results(cases_for(function), target)
    assert len(results) >= 4
    assert {name: failed.message for name, failed in results.items() if failed is not None} == {}


# ---------------------------------------------------------------------------------------------
# Hidden messages keep the expected values to themselves
# ---------------------------------------------------------------------------------------------


def _number_spellings(value: float) -> set[str]:
    return {repr(value), str(value), repr(float(value)), f"{float(value):.6g}", f"{float(value):.4f}", f"{float(value):.3f}"}


def test_hidden_messages_do_not_reveal_the_expected_scalar(hidden: ModuleType, reference: SimpleNamespace) -> None:
    cases = [c for c in hidden.cases(reference, SEED) if c.function == "conv_single_step"]
    expected_values: list[Any] = []

    def spy(a_slice_prev: np.ndarray, W: np.ndarray, b: np.ndarray) -> float:
        expected_values.append(reference.conv_single_step(a_slice_prev, W, b))
        return conv_single_step_without_bias(a_slice_prev, W, b)

    results = hidden_results(cases, spy)
    assert len(expected_values) == len(cases)
    for failed, value in zip(results.values(), expected_values):
        assert failed is not None and failed.kind == "values"
        assert not any(text in failed.message for text in _number_spellings(value)), failed.message
        assert "expected" not in failed.message


@pytest.mark.parametrize(("function", "target"), [
    ("conv_forward", partial(student_conv_forward, use_stride=False)),
    ("pool_forward", partial(student_pool_forward, bug="sum")),
    ("conv_backward", partial(student_conv_backward, bug="assign")),
    ("pool_backward", partial(student_pool_backward, assign=True)),
    ("distribute_value", lambda dz, shape: np.full(shape, float(dz))),
    ("create_mask_from_window", lambda x: x == np.min(x)),
], ids=["conv_forward", "pool_forward", "conv_backward", "pool_backward", "distribute_value", "create_mask_from_window"])
def test_hidden_value_messages_do_not_show_values(cases_for: Callable[[str], list[Case]], function: str,
                                                  target: Callable[..., Any]) -> None:
    failures = [f for f in hidden_results(cases_for(function), target).values() if f is not None]
    assert failures
    for failed in failures:
        assert failed.kind == "values"
        assert "expected" not in failed.message and "got" not in failed.message, failed.message
        assert not re.search(r"\d\.\d", failed.message), failed.message


def test_a_zero_dimensional_array_counts_as_a_scalar_but_a_one_one_one_array_does_not() -> None:
    from grader.checks import CheckFailed, expect_scalar

    expect_scalar("Z", np.array(2.5), 2.5)
    expect_scalar("Z", np.float32(2.5), 2.5)
    expect_scalar("Z", 2.5, 2.5)
    with pytest.raises(CheckFailed) as failed:
        expect_scalar("Z", np.full((1, 1, 1), 2.5), 2.5)
    assert failed.value.kind == "type" and ".item()" in failed.value.message
    with pytest.raises(CheckFailed):
        expect_scalar("Z", True, 1.0)
