"""Hidden checks for "Convolutional Neural Networks: Step by Step". Never shipped to students.

``cases(ref, seed)`` returns the checks; ``ref`` holds the reference functions, which run here
in the grader's own process. The grader derives ``seed`` from the course key and the submission's
code: the same notebook always meets the same inputs, a changed one new inputs, so answers recorded
from one submission are worthless in the next. Only the random values come from the seed: the
settings lists (shapes, pad = 0, a stride that does not divide, f = 1, float32, ...) are fixed, so
every seed tests every edge case and the checks' names and parameters never change. Messages given
to CheckFailed here never carry expected values.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

from grader.checks import (Case, CheckFailed, call_unchanged, expect_array, expect_like, expect_scalar, expect_shape,
                           expect_tuple, snapshot)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, *key])


def _fresh(value: Any) -> Any:
    """A copy of cached inputs for one call: what a wrong submission does to them must not outlive it."""
    return snapshot(value)


def _hidden(name: str, got: Any, expected: Any) -> None:
    expect_array(name, got, expected, show_values=False)


def _describe(**params: Any) -> str:
    return ", ".join(f"{key} = {value}" for key, value in params.items())


def _case(function: str, index: int, params: str, run: Callable[[Callable[..., Any]], None],
          prepare: Callable[[], Any] | None = None) -> Case:
    return Case(function=function, name=f"{function} hidden #{index}", params=params, run=run, prepare=prepare)


def zero_pad_cases(ref: Any, seed: int) -> list[Case]:
    shapes = [((1, 3, 3, 1), 1), ((2, 4, 6, 3), 2), ((3, 5, 2, 4), 0), ((2, 1, 7, 2), 3), ((4, 3, 3, 2), 1, "float32")]
    cases = []
    for index, (shape, pad, *dtype) in enumerate(shapes, 1):
        def run(target: Callable[..., Any], shape: tuple = shape, pad: int = pad, dtype: list = dtype, index: int = index) -> None:
            X = _rng(seed, 1, index).standard_normal(shape).astype(dtype[0] if dtype else np.float64)
            _hidden("X_pad", call_unchanged(target, "zero_pad", X, pad), ref.zero_pad(X, pad))

        cases.append(_case("zero_pad", index, _describe(shape=shape, pad=pad) + (", float32 input" if dtype else ""), run))
    return cases


def conv_single_step_cases(ref: Any, seed: int) -> list[Case]:
    settings = [(1, 1), (2, 3), (3, 1), (5, 4), (3, 2, "float32")]
    cases = []
    for index, (f, n_C, *dtype) in enumerate(settings, 1):
        def run(target: Callable[..., Any], f: int = f, n_C: int = n_C, dtype: list = dtype, index: int = index) -> None:
            rng = _rng(seed, 2, index)
            kind = dtype[0] if dtype else np.float64
            a = rng.standard_normal((f, f, n_C)).astype(kind)
            W = rng.standard_normal((f, f, n_C)).astype(kind)
            b = rng.standard_normal((1, 1, 1)).astype(kind)
            expect_scalar("Z", call_unchanged(target, "conv_single_step", a, W, b), ref.conv_single_step(a, W, b), show_values=False)

        cases.append(_case("conv_single_step", index, _describe(f=f, n_C_prev=n_C) + (", float32 inputs" if dtype else ""), run))
    return cases


CONV_SETTINGS = [
    # m, n_H_prev, n_W_prev, n_C_prev, f, n_C, pad, stride
    (1, 4, 4, 1, 2, 1, 0, 1),
    (2, 5, 7, 3, 3, 4, 1, 2),
    (3, 6, 5, 2, 1, 3, 0, 1),
    (2, 7, 7, 2, 3, 2, 0, 2),
    (1, 5, 8, 2, 2, 3, 2, 3),
    (2, 6, 4, 3, 4, 2, 1, 1),
]


def _conv_inputs(seed: int, index: int, setting: tuple, dtype: Any = np.float64) -> tuple:
    m, n_H, n_W, n_C_prev, f, n_C, pad, stride = setting
    rng = _rng(seed, 3, index)
    A_prev = rng.standard_normal((m, n_H, n_W, n_C_prev)).astype(dtype)
    W = rng.standard_normal((f, f, n_C_prev, n_C)).astype(dtype)
    b = rng.standard_normal((1, 1, 1, n_C)).astype(dtype)
    return A_prev, W, b, {"pad": pad, "stride": stride}


def _conv_out(setting: tuple) -> tuple:
    """The shape of Z for a setting, by the formula rather than by running the reference (cheaper)."""
    m, n_H, n_W, _, f, n_C, pad, stride = setting
    return m, (n_H + 2 * pad - f) // stride + 1, (n_W + 2 * pad - f) // stride + 1, n_C


def _conv_params(setting: tuple) -> str:
    m, n_H, n_W, n_C_prev, f, n_C, pad, stride = setting
    return _describe(m=m, n_H_prev=n_H, n_W_prev=n_W, n_C_prev=n_C_prev, f=f, n_C=n_C, pad=pad, stride=stride)


def conv_forward_cases(ref: Any, seed: int) -> list[Case]:
    cases = []
    variants = [(s, np.float64) for s in CONV_SETTINGS] + [(CONV_SETTINGS[1], np.float32)]
    for index, (setting, dtype) in enumerate(variants, 1):
        @cache
        def expected(setting: tuple = setting, dtype: Any = dtype, index: int = index) -> tuple:
            inputs = _conv_inputs(seed, index, setting, dtype)
            return inputs, _conv_forward(*inputs)

        def run(target: Callable[..., Any], expected: Callable[[], tuple] = expected) -> None:
            inputs, Z_expected = expected()
            Z, cache_ = expect_tuple("conv_forward", call_unchanged(target, "conv_forward", *_fresh(inputs)), 2)
            _hidden("Z", Z, Z_expected)
            cache_ = expect_tuple("the cache", cache_, 4)
            for name, got, want in zip(("A_prev", "W", "b"), cache_, inputs):
                _hidden(f"cache entry {name}", got, want)
            expect_like("cache[3]", cache_[3], inputs[3], show_values=False)

        params = _conv_params(setting) + (", float32 inputs" if dtype is np.float32 else "")
        cases.append(_case("conv_forward", index, params, run, expected))
    return cases


POOL_SETTINGS = [
    # m, n_H_prev, n_W_prev, n_C, f, stride
    (1, 4, 4, 1, 2, 2),
    (2, 5, 7, 3, 3, 1),
    (3, 6, 5, 2, 2, 3),
    (2, 7, 7, 2, 3, 2),
    (1, 3, 3, 2, 1, 1),
]


def _pool_inputs(seed: int, index: int, setting: tuple, dtype: Any = np.float64) -> tuple:
    m, n_H, n_W, n_C, f, stride = setting
    A_prev = _rng(seed, 4, index).standard_normal((m, n_H, n_W, n_C)).astype(dtype)
    return A_prev, {"f": f, "stride": stride}


def _pool_out(setting: tuple) -> tuple:
    """The shape of pool_forward's A for a setting, as ``_conv_out``."""
    m, n_H, n_W, n_C, f, stride = setting
    return m, (n_H - f) // stride + 1, (n_W - f) // stride + 1, n_C


def _pool_params(setting: tuple, mode: str) -> str:
    m, n_H, n_W, n_C, f, stride = setting
    return _describe(m=m, n_H_prev=n_H, n_W_prev=n_W, n_C=n_C, f=f, stride=stride, mode=repr(mode))


def pool_forward_cases(ref: Any, seed: int) -> list[Case]:
    cases = []
    variants = [(s, mode, np.float64) for s in POOL_SETTINGS for mode in ("max", "average")]
    variants += [(POOL_SETTINGS[1], "max", np.float32), (tuple(POOL_SETTINGS[3]), "average", np.float32)]
    for index, (setting, mode, dtype) in enumerate(variants, 1):
        @cache
        def expected(setting: tuple = setting, mode: str = mode, dtype: Any = dtype, index: int = index) -> tuple:
            A_prev, hparameters = _pool_inputs(seed, index, setting, dtype)
            if mode == "max":
                A_prev = -np.abs(A_prev) - 0.5  # all negative, whatever the seed: a maximum started at zero shows
            return A_prev, hparameters, _pool_forward(A_prev, hparameters, mode)

        def run(target: Callable[..., Any], expected: Callable[[], tuple] = expected, mode: str = mode) -> None:
            A_prev, hparameters, A_expected = expected()
            A_prev, hparameters = _fresh((A_prev, hparameters))
            A, cache_ = expect_tuple("pool_forward", call_unchanged(target, "pool_forward", A_prev, hparameters, mode=mode), 2)
            _hidden("A", A, A_expected)
            cache_ = expect_tuple("the cache", cache_, 2)
            _hidden("cache entry A_prev", cache_[0], A_prev)

        params = _pool_params(setting, mode) + (", float32 input" if dtype is np.float32 else "")
        cases.append(_case("pool_forward", index, params, run, expected))
    return cases


def _windows(A: np.ndarray, f: int, stride: int) -> np.ndarray:
    """Every f x f window of A (m, n_H, n_W, n_C) at the given stride, as (m, out_H, out_W, n_C, f, f), without a copy."""
    return np.lib.stride_tricks.sliding_window_view(A, (f, f), axis=(1, 2))[:, ::stride, ::stride]


# The expected values of the forward and backward passes, written independently of the reference and vectorised:
# every notebook meets inputs of its own, so the grader works them out for each submission, ~0.5 ms here against
# ~10 ms for the reference's loops. Computed in float64, as the reference stores its results. A test holds them to
# the reference on every setting, and the grader refuses to grade if the reference fails any hidden check.

def _padded(A: np.ndarray, pad: int) -> np.ndarray:
    return np.pad(A.astype(np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def _conv_forward(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, hparameters: dict) -> np.ndarray:
    windows = _windows(_padded(A_prev, hparameters["pad"]), W.shape[0], hparameters["stride"])
    return np.einsum("mhwcij,ijcn->mhwn", windows, W.astype(np.float64)) + b.astype(np.float64)


def _pool_forward(A_prev: np.ndarray, hparameters: dict, mode: str) -> np.ndarray:
    windows = _windows(A_prev.astype(np.float64), hparameters["f"], hparameters["stride"])
    return windows.max(axis=(4, 5)) if mode == "max" else windows.mean(axis=(4, 5))


def _spread(shares: np.ndarray, shape: tuple, stride: int) -> np.ndarray:
    """An array of ``shape`` (m, n_H, n_W, n_C) to which every window adds its share (m, out_H, out_W, n_C, f, f)."""
    out = np.zeros(shape)
    _, out_H, out_W, _, f, _ = shares.shape
    for i in range(f):
        for j in range(f):
            out[:, i:i + stride * out_H:stride, j:j + stride * out_W:stride, :] += shares[..., i, j]
    return out


def _conv_backward(dZ: np.ndarray, cache: tuple) -> tuple:
    A_prev, W, _, hparameters = cache
    pad, stride = hparameters["pad"], hparameters["stride"]
    padded = _padded(A_prev, pad)
    f, n_H, n_W = W.shape[0], A_prev.shape[1], A_prev.shape[2]
    dW = np.einsum("mhwcij,mhwn->ijcn", _windows(padded, f, stride), dZ)
    db = dZ.sum(axis=(0, 1, 2)).reshape(1, 1, 1, -1)
    dA_pad = _spread(np.einsum("mhwn,ijcn->mhwcij", dZ, W.astype(np.float64)), padded.shape, stride)
    return dA_pad[:, pad:pad + n_H, pad:pad + n_W, :], dW, db


def _pool_backward(dA: np.ndarray, cache: tuple, mode: str) -> np.ndarray:
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    windows = _windows(A_prev.astype(np.float64), f, stride)
    if mode == "max":
        shares = (windows == windows.max(axis=(4, 5), keepdims=True)) * dA[..., None, None]
    else:
        shares = np.broadcast_to(dA[..., None, None] / (f * f), windows.shape)
    return _spread(shares, A_prev.shape, stride)


def _conv_loss(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, hparameters: dict, G: np.ndarray) -> float:
    """sum(Z * G) for Z the convolution of A_prev (the finite differences below evaluate it 18 times a submission)."""
    return float(np.sum(_conv_forward(A_prev, W, b, hparameters) * G))


def _pool_loss(A_prev: np.ndarray, hparameters: dict, mode: str, G: np.ndarray) -> float:
    """sum(A * G) for A the pooling of A_prev, as ``_conv_loss``."""
    return float(np.sum(_pool_forward(A_prev, hparameters, mode) * G))


def _numerical_gradient(loss: Callable[[], float], array: np.ndarray, picks: list[tuple], eps: float = 1e-6) -> np.ndarray:
    """Forward differences of ``loss`` at a few entries of ``array`` (changed in place, then restored): exact but for
    rounding here, the losses being linear in each array (convolution) or piecewise linear with no ties among random
    inputs (pooling), in half the evaluations of central differences (worked out for every submission)."""
    base = loss()
    grads = []
    for where in picks:
        saved = array[where]
        array[where] = saved + eps
        grads.append((loss() - base) / eps)
        array[where] = saved
    return np.array(grads)


def _picks(rng: np.random.Generator, shape: tuple, count: int = 5) -> list[tuple]:
    return [tuple(int(rng.integers(n)) for n in shape) for _ in range(count)]


def conv_backward_cases(ref: Any, seed: int) -> list[Case]:
    cases = []
    for index, setting in enumerate(CONV_SETTINGS, 1):
        @cache
        def expected(setting: tuple = setting, index: int = index) -> tuple:
            inputs = _conv_inputs(seed, index, setting)
            dZ = _rng(seed, 5, index).standard_normal(_conv_out(setting))
            return inputs, dZ, _conv_backward(dZ, inputs)

        def run(target: Callable[..., Any], expected: Callable[[], tuple] = expected) -> None:
            inputs, dZ, wanted = expected()
            got = expect_tuple("conv_backward", call_unchanged(target, "conv_backward", dZ.copy(), _fresh(inputs)), 3)
            for name, g, w in zip(("dA_prev", "dW", "db"), got, wanted):
                _hidden(name, g, w)

        cases.append(_case("conv_backward", index, _conv_params(setting), run, expected))

    setting = CONV_SETTINGS[1]

    @cache
    def numeric_gradients() -> tuple:
        """Finite differences of sum(conv_forward(...) * G) at a few entries of A_prev, W and b."""
        inputs = _conv_inputs(seed, 99, setting)
        A_prev, W, b, hparameters = inputs
        G = _rng(seed, 6).standard_normal(_conv_out(setting))
        rng = _rng(seed, 7)
        loss = lambda: _conv_loss(A_prev, W, b, hparameters, G)
        estimates = []
        for array in (A_prev, W, b):
            picks = _picks(rng, array.shape)
            estimates.append((picks, _numerical_gradient(loss, array, picks)))
        return inputs, G, estimates

    def gradient_check(target: Callable[..., Any]) -> None:
        inputs, G, estimates = numeric_gradients()
        got = expect_tuple("conv_backward", call_unchanged(target, "conv_backward", G.copy(), _fresh(inputs)), 3)
        for name, array, grad, (picks, numeric) in zip(("dA_prev", "dW", "db"), inputs, got, estimates):
            expect_shape(name, grad, array.shape)
            if not np.allclose([grad[p] for p in picks], numeric, rtol=1e-4, atol=1e-5):
                raise CheckFailed("values", f"{name} does not match a finite-difference estimate of the gradient: "
                                  "check that each window adds (+=) its share to every position it covers, "
                                  "with the same pad and stride as conv_forward.")

    cases.append(_case("conv_backward", len(cases) + 1, "finite-difference gradient check, " + _conv_params(setting), gradient_check,
                       numeric_gradients))
    return cases


def create_mask_from_window_cases(ref: Any, seed: int) -> list[Case]:
    windows = [
        ("random", _rng(seed, 8, 1).standard_normal((3, 3))),
        ("random", _rng(seed, 8, 2).standard_normal((2, 4))),
        ("negative", -np.abs(_rng(seed, 8, 3).standard_normal((4, 4))) - 1.0),
        ("random", _rng(seed, 8, 5).standard_normal((1, 1))),
        ("integer", _rng(seed, 8, 4).permutation(12).reshape(3, 4)),
    ]
    cases = []
    for index, (kind, x) in enumerate(windows, 1):
        def run(target: Callable[..., Any], x: np.ndarray = x) -> None:
            _hidden("mask", call_unchanged(target, "create_mask_from_window", x.copy()), ref.create_mask_from_window(x))

        cases.append(_case("create_mask_from_window", index, _describe(shape=x.shape, values=kind), run))
    return cases


def distribute_value_cases(ref: Any, seed: int) -> list[Case]:
    # (kind of dz, its sign, window shape); the sizes of dz come from the seed
    settings = [("float", 1, (1, 1)), ("float", -1, (2, 3)), ("int", 1, (4, 4)), ("float", 1, (3, 1)),
                ("numpy float64", 1, (2, 2))]
    cases = []
    for index, (kind, sign, shape) in enumerate(settings, 1):
        size = _rng(seed, 12, index).uniform(0.1, 10.0)
        dz = {"float": float, "int": lambda v: int(v) + 1, "numpy float64": np.float64}[kind](sign * size)

        def run(target: Callable[..., Any], dz: Any = dz, shape: tuple = shape) -> None:
            _hidden("a", call_unchanged(target, "distribute_value", dz, shape), ref.distribute_value(dz, shape))

        described = f"{'negative' if sign < 0 else 'positive'} {kind}"
        cases.append(_case("distribute_value", index, _describe(dz=described, shape=shape), run))
    return cases


def pool_backward_cases(ref: Any, seed: int) -> list[Case]:
    cases = []
    for setting in POOL_SETTINGS:
        for mode in ("max", "average"):
            index = len(cases) + 1

            @cache
            def expected(setting: tuple = setting, mode: str = mode, index: int = index) -> tuple:
                A_prev, hparameters = _pool_inputs(seed, index, setting)
                dA = _rng(seed, 9, index).standard_normal(_pool_out(setting))
                return dA, (A_prev, hparameters), _pool_backward(dA, (A_prev, hparameters), mode)

            def run(target: Callable[..., Any], expected: Callable[[], tuple] = expected, mode: str = mode) -> None:
                dA, cache_, dA_prev = expected()
                got = call_unchanged(target, "pool_backward", dA.copy(), _fresh(cache_), mode=mode)
                _hidden("dA_prev", got, dA_prev)

            cases.append(_case("pool_backward", index, _pool_params(setting, mode), run, expected))

    for mode in ("max", "average"):
        setting = POOL_SETTINGS[1]

        @cache
        def numeric_gradient(mode: str = mode, setting: tuple = setting) -> tuple:
            A_prev, hparameters = _pool_inputs(seed, 98, setting)
            G = _rng(seed, 10).standard_normal(_pool_out(setting))
            picks = _picks(_rng(seed, 11), A_prev.shape, 8)
            loss = lambda: _pool_loss(A_prev, hparameters, mode, G)
            return A_prev, hparameters, G, picks, _numerical_gradient(loss, A_prev, picks)

        def gradient_check(target: Callable[..., Any], mode: str = mode, numeric_gradient: Callable[[], tuple] = numeric_gradient) -> None:
            A_prev, hparameters, G, picks, numeric = numeric_gradient()
            got = call_unchanged(target, "pool_backward", G.copy(), _fresh((A_prev, hparameters)), mode=mode)
            expect_shape("dA_prev", got, A_prev.shape)
            if not np.allclose([got[p] for p in picks], numeric, rtol=1e-4, atol=1e-5):
                raise CheckFailed("values", "dA_prev does not match a finite-difference estimate of the gradient: "
                                  "check that each window adds (+=) its share to the positions it covers "
                                  f"({'the maximum only' if mode == 'max' else 'spread evenly'}), with the same stride "
                                  "as pool_forward.")

        params = "finite-difference gradient check, " + _pool_params(setting, mode)
        cases.append(_case("pool_backward", len(cases) + 1, params, gradient_check, numeric_gradient))
    return cases


def cases(ref: Any, seed: int) -> list[Case]:
    return [
        *zero_pad_cases(ref, seed),
        *conv_single_step_cases(ref, seed),
        *conv_forward_cases(ref, seed),
        *pool_forward_cases(ref, seed),
        *conv_backward_cases(ref, seed),
        *create_mask_from_window_cases(ref, seed),
        *distribute_value_cases(ref, seed),
        *pool_backward_cases(ref, seed),
    ]


def _sweep_case(function: str, index: int, call: Callable[[], tuple], reference: Callable[..., Any]) -> Case:
    """Compare with the reference on inputs from ``call()``; any structure, arrays compared within tolerance."""

    def run(target: Callable[..., Any]) -> None:
        args, kwargs = call()
        got, want = target(*_fresh(args), **kwargs), reference(*_fresh(args), **kwargs)
        for name, g, w in zip(("value", "second value", "third value"), *(
                (x if isinstance(x, tuple) else (x,)) for x in (got, want))):
            if isinstance(w, np.ndarray):
                _hidden(name, g, w)
            elif isinstance(w, tuple):
                continue  # a cache: checked by the hidden cases
            else:
                expect_scalar(name, g, float(w), show_values=False)

    return Case(function=function, name=f"{function} sweep #{index}", params="", run=run)


def sweep(ref: Any, seed: int, count: int = 40) -> list[Case]:
    """Many random valid inputs per function, for ``grader audit`` to tell a surviving mutant that
    computes the same thing (equivalent) from one the hidden cases miss."""
    rng = _rng(seed, 99)
    found: list[Case] = []

    def add(function: str, make: Callable[[np.random.Generator], tuple]) -> None:
        for index in range(count):
            state = int(rng.integers(2**31))
            found.append(_sweep_case(function, index, lambda s=state: make(np.random.default_rng(s)), getattr(ref, function)))

    def conv_inputs(r: np.random.Generator) -> tuple:
        f, stride, pad = int(r.integers(1, 5)), int(r.integers(1, 4)), int(r.integers(0, 3))
        m, n_C_prev, n_C = (int(v) for v in r.integers(1, 4, size=3))
        n_H, n_W = (int(v) for v in r.integers(max(1, f - 2 * pad), 9, size=2))
        dtype = r.choice([np.float64, np.float32])
        A = r.standard_normal((m, n_H, n_W, n_C_prev)).astype(dtype)
        W = r.standard_normal((f, f, n_C_prev, n_C)).astype(dtype)
        b = r.standard_normal((1, 1, 1, n_C)).astype(dtype)
        return A, W, b, {"pad": pad, "stride": stride}

    def pool_inputs(r: np.random.Generator) -> tuple:
        f, stride = int(r.integers(1, 4)), int(r.integers(1, 4))
        m, n_C = (int(v) for v in r.integers(1, 4, size=2))
        n_H, n_W = (int(v) for v in r.integers(f, 9, size=2))
        A = r.standard_normal((m, n_H, n_W, n_C)) - float(r.choice([0.0, 3.0]))
        return A, {"f": f, "stride": stride}, str(r.choice(["max", "average"]))

    def conv_backward_inputs(r: np.random.Generator) -> tuple:
        inputs = conv_inputs(r)
        Z = ref.conv_forward(*inputs)[0]
        return (r.standard_normal(Z.shape), inputs), {}

    def pool_backward_inputs(r: np.random.Generator) -> tuple:
        A, hparameters, mode = pool_inputs(r)
        A_out = ref.pool_forward(A, hparameters, mode=mode)[0]
        return (r.standard_normal(A_out.shape), (A, hparameters)), {"mode": mode}

    add("zero_pad", lambda r: ((r.standard_normal(tuple(int(v) for v in r.integers(1, 6, size=4))),
                                int(r.integers(0, 4))), {}))
    def single_step_inputs(r: np.random.Generator) -> tuple:
        shape = (f := int(r.integers(1, 5)), f, int(r.integers(1, 4)))
        return (r.standard_normal(shape), r.standard_normal(shape), r.standard_normal((1, 1, 1))), {}

    add("conv_single_step", single_step_inputs)
    add("conv_forward", lambda r: (conv_inputs(r), {}))
    def pool_forward_inputs(r: np.random.Generator) -> tuple:
        A, hparameters, mode = pool_inputs(r)
        return (A, hparameters), {"mode": mode}

    add("pool_forward", pool_forward_inputs)
    add("conv_backward", conv_backward_inputs)
    add("create_mask_from_window", lambda r: ((r.standard_normal(tuple(int(v) for v in r.integers(1, 5, size=2))),), {}))
    add("distribute_value", lambda r: ((float(r.standard_normal() * 10), tuple(int(v) for v in r.integers(1, 5, size=2))), {}))
    add("pool_backward", pool_backward_inputs)
    return found
