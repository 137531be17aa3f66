"""Mistakes students make in "Optimization Methods", each with a recogniser and a hint.

``catalogue(ref)`` is read by the grader. Most recognisers are ``like(...)``: the reference with the mistake
put in, which fires only where that answer differs from the right one. Modifying the inputs shows only as
a "modified" failure; which way they were modified shows in the one hidden case per update rule that
passes float32 parameters with float64 gradients: ``W = W - lr * dW`` makes a new float64 array (the dict
was changed), while ``W -= lr * dW`` writes into the float32 array itself (the caller's array was changed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from grader.mistakes import Call, Mistake, like


def _layers(parameters: dict) -> range:
    return range(1, len(parameters) // 2 + 1)


def _momentum(parameters: dict, grads: dict, v: dict, beta: float, learning_rate: float, *, swap: bool = False) -> tuple:
    keep, take = (1 - beta, beta) if swap else (beta, 1 - beta)
    new_parameters, new_v = {}, {}
    for l in _layers(parameters):
        for name in ("W", "b"):
            key = "d" + name + str(l)
            new_v[key] = keep * v[key] + take * grads[key]
            new_parameters[name + str(l)] = parameters[name + str(l)] - learning_rate * new_v[key]
    return new_parameters, new_v


def _adam(parameters: dict, grads: dict, v: dict, s: dict, t: int, learning_rate: float = 0.01, beta1: float = 0.9,
          beta2: float = 0.999, epsilon: float = 1e-8, *, corrected: bool = True, t_shift: int = 0,
          epsilon_inside: bool = False, swap1: bool = False, swap2: bool = False) -> tuple:
    step_t = t + t_shift
    if step_t < 1:
        raise ValueError("no step before the first: this version explains nothing here")
    keep1, take1 = (1 - beta1, beta1) if swap1 else (beta1, 1 - beta1)
    keep2, take2 = (1 - beta2, beta2) if swap2 else (beta2, 1 - beta2)
    new_parameters, new_v, new_s, v_corrected, s_corrected = {}, {}, {}, {}, {}
    for l in _layers(parameters):
        for name in ("W", "b"):
            key = "d" + name + str(l)
            new_v[key] = keep1 * v[key] + take1 * grads[key]
            new_s[key] = keep2 * s[key] + take2 * grads[key] ** 2
            v_corrected[key] = new_v[key] / (1 - beta1 ** step_t) if corrected else new_v[key]
            s_corrected[key] = new_s[key] / (1 - beta2 ** step_t) if corrected else new_s[key]
            root = np.sqrt(s_corrected[key] + epsilon) if epsilon_inside else np.sqrt(s_corrected[key]) + epsilon
            new_parameters[name + str(l)] = parameters[name + str(l)] - learning_rate * v_corrected[key] / root
    return new_parameters, new_v, new_s, v_corrected, s_corrected


def _mini_batches(X: Any, Y: Any, mini_batch_size: int = 64, seed: int = 0, *, shuffle_Y: str = "same",
                  last: str = "keep") -> list:
    m = X.shape[1]
    rng = np.random.default_rng(seed)
    permutation = rng.permutation(m)
    shuffled_X = X[:, permutation]
    shuffled_Y = {"same": Y[:, permutation], "another": Y[:, rng.permutation(m)], "none": Y}[shuffle_Y]
    batches = []
    for start in range(0, m, mini_batch_size):
        end = start + mini_batch_size
        if end > m and last == "drop":
            break
        if end > m and last == "zeros":
            missing = ((0, 0), (0, end - m))
            batches.append((np.pad(shuffled_X[:, start:], missing), np.pad(shuffled_Y[:, start:], missing)))
        elif end > m and last == "overlap":
            batches.append((shuffled_X[:, -mini_batch_size:], shuffled_Y[:, -mini_batch_size:]))
        else:
            batches.append((shuffled_X[:, start:end], shuffled_Y[:, start:end]))
    return batches


def _arrays(value: Any) -> Iterator[np.ndarray]:
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _arrays(item)
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _arrays(item)


def _mixed_precision(call: Call) -> bool:
    """float32 parameters with float64 gradients: the one call where the two ways of modifying an input differ."""
    if len(call.args) < 2 or not isinstance(call.args[0], dict) or not isinstance(call.args[1], dict):
        return False
    return (any(a.dtype == np.float32 for a in _arrays(call.args[0]))
            and any(a.dtype == np.float64 for a in _arrays(call.args[1])))


def _modified(kept_float32: bool) -> Any:
    """The input was modified, and the answer's arrays kept float32 (written in place) or became float64 (new
    arrays put into the given dict)."""

    def recognise(call: Call, reference: Any) -> bool:
        if call.failure != "modified" or call.error or not _mixed_precision(call):
            return False
        arrays = list(_arrays(call.value))
        if not arrays:
            return False
        kept = any(a.dtype == np.float32 for a in arrays)
        return kept if kept_float32 else not kept

    return recognise


UPDATES = ("update_parameters_with_gd", "update_parameters_with_momentum", "update_parameters_with_adam")
BETA_SWAPPED = ("beta-swapped", "beta and 1 - beta are swapped",
                "The average keeps beta of its old value and adds 1 - beta of the new gradient: "
                "v = beta * v + (1 - beta) * dW. With beta = 0.9 the gradient of one step counts for a tenth.")
DICT_MODIFIED = ("input-dict-modified", "The dictionary passed in is modified",
                 "Assigning parameters[\"W1\"] = ... replaces an entry of the caller's own dictionary: after the call "
                 "it no longer holds the old parameters. Build a new dictionary (new_parameters = {}) and fill that.")
ARRAYS_MODIFIED = ("arrays-modified-in-place", "The caller's arrays are changed with -=",
                   "W -= learning_rate * dW writes into the array W itself, which the caller still holds, even if you "
                   "took parameters.copy() first: dict.copy() is shallow, it copies the keys but shares the arrays. "
                   "Write W - learning_rate * dW, which makes a new array.")
INVERTED = ("lr-decay-inverted", "The decay formula is inverted",
            "The learning rate falls over time: divide learning_rate0 by (1 + decay_rate * ...), do not multiply.")


def catalogue(ref: Any) -> list[Mistake]:
    return [
        Mistake("adam-no-bias-correction", "Adam without bias correction",
                "v_corrected and s_corrected divide the averages by (1 - beta1 ** t) and (1 - beta2 ** t); the "
                "update uses the corrected values. Without them the first steps are far too small.",
                like(lambda *a, **k: _adam(*a, **k, corrected=False)), function="update_parameters_with_adam"),
        Mistake("adam-t-off-by-one", "The step number t is off by one",
                "t is already the number of the current step (1 on the first call): use beta1 ** t and beta2 ** t "
                "as they are, without adding or subtracting one.",
                like(lambda *a, **k: _adam(*a, **k, t_shift=1), lambda *a, **k: _adam(*a, **k, t_shift=-1)),
                function="update_parameters_with_adam"),
        Mistake("adam-epsilon-inside-sqrt", "epsilon is added inside the square root",
                "epsilon goes after the root: v_corrected / (np.sqrt(s_corrected) + epsilon).",
                like(lambda *a, **k: _adam(*a, **k, epsilon_inside=True)), function="update_parameters_with_adam"),
        Mistake(*BETA_SWAPPED, like(lambda *a, **k: _momentum(*a, **k, swap=True)), function="update_parameters_with_momentum"),
        Mistake(*BETA_SWAPPED, like(lambda *a, **k: _adam(*a, **k, swap1=True), lambda *a, **k: _adam(*a, **k, swap2=True),
                                    lambda *a, **k: _adam(*a, **k, swap1=True, swap2=True)),
                function="update_parameters_with_adam"),
        Mistake("mini-batch-permutations-differ", "X and Y are shuffled differently",
                "Draw one permutation and index both X and Y with it, so that each label stays with its example. "
                "Two calls of permutation() give two different orders.",
                like(lambda *a, **k: _mini_batches(*a, **k, shuffle_Y="another"),
                     lambda *a, **k: _mini_batches(*a, **k, shuffle_Y="none")),
                function="random_mini_batches"),
        Mistake("mini-batch-last-dropped", "The last, smaller mini-batch is missing",
                "When mini_batch_size does not divide m, the examples left over form one more, smaller mini-batch: "
                "keep it, or those examples are never trained on.",
                like(lambda *a, **k: _mini_batches(*a, **k, last="drop")), function="random_mini_batches"),
        Mistake("mini-batch-last-padded", "The last mini-batch is padded to full size",
                "The last mini-batch holds only the examples left over: do not fill it up with zeros or with "
                "examples from another batch.",
                like(lambda *a, **k: _mini_batches(*a, **k, last="zeros"), lambda *a, **k: _mini_batches(*a, **k, last="overlap")),
                function="random_mini_batches"),
        *(Mistake(*DICT_MODIFIED, _modified(kept_float32=False), function=name) for name in UPDATES),
        *(Mistake(*ARRAYS_MODIFIED, _modified(kept_float32=True), function=name) for name in UPDATES),
        Mistake(*INVERTED, like(lambda lr0, epoch, rate: lr0 * (1 + rate * epoch),
                                lambda lr0, epoch, rate: (1 + rate * epoch) / lr0), function="update_lr"),
        Mistake(*INVERTED, like(lambda lr0, epoch, rate, interval=1000: lr0 * (1 + rate * np.floor(epoch / interval)),
                                lambda lr0, epoch, rate, interval=1000: (1 + rate * np.floor(epoch / interval)) / lr0),
                function="schedule_lr_decay"),
        Mistake("schedule-floor-missing", "The epoch is not rounded down to whole intervals",
                "The rate only drops every time_interval epochs: use np.floor(epoch_num / time_interval) (or "
                "epoch_num // time_interval), not the plain quotient.",
                like(lambda lr0, epoch, rate, interval=1000: lr0 / (1 + rate * epoch / interval)),
                function="schedule_lr_decay"),
    ]
