"""The reference solutions in the master notebook are right for every valid input, not only for the
inputs the public and hidden tests happen to use: they are compared with the course's published values,
with independent computations (SciPy, sliding windows, finite differences) and with properties."""

from __future__ import annotations

import copy
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

# ---------------------------------------------------------------------------------------------
# Helpers: independent implementations and finite differences
# ---------------------------------------------------------------------------------------------


def _assert_close(got: np.ndarray, expected: np.ndarray, rtol: float = 1e-10) -> None:
    """Same shape and values within ``rtol`` of the largest expected magnitude."""
    assert got.shape == expected.shape
    scale = max(float(np.abs(expected).max()) if expected.size else 0.0, 1.0)
    np.testing.assert_allclose(got, expected, rtol=0, atol=rtol * scale)


def scipy_conv(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, pad: int, stride: int) -> np.ndarray:
    """Cross-correlation computed by SciPy, in float64, independently of the reference."""
    A_pad = np.pad(A_prev.astype(np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    m, n_C = A_prev.shape[0], W.shape[3]
    out = []
    for i in range(m):
        channels = [
            scipy.signal.correlate(A_pad[i], W[..., c].astype(np.float64), mode="valid", method="direct")[::stride, ::stride, 0]
            + float(b[0, 0, 0, c])
            for c in range(n_C)
        ]
        out.append(np.stack(channels, axis=-1))
    return np.stack(out)


def window_pool(A_prev: np.ndarray, f: int, stride: int, mode: str) -> np.ndarray:
    windows = sliding_window_view(A_prev.astype(np.float64), (f, f), axis=(1, 2))[:, ::stride, ::stride]
    return windows.max(axis=(-2, -1)) if mode == "max" else windows.mean(axis=(-2, -1))


def finite_differences(loss: Callable[[], float], array: np.ndarray, picks: list[tuple[int, ...]], eps: float) -> np.ndarray:
    """Central differences of ``loss`` at ``picks`` (``array`` is changed in place and restored)."""
    grads = []
    for where in picks:
        saved = array[where]
        array[where] = saved + eps
        up = loss()
        array[where] = saved - eps
        down = loss()
        array[where] = saved
        grads.append((up - down) / (2 * eps))
    return np.array(grads)


def directional_difference(loss: Callable[[], float], array: np.ndarray, direction: np.ndarray, eps: float) -> float:
    """(loss(array + eps d) - loss(array - eps d)) / 2 eps: checks every entry of a gradient at once."""
    saved = array.copy()
    array += eps * direction
    up = loss()
    array[...] = saved - eps * direction
    down = loss()
    array[...] = saved
    return (up - down) / (2 * eps)


def sample_entries(rng: np.random.Generator, shape: tuple[int, ...], count: int) -> list[tuple[int, ...]]:
    """``count`` random entries plus the first and last one (corners are where padding bugs show)."""
    picks = [tuple(int(rng.integers(n)) for n in shape) for _ in range(count)]
    return [tuple(0 for _ in shape), tuple(n - 1 for n in shape), *picks]


# ---------------------------------------------------------------------------------------------
# The published values (the same inputs as the public tests)
# ---------------------------------------------------------------------------------------------


def test_conv_single_step_seed_value_is_a_scalar(reference: SimpleNamespace) -> None:
    np.random.seed(1)
    a_slice_prev = np.random.randn(4, 4, 3)
    W = np.random.randn(4, 4, 3)
    b = np.random.randn(1, 1, 1)
    Z = reference.conv_single_step(a_slice_prev, W, b)
    assert isinstance(Z, (float, np.floating)) and not isinstance(Z, np.ndarray)
    assert float(Z) == pytest.approx(-6.999089450680221, rel=1e-12)


def test_conv_forward_seed_values(reference: SimpleNamespace) -> None:
    np.random.seed(1)
    A_prev = np.random.randn(2, 5, 7, 4)
    W = np.random.randn(3, 3, 4, 8)
    b = np.random.randn(1, 1, 1, 8)
    hparameters = {"pad": 1, "stride": 2}
    Z, cache = reference.conv_forward(A_prev, W, b, hparameters)
    assert Z.shape == (2, 3, 4, 8)
    assert np.mean(Z) == pytest.approx(0.5511276474566768, rel=1e-12)
    expected_row = [-2.177960371, 8.0717132866, -0.5772703966, 3.3628673753, 4.4811364468, -2.8919842848, 10.9928886733, 3.03171932]
    np.testing.assert_allclose(Z[0, 2, 1], expected_row, atol=1e-8)
    assert len(cache) == 4
    assert cache[0] is A_prev and cache[1] is W and cache[2] is b and cache[3] == hparameters
    np.testing.assert_allclose(cache[0][1][2][3], [-1.1191153986, 1.9560789037, -0.3264994981, -1.3426757894], atol=1e-9)


def test_conv_backward_seed_values(reference: SimpleNamespace) -> None:
    np.random.seed(1)
    A_prev = np.random.randn(10, 4, 4, 3)
    W = np.random.randn(2, 2, 3, 8)
    b = np.random.randn(1, 1, 1, 8)
    hparameters = {"pad": 2, "stride": 2}
    Z, cache = reference.conv_forward(A_prev, W, b, hparameters)
    dA, dW, db = reference.conv_backward(Z, cache)
    assert (dA.shape, dW.shape, db.shape) == ((10, 4, 4, 3), (2, 2, 3, 8), (1, 1, 1, 8))
    assert np.mean(dA) == pytest.approx(1.4524377775388075, rel=1e-9)
    assert np.mean(dW) == pytest.approx(1.7269914583139097, rel=1e-9)
    assert np.mean(db) == pytest.approx(7.839232564616838, rel=1e-9)


def test_pool_forward_seed_values(reference: SimpleNamespace) -> None:
    np.random.seed(1)
    A_prev = np.random.randn(2, 5, 5, 3)
    A, cache = reference.pool_forward(A_prev, {"stride": 1, "f": 3}, mode="max")
    assert A.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(A[1, 1, 0], [1.9671017493, 0.8461606476, 1.2737559302], atol=1e-9)
    A, _ = reference.pool_forward(A_prev, {"stride": 2, "f": 3}, mode="average")
    assert A.shape == (2, 2, 2, 3)
    np.testing.assert_allclose(A[1, 1], [[0.429449255, 0.0844699612, -0.2729090507], [0.1507745183, 0.2891117512, 0.0012323854]],
                               atol=1e-9)
    assert cache[0] is A_prev and cache[1] == {"stride": 1, "f": 3}


def test_pool_backward_seed_values(reference: SimpleNamespace) -> None:
    np.random.seed(1)
    A_prev = np.random.randn(5, 5, 3, 2)
    hparameters = {"stride": 1, "f": 2}
    dA = np.random.randn(5, 4, 2, 2)
    expected = {
        "max": [[0.0, 0.0], [5.05844394, -1.68282702], [0.0, 0.0]],
        "average": [[0.08485462, 0.2787552], [1.26461098, -0.25749373], [1.17975636, -0.53624893]],
    }
    for mode, rows in expected.items():
        dA_prev = reference.pool_backward(dA, (A_prev, hparameters), mode=mode)
        assert dA_prev.shape == (5, 5, 3, 2)
        np.testing.assert_allclose(dA_prev[1, 1], rows, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# Independent computations on many shapes
# ---------------------------------------------------------------------------------------------

# m, n_H_prev, n_W_prev, n_C_prev, f, n_C, pad, stride, dtype: every f, pad and stride in 1..3 × 0..2 × 1..3,
# with batch sizes 1..3, non-square inputs and every third case in float32.
CONV_SHAPES = [
    (1 + k % 3, 4 + k % 4, 5 + (k * 2) % 5, 1 + k % 3, f, 1 + (k + 1) % 3, pad, stride, np.float32 if k % 3 == 2 else np.float64)
    for k, (f, pad, stride) in enumerate((f, p, s) for f in (1, 2, 3) for p in (0, 1, 2) for s in (1, 2, 3))
]


def _conv_id(shape: tuple) -> str:
    m, h, w, c, f, n_C, pad, stride, dtype = shape
    return f"m{m}-{h}x{w}x{c}-f{f}-nC{n_C}-pad{pad}-stride{stride}-{np.dtype(dtype).name}"


@pytest.mark.parametrize("shape", CONV_SHAPES, ids=map(_conv_id, CONV_SHAPES))
def test_conv_forward_matches_scipy_correlate(reference: SimpleNamespace, shape: tuple) -> None:
    m, n_H_prev, n_W_prev, n_C_prev, f, n_C, pad, stride, dtype = shape
    rng = np.random.default_rng([11, *shape[:8]])
    A_prev = rng.standard_normal((m, n_H_prev, n_W_prev, n_C_prev)).astype(dtype)
    W = rng.standard_normal((f, f, n_C_prev, n_C)).astype(dtype)
    b = rng.standard_normal((1, 1, 1, n_C)).astype(dtype)
    Z, cache = reference.conv_forward(A_prev, W, b, {"pad": pad, "stride": stride})
    n_H = (n_H_prev + 2 * pad - f) // stride + 1
    n_W = (n_W_prev + 2 * pad - f) // stride + 1
    assert Z.shape == (m, n_H, n_W, n_C)
    _assert_close(Z, scipy_conv(A_prev, W, b, pad, stride), rtol=1e-10 if dtype is np.float64 else 1e-5)
    assert cache[0] is A_prev and cache[1] is W and cache[2] is b and cache[3] == {"pad": pad, "stride": stride}


# m, n_H_prev, n_W_prev, n_C, f, stride: overlapping (stride < f), exact and gapped windows, non-square.
POOL_SHAPES = [
    (1, 4, 4, 1, 2, 2),
    (2, 5, 7, 3, 3, 1),
    (3, 6, 5, 2, 2, 1),
    (2, 7, 6, 2, 3, 2),
    (1, 8, 5, 3, 2, 3),
    (2, 3, 4, 2, 1, 1),
    (1, 6, 9, 2, 3, 3),
    (3, 5, 5, 1, 4, 1),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("shape", POOL_SHAPES, ids=lambda s: "m{}-{}x{}x{}-f{}-stride{}".format(*s))
def test_pool_forward_matches_sliding_windows(reference: SimpleNamespace, shape: tuple, mode: str, dtype: Any) -> None:
    m, n_H_prev, n_W_prev, n_C, f, stride = shape
    rng = np.random.default_rng([12, *shape])
    A_prev = rng.standard_normal((m, n_H_prev, n_W_prev, n_C)).astype(dtype) - 3.0  # all negative: a max started at 0 shows
    A, cache = reference.pool_forward(A_prev, {"f": f, "stride": stride}, mode=mode)
    assert A.shape == (m, (n_H_prev - f) // stride + 1, (n_W_prev - f) // stride + 1, n_C)
    _assert_close(A, window_pool(A_prev, f, stride, mode), rtol=1e-12 if dtype is np.float64 else 1e-6)
    assert cache[0] is A_prev and cache[1] == {"f": f, "stride": stride}


def test_pool_forward_defaults_to_max(reference: SimpleNamespace) -> None:
    A_prev = np.random.default_rng(13).standard_normal((2, 4, 4, 3))
    hparameters = {"f": 2, "stride": 2}
    np.testing.assert_array_equal(reference.pool_forward(A_prev, hparameters)[0], window_pool(A_prev, 2, 2, "max"))


# m, n_H_prev, n_W_prev, n_C_prev, f, n_C, pad, stride: pad 0 (where `[pad:-pad]` is empty), strides that
# skip rows (n_H_prev = 6, f = 2, stride = 3), overlapping windows, f = 1, non-square.
BACKWARD_SHAPES = [
    (1, 4, 4, 1, 2, 1, 0, 1),
    (2, 5, 6, 2, 3, 2, 0, 2),
    (2, 6, 5, 2, 2, 3, 0, 3),
    (1, 5, 7, 3, 3, 2, 1, 2),
    (2, 4, 5, 2, 2, 2, 2, 3),
    (3, 5, 4, 2, 1, 2, 1, 1),
    (1, 6, 6, 2, 4, 2, 1, 1),
]


@pytest.mark.parametrize("shape", BACKWARD_SHAPES, ids=lambda s: "m{}-{}x{}x{}-f{}-nC{}-pad{}-stride{}".format(*s))
def test_conv_backward_matches_finite_differences(reference: SimpleNamespace, shape: tuple) -> None:
    m, n_H_prev, n_W_prev, n_C_prev, f, n_C, pad, stride = shape
    rng = np.random.default_rng([14, *shape])
    A_prev = rng.standard_normal((m, n_H_prev, n_W_prev, n_C_prev))
    W = rng.standard_normal((f, f, n_C_prev, n_C))
    b = rng.standard_normal((1, 1, 1, n_C))
    hparameters = {"pad": pad, "stride": stride}
    Z, cache = reference.conv_forward(A_prev, W, b, hparameters)
    G = rng.standard_normal(Z.shape)
    dA_prev, dW, db = reference.conv_backward(G, cache)
    assert (dA_prev.shape, dW.shape, db.shape) == (A_prev.shape, W.shape, b.shape)

    loss = lambda: float(np.sum(reference.conv_forward(A_prev, W, b, hparameters)[0] * G))
    for array, grad in ((A_prev, dA_prev), (W, dW), (b, db)):
        picks = sample_entries(rng, array.shape, 4)
        np.testing.assert_allclose([grad[p] for p in picks], finite_differences(loss, array, picks, 1e-4), rtol=1e-6, atol=1e-7)
        direction = rng.standard_normal(array.shape)
        assert np.sum(grad * direction) == pytest.approx(directional_difference(loss, array, direction, 1e-4), rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("shape", POOL_SHAPES, ids=lambda s: "m{}-{}x{}x{}-f{}-stride{}".format(*s))
def test_pool_backward_matches_finite_differences(reference: SimpleNamespace, shape: tuple, mode: str) -> None:
    m, n_H_prev, n_W_prev, n_C, f, stride = shape
    rng = np.random.default_rng([15, *shape])
    A_prev = rng.standard_normal((m, n_H_prev, n_W_prev, n_C))
    hparameters = {"f": f, "stride": stride}
    A, cache = reference.pool_forward(A_prev, hparameters, mode=mode)
    G = rng.standard_normal(A.shape)
    dA_prev = reference.pool_backward(G, cache, mode=mode)
    assert dA_prev.shape == A_prev.shape

    loss = lambda: float(np.sum(reference.pool_forward(A_prev, hparameters, mode=mode)[0] * G))
    picks = sample_entries(rng, A_prev.shape, 6)
    np.testing.assert_allclose([dA_prev[p] for p in picks], finite_differences(loss, A_prev, picks, 1e-6), rtol=1e-5, atol=1e-7)
    direction = rng.standard_normal(A_prev.shape)
    assert np.sum(dA_prev * direction) == pytest.approx(directional_difference(loss, A_prev, direction, 1e-7), rel=1e-5, abs=1e-7)
    # Every entry of the output passes its gradient on, once: the total is conserved.
    assert dA_prev.sum() == pytest.approx(G.sum(), rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("pad", [0, 1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_zero_pad_matches_np_pad(reference: SimpleNamespace, pad: int, dtype: Any) -> None:
    X = (np.random.default_rng([16, pad]).standard_normal((3, 4, 2, 5)) * 10).astype(dtype)
    X_pad = reference.zero_pad(X, pad)
    assert X_pad.shape == (3, 4 + 2 * pad, 2 + 2 * pad, 5)
    assert X_pad.dtype == X.dtype
    np.testing.assert_array_equal(X_pad, np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0))))
    assert X_pad is not X


@pytest.mark.parametrize("seed", range(5))
def test_create_mask_from_window_marks_the_maximum(reference: SimpleNamespace, seed: int) -> None:
    rng = np.random.default_rng([17, seed])
    x = rng.standard_normal((1 + seed % 3, 2 + seed % 2)) - 5.0 * (seed % 2)  # odd seeds: all negative
    mask = reference.create_mask_from_window(x)
    assert mask.shape == x.shape and mask.dtype == bool
    assert mask.sum() == 1
    assert mask[np.unravel_index(np.argmax(x), x.shape)]


def test_create_mask_from_window_on_ties_and_integers(reference: SimpleNamespace) -> None:
    x = np.array([[1, 4, 0], [4, -2, 3]])
    np.testing.assert_array_equal(reference.create_mask_from_window(x), [[False, True, False], [True, False, False]])
    np.testing.assert_array_equal(reference.create_mask_from_window(np.array([[-7.5]])), [[True]])


@pytest.mark.parametrize(("dz", "shape"), [(2, (2, 2)), (-6.0, (2, 3)), (0.3, (3, 1)), (np.float32(1.5), (1, 1)), (0, (4, 4))])
def test_distribute_value_spreads_evenly(reference: SimpleNamespace, dz: Any, shape: tuple[int, int]) -> None:
    a = reference.distribute_value(dz, shape)
    assert a.shape == shape and a.dtype.kind == "f"
    np.testing.assert_allclose(a, np.full(shape, float(dz) / (shape[0] * shape[1])), rtol=1e-12)
    assert a.sum() == pytest.approx(float(dz), rel=1e-12, abs=1e-15)


# ---------------------------------------------------------------------------------------------
# The reference leaves its inputs alone
# ---------------------------------------------------------------------------------------------


def _reference_calls(reference: SimpleNamespace) -> list[tuple[str, tuple, dict]]:
    rng = np.random.default_rng(18)
    A_prev = rng.standard_normal((2, 5, 4, 3))
    W = rng.standard_normal((3, 3, 3, 2))
    b = rng.standard_normal((1, 1, 1, 2))
    conv_hp = {"pad": 1, "stride": 1}
    Z = reference.conv_forward(A_prev.copy(), W.copy(), b.copy(), dict(conv_hp))[0]
    pool_hp = {"f": 2, "stride": 1}
    dA = rng.standard_normal((2, 4, 3, 3))
    return [
        ("zero_pad", (A_prev, 2), {}),
        ("zero_pad", (A_prev, 0), {}),
        ("conv_single_step", (A_prev[0, :3, :3], W[..., 0], b[..., 0]), {}),
        ("conv_forward", (A_prev, W, b, conv_hp), {}),
        ("conv_backward", (rng.standard_normal(Z.shape), (A_prev, W, b, conv_hp)), {}),
        ("conv_backward", (rng.standard_normal((2, 3, 2, 2)), (A_prev, W, b, {"pad": 0, "stride": 1})), {}),
        ("pool_forward", (A_prev, pool_hp), {"mode": "max"}),
        ("pool_forward", (A_prev, pool_hp), {"mode": "average"}),
        ("pool_backward", (dA, (A_prev, pool_hp)), {"mode": "max"}),
        ("pool_backward", (dA, (A_prev, pool_hp)), {"mode": "average"}),
        ("create_mask_from_window", (A_prev[0, :3, :3, 0],), {}),
        ("create_mask_from_window", (np.array([[3, 1], [2, 3]]),), {}),
        ("distribute_value", (4.0, (2, 2)), {}),
    ]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b)


def test_reference_does_not_modify_its_inputs(reference: SimpleNamespace) -> None:
    calls = _reference_calls(reference)
    assert {name for name, _, _ in calls} == {
        "zero_pad", "conv_single_step", "conv_forward", "pool_forward",
        "conv_backward", "create_mask_from_window", "distribute_value", "pool_backward",
    }
    for name, args, kwargs in calls:
        before = copy.deepcopy(args)
        getattr(reference, name)(*args, **kwargs)
        assert _same(before, args), f"{name} modified its arguments"


def test_reference_outputs_are_fresh_arrays(reference: SimpleNamespace) -> None:
    """Writing into a result must not write into an input (e.g. zero_pad(X, 0) returning X itself)."""
    X = np.random.default_rng(19).standard_normal((2, 3, 3, 2))
    saved = X.copy()
    reference.zero_pad(X, 0)[...] = 99.0
    dZ = np.ones((2, 3, 3, 1))
    dA_prev = reference.conv_backward(dZ, (X, np.ones((1, 1, 2, 1)), np.zeros((1, 1, 1, 1)), {"pad": 0, "stride": 1}))[0]
    dA_prev[...] = 99.0
    np.testing.assert_array_equal(X, saved)
    np.testing.assert_array_equal(dZ, np.ones((2, 3, 3, 1)))


# ---------------------------------------------------------------------------------------------
# A property over random small valid dimensions
# ---------------------------------------------------------------------------------------------


@st.composite
def conv_problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    m = draw(st.integers(1, 2))
    n_H_prev, n_W_prev = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    n_C_prev, n_C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pad = draw(st.integers(0, 2))
    f = draw(st.integers(1, min(n_H_prev, n_W_prev) + 2 * pad))
    stride = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    A_prev = rng.standard_normal((m, n_H_prev, n_W_prev, n_C_prev))
    W = rng.standard_normal((f, f, n_C_prev, n_C))
    b = rng.standard_normal((1, 1, 1, n_C))
    return A_prev, W, b, pad, stride


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(problem=conv_problems())
def test_conv_forward_shape_formula_and_padding_equivalence(reference: SimpleNamespace, problem: tuple) -> None:
    A_prev, W, b, pad, stride = problem
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f, n_C = W.shape[0], W.shape[3]
    Z = reference.conv_forward(A_prev, W, b, {"pad": pad, "stride": stride})[0]
    assert Z.shape == (m, (n_H_prev + 2 * pad - f) // stride + 1, (n_W_prev + 2 * pad - f) // stride + 1, n_C)
    Z_padded_first = reference.conv_forward(reference.zero_pad(A_prev, pad), W, b, {"pad": 0, "stride": stride})[0]
    np.testing.assert_allclose(Z, Z_padded_first, rtol=0, atol=1e-12)
