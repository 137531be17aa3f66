"""Hidden checks for "Optimization Methods". Never shipped to students.

``cases(ref, seed)`` returns the checks; ``ref`` holds the reference functions from the master notebook,
which run here in the grader's own process. The grader derives ``seed`` from the course key and the
submission's code, so answers recorded from one submission are worthless in the next. Only the random
values (arrays, learning rates, the shuffling seed) come from it; the settings below are fixed lists, so
every seed meets every edge case (one to four layers, float32 and mixed precision, a mini-batch size that
divides m and one that does not, one larger than m, a remainder of one, Adam at t = 1 and later, a large
epsilon, epochs on both sides of a decay interval) and the checks' names and parameters never change.
Every comparison passes ``show_values=False``: messages say what is wrong and where, never the expected value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from grader.checks import Case, call_unchanged, expect_like, snapshot

Target = Callable[..., Any]

#: layer sizes (inputs first): one to four layers, a single unit, wider and narrower layers
LAYERS = ([3, 1], [2, 3, 1], [5, 4, 3, 2], [4, 6, 5, 3, 1])


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, *key])


def _describe(**params: Any) -> str:
    return ", ".join(f"{key} = {value}" for key, value in params.items())


def _case(function: str, index: int, params: str, run: Callable[[Target], None]) -> Case:
    return Case(function=function, name=f"{function} hidden #{index}", params=params, run=run)


def _hidden(name: str, got: Any, expected: Any, names: tuple[str, ...] | None = None) -> None:
    expect_like(name, got, expected, names=names, show_values=False)


def _state(rng: np.random.Generator, layers: list[int], dtype: Any = np.float64, grads_dtype: Any = None,
           s_scale: float = 1.0) -> tuple[dict, dict, dict, dict]:
    """parameters, grads, a velocity v and a squared-gradient average s (non-negative), all non-zero."""
    grads_dtype = dtype if grads_dtype is None else grads_dtype
    parameters, grads, v, s = {}, {}, {}, {}
    for l in range(1, len(layers)):
        for name, shape in (("W", (layers[l], layers[l - 1])), ("b", (layers[l], 1))):
            parameters[name + str(l)] = rng.standard_normal(shape).astype(dtype)
            grads["d" + name + str(l)] = rng.standard_normal(shape).astype(grads_dtype)
            v["d" + name + str(l)] = (0.5 * rng.standard_normal(shape)).astype(dtype)
            s["d" + name + str(l)] = (s_scale * rng.random(shape)).astype(dtype)
    return parameters, grads, v, s


#: (layers, dtype of parameters and averages, dtype of the gradients): float64 for every layer count, then
#: float32 throughout, and float32 parameters with float64 gradients (where `W -= ...` and `W = W - ...` differ)
PRECISIONS = [(layers, np.float64, np.float64) for layers in LAYERS] + [
    (LAYERS[1], np.float32, np.float32), (LAYERS[2], np.float32, np.float64)]


def _precision(layers: list[int], dtype: Any, grads_dtype: Any) -> str:
    text = f"layers = {layers}"
    if dtype is np.float32:
        text += ", float32 inputs" if grads_dtype is np.float32 else ", float32 parameters with float64 gradients"
    return text


def gd_cases(ref: Any, seed: int) -> list[Case]:
    cases = []
    for index, (layers, dtype, grads_dtype) in enumerate(PRECISIONS, 1):
        def run(target: Target, layers: list[int] = layers, dtype: Any = dtype, grads_dtype: Any = grads_dtype,
                index: int = index) -> None:
            rng = _rng(seed, 1, index)
            parameters, grads, _, _ = _state(rng, layers, dtype, grads_dtype)
            learning_rate = float(rng.uniform(0.05, 0.9))
            expected = ref.update_parameters_with_gd(snapshot(parameters), snapshot(grads), learning_rate)
            got = call_unchanged(target, "update_parameters_with_gd", parameters, grads, learning_rate)
            _hidden("new_parameters", got, expected)

        cases.append(_case("update_parameters_with_gd", index, _precision(layers, dtype, grads_dtype), run))
    return cases


#: (n_x, m, mini_batch_size or None for the default 64, whether the seed is passed, dtype of X)
MINI_BATCH_SETTINGS = [
    (3, 148, 64, True, np.float64),    # a partial last batch
    (2, 128, 64, True, np.float64),    # the size divides m
    (4, 10, 64, True, np.float64),     # a size larger than m: one batch of everything
    (2, 65, None, True, np.float64),   # the default size, a last batch of one example
    (1, 7, 1, True, np.float64),       # one example per batch
    (5, 50, 16, True, np.float64),     # a partial last batch of two
    (3, 100, None, False, np.float64),  # both defaults (seed 0)
    (3, 30, 8, True, np.float32),      # float32 data
]


def mini_batch_cases(ref: Any, seed: int) -> list[Case]:
    cases = []
    for index, (n_x, m, size, seeded, dtype) in enumerate(MINI_BATCH_SETTINGS, 1):
        def run(target: Target, n_x: int = n_x, m: int = m, size: int | None = size, seeded: bool = seeded,
                dtype: Any = dtype, index: int = index) -> None:
            rng = _rng(seed, 2, index)
            X = rng.standard_normal((n_x, m)).astype(dtype)
            Y = rng.standard_normal((1, m)).astype(dtype)  # distinct values: a label that left its example shows
            args: tuple = (X, Y)
            if size is not None or seeded:
                args += (64 if size is None else size,)
            if seeded:
                args += (int(rng.integers(0, 10_000)),)
            expected = ref.random_mini_batches(*snapshot(args))
            got = call_unchanged(target, "random_mini_batches", *args)
            _hidden("mini_batches", got, expected)

        params = _describe(n_x=n_x, m=m, mini_batch_size=size if size is not None else "the default")
        params += "" if seeded else ", the default seed"
        params += ", float32 data" if dtype is np.float32 else ""
        cases.append(_case("random_mini_batches", index, params, run))
    return cases


def _initialize_cases(ref: Any, seed: int, function: str, names: tuple[str, ...] | None, key: int) -> list[Case]:
    cases = []
    settings = [(layers, np.float64) for layers in LAYERS] + [(LAYERS[2], np.float32)]
    for index, (layers, dtype) in enumerate(settings, 1):
        def run(target: Target, layers: list[int] = layers, dtype: Any = dtype, index: int = index) -> None:
            parameters, _, _, _ = _state(_rng(seed, key, index), layers, dtype)
            expected = getattr(ref, function)(snapshot(parameters))
            _hidden("v" if names is None else function, call_unchanged(target, function, parameters), expected, names)

        cases.append(_case(function, index, _precision(layers, dtype, dtype), run))
    return cases


#: beta for each precision setting: the usual 0.9, none (plain gradient descent), an even mix, a long memory
BETAS = [0.9, 0.0, 0.5, 0.99, 0.9, 0.8]


def momentum_cases(ref: Any, seed: int) -> list[Case]:
    cases = []
    for index, ((layers, dtype, grads_dtype), beta) in enumerate(zip(PRECISIONS, BETAS), 1):
        def run(target: Target, layers: list[int] = layers, dtype: Any = dtype, grads_dtype: Any = grads_dtype,
                beta: float = beta, index: int = index) -> None:
            rng = _rng(seed, 4, index)
            parameters, grads, v, _ = _state(rng, layers, dtype, grads_dtype)
            learning_rate = float(rng.uniform(0.05, 0.9))
            args = (parameters, grads, v, beta, learning_rate)
            expected = ref.update_parameters_with_momentum(*snapshot(args))
            got = call_unchanged(target, "update_parameters_with_momentum", *args)
            _hidden("update_parameters_with_momentum", got, expected, ("new_parameters", "new_v"))

        cases.append(_case("update_parameters_with_momentum", index,
                           _precision(layers, dtype, grads_dtype) + f", beta = {beta}", run))
    return cases


#: (layers, t, hyperparameters passed or None for the defaults, s scale, dtype, gradients' dtype)
ADAM_SETTINGS = [
    (LAYERS[0], 1, None, 1.0, np.float64, np.float64),
    (LAYERS[1], 2, None, 1.0, np.float64, np.float64),
    (LAYERS[2], 7, (0.05, 0.8, 0.9, 1e-8), 1.0, np.float64, np.float64),
    (LAYERS[3], 1, (0.02, 0.5, 0.99, 1e-8), 1.0, np.float64, np.float64),
    (LAYERS[1], 3, (0.01, 0.9, 0.999, 0.5), 0.01, np.float64, np.float64),  # a large epsilon, small averages
    (LAYERS[2], 1, (0.1, 0.7, 0.6, 0.2), 0.01, np.float64, np.float64),
    (LAYERS[0], 40, (0.03, 0.6, 0.8, 1e-8), 1.0, np.float64, np.float64),  # late: the correction has faded
    (LAYERS[1], 2, None, 1.0, np.float32, np.float32),
    (LAYERS[2], 4, (0.05, 0.8, 0.9, 1e-8), 1.0, np.float32, np.float64),
]
ADAM_NAMES = ("new_parameters", "new_v", "new_s", "v_corrected", "s_corrected")


def adam_cases(ref: Any, seed: int) -> list[Case]:
    cases = []
    for index, (layers, t, hyper, s_scale, dtype, grads_dtype) in enumerate(ADAM_SETTINGS, 1):
        def run(target: Target, layers: list[int] = layers, t: int = t, hyper: tuple | None = hyper,
                s_scale: float = s_scale, dtype: Any = dtype, grads_dtype: Any = grads_dtype, index: int = index) -> None:
            parameters, grads, v, s = _state(_rng(seed, 6, index), layers, dtype, grads_dtype, s_scale)
            args = (parameters, grads, v, s, t, *(hyper or ()))
            expected = ref.update_parameters_with_adam(*snapshot(args))
            got = call_unchanged(target, "update_parameters_with_adam", *args)
            _hidden("update_parameters_with_adam", got, expected, ADAM_NAMES)

        params = _precision(layers, dtype, grads_dtype) + f", t = {t}, "
        if hyper is None:
            params += "the default learning_rate, beta1, beta2 and epsilon"
        else:
            params += _describe(learning_rate=hyper[0], beta1=hyper[1], beta2=hyper[2], epsilon=hyper[3])
        cases.append(_case("update_parameters_with_adam", index, params, run))
    return cases


#: (epoch_num, decay_rate) for update_lr; learning_rate0 is drawn
LR_SETTINGS = [(0, 1.0), (1, 1.0), (3, 0.5), (10, 0.3), (250, 0.01), (7, 0.0)]


def update_lr_cases(ref: Any, seed: int) -> list[Case]:
    cases = []
    for index, (epoch_num, decay_rate) in enumerate(LR_SETTINGS, 1):
        def run(target: Target, epoch_num: int = epoch_num, decay_rate: float = decay_rate, index: int = index) -> None:
            learning_rate0 = float(_rng(seed, 7, index).uniform(0.01, 1.0))
            expected = ref.update_lr(learning_rate0, epoch_num, decay_rate)
            _hidden("learning_rate", call_unchanged(target, "update_lr", learning_rate0, epoch_num, decay_rate), expected)

        cases.append(_case("update_lr", index, _describe(epoch_num=epoch_num, decay_rate=decay_rate), run))
    return cases


#: (epoch_num, decay_rate, time_interval or None for the default 1000); learning_rate0 is drawn
SCHEDULE_SETTINGS = [(0, 1.0, None), (999, 1.0, None), (1000, 1.0, None), (1001, 0.5, None), (2500, 0.3, None),
                     (25, 0.5, 10), (7, 2.0, 7), (13, 1.0, 7), (6, 1.0, 7), (99, 0.1, 1)]


def schedule_cases(ref: Any, seed: int) -> list[Case]:
    cases = []
    for index, (epoch_num, decay_rate, interval) in enumerate(SCHEDULE_SETTINGS, 1):
        def run(target: Target, epoch_num: int = epoch_num, decay_rate: float = decay_rate, interval: int | None = interval,
                index: int = index) -> None:
            learning_rate0 = float(_rng(seed, 8, index).uniform(0.01, 1.0))
            args = (learning_rate0, epoch_num, decay_rate, *(() if interval is None else (interval,)))
            _hidden("learning_rate", call_unchanged(target, "schedule_lr_decay", *args), ref.schedule_lr_decay(*args))

        params = _describe(epoch_num=epoch_num, decay_rate=decay_rate, time_interval=interval or "the default")
        cases.append(_case("schedule_lr_decay", index, params, run))
    return cases


def cases(ref: Any, seed: int) -> list[Case]:
    return [
        *gd_cases(ref, seed),
        *mini_batch_cases(ref, seed),
        *_initialize_cases(ref, seed, "initialize_velocity", None, 3),
        *momentum_cases(ref, seed),
        *_initialize_cases(ref, seed, "initialize_adam", ("v", "s"), 5),
        *adam_cases(ref, seed),
        *update_lr_cases(ref, seed),
        *schedule_cases(ref, seed),
    ]


def _sweep_case(function: str, index: int, make: Callable[[], tuple], reference: Target) -> Case:
    """Compare with the reference on the inputs ``make()`` gives, whatever the structure of the answer."""

    def run(target: Target) -> None:
        args, kwargs = make()
        expected = reference(*snapshot(args), **snapshot(kwargs))
        _hidden("value", target(*snapshot(args), **snapshot(kwargs)), expected)

    return Case(function=function, name=f"{function} sweep #{index}", params="", run=run)


def sweep(ref: Any, seed: int, count: int = 40) -> list[Case]:
    """Many random valid inputs per function, for ``grader audit`` to tell a surviving mutant that computes
    the same thing (equivalent) from one the hidden cases miss."""
    rng = _rng(seed, 99)
    found: list[Case] = []

    def add(function: str, make: Callable[[np.random.Generator], tuple]) -> None:
        for index in range(count):
            state = int(rng.integers(2**31))
            found.append(_sweep_case(function, index, lambda s=state: make(np.random.default_rng(s)), getattr(ref, function)))

    def network(r: np.random.Generator) -> tuple[dict, dict, dict, dict]:
        layers = [int(n) for n in r.integers(1, 6, size=int(r.integers(2, 6)))]
        dtype = r.choice([np.float64, np.float32])
        return _state(r, layers, dtype, r.choice([dtype, np.float64]), float(r.choice([1.0, 0.01])))

    def gd(r: np.random.Generator) -> tuple:
        parameters, grads, _, _ = network(r)
        return (parameters, grads, float(r.uniform(0.01, 1))), {}

    def mini_batches(r: np.random.Generator) -> tuple:
        n_x, m = int(r.integers(1, 5)), int(r.integers(1, 150))
        X, Y = r.standard_normal((n_x, m)), r.standard_normal((1, m))
        return (X, Y, int(r.integers(1, 80)), int(r.integers(0, 10_000))), {}

    def momentum(r: np.random.Generator) -> tuple:
        parameters, grads, v, _ = network(r)
        return (parameters, grads, v, float(r.uniform(0, 1)), float(r.uniform(0.01, 1))), {}

    def adam(r: np.random.Generator) -> tuple:
        parameters, grads, v, s = network(r)
        hyper = (float(r.uniform(0.001, 0.5)), float(r.uniform(0.1, 0.99)), float(r.uniform(0.1, 0.999)),
                 float(r.choice([1e-8, 1e-2, 0.5])))
        return (parameters, grads, v, s, int(r.integers(1, 30)), *hyper), {}

    def lr(r: np.random.Generator) -> tuple:
        return (float(r.uniform(0.01, 1)), int(r.integers(0, 5000)), float(r.uniform(0, 2))), {}

    def schedule(r: np.random.Generator) -> tuple:
        return (float(r.uniform(0.01, 1)), int(r.integers(0, 5000)), float(r.uniform(0, 2)), int(r.integers(1, 2000))), {}

    add("update_parameters_with_gd", gd)
    add("random_mini_batches", mini_batches)
    add("initialize_velocity", lambda r: ((network(r)[0],), {}))
    add("update_parameters_with_momentum", momentum)
    add("initialize_adam", lambda r: ((network(r)[0],), {}))
    add("update_parameters_with_adam", adam)
    add("update_lr", lr)
    add("schedule_lr_decay", schedule)
    return found
