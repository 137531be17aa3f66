"""Mistakes students really make in this assignment, each with a recogniser and a hint.

``catalogue(ref)`` is read by the grader; the feedback page names a mistake when one of its
recognisers explains a failed check. The mistaken versions below are the reference with the
mistake put in: a recogniser fires only if the student's answer equals the mistaken one
where that differs from the right one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.mistakes import Mistake, either, failed_as, like, raises, returns


def _windows(n_prev: int, f: int, stride: int, pad: int = 0, plus_one: int = 1) -> int:
    return (n_prev + 2 * pad - f) // stride + plus_one


def _conv(A_prev: Any, W: Any, b: Any, hparameters: dict, *, bias: bool = True, stride_used: bool = True,
          plus_one: int = 1) -> tuple:
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f, _, _, n_C = W.shape
    stride, pad = hparameters["stride"], hparameters["pad"]
    step = stride if stride_used else 1
    n_H, n_W = _windows(n_H_prev, f, stride, pad, plus_one), _windows(n_W_prev, f, stride, pad, plus_one)
    padded = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    Z = np.zeros((m, n_H, n_W, n_C))
    for h in range(n_H):
        for w in range(n_W):
            window = padded[:, h * step:h * step + f, w * step:w * step + f, :]
            if window.shape[1:3] != (f, f):
                raise IndexError("window outside the input")
            Z[:, h, w, :] = np.tensordot(window, W, axes=3) + (b[0, 0, 0] if bias else 0)
    return Z, (A_prev, W, b, hparameters)


def _pool(A_prev: Any, hparameters: dict, mode: str = "max", *, reduce: Any = None, stride_used: bool = True,
          plus_one: int = 1, across_channels: bool = False) -> tuple:
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    f, stride = hparameters["f"], hparameters["stride"]
    step = stride if stride_used else 1
    n_H, n_W = _windows(n_H_prev, f, stride, 0, plus_one), _windows(n_W_prev, f, stride, 0, plus_one)
    reduce = reduce or (np.max if mode == "max" else np.mean)
    A = np.zeros((m, n_H, n_W, n_C))
    for h in range(n_H):
        for w in range(n_W):
            window = A_prev[:, h * step:h * step + f, w * step:w * step + f, :]
            if window.shape[1:3] != (f, f):
                raise IndexError("window outside the input")
            if across_channels:
                A[:, h, w, :] = reduce(window, axis=(1, 2, 3))[:, None]
            else:
                A[:, h, w, :] = reduce(window, axis=(1, 2))
    return A, (A_prev, hparameters)


def _conv_backward(dZ: Any, cache: tuple, *, accumulate: bool = True, negative_slice: bool = False) -> tuple:
    A_prev, W, b, hparameters = cache
    stride, pad = hparameters["stride"], hparameters["pad"]
    f = W.shape[0]
    padded = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dA_pad, dW, db = np.zeros(padded.shape), np.zeros(W.shape), np.zeros(b.shape)
    for h in range(dZ.shape[1]):
        for w in range(dZ.shape[2]):
            top, left = h * stride, w * stride
            contribution = np.einsum("ijcn,mn->mijc", W, dZ[:, h, w])
            if accumulate:
                dA_pad[:, top:top + f, left:left + f, :] += contribution
            else:
                dA_pad[:, top:top + f, left:left + f, :] = contribution
            dW += np.einsum("mijc,mn->ijcn", padded[:, top:top + f, left:left + f, :], dZ[:, h, w])
    db[0, 0, 0] = dZ.sum(axis=(0, 1, 2))
    if negative_slice:
        return dA_pad[:, pad:-pad, pad:-pad, :], dW, db
    return dA_pad[:, pad:pad + A_prev.shape[1], pad:pad + A_prev.shape[2], :], dW, db


def _pool_backward(dA: Any, cache: tuple, mode: str = "max", *, accumulate: bool = True,
                   mask_across_channels: bool = False) -> Any:
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    dA_prev = np.zeros(A_prev.shape)
    for i in range(dA.shape[0]):
        for h in range(dA.shape[1]):
            for w in range(dA.shape[2]):
                for c in range(dA.shape[3]):
                    top, left = h * stride, w * stride
                    if mode == "max":
                        window = A_prev[i, top:top + f, left:left + f, :]
                        source = window if mask_across_channels else window[:, :, c]
                        mask = (window[:, :, c] == source.max())
                        part = mask * dA[i, h, w, c]
                    else:
                        part = np.full((f, f), dA[i, h, w, c] / (f * f))
                    if accumulate:
                        dA_prev[i, top:top + f, left:left + f, c] += part
                    else:
                        dA_prev[i, top:top + f, left:left + f, c] = part
    return dA_prev


# Mistakes that show in more than one function: (id, title, hint).
BIAS = ("bias-missing", "The bias is missing",
        "After summing window * filter, add the filter's bias b (for conv_forward: b[:, :, :, c]).")
STRIDE = ("stride-ignored", "The stride is ignored",
          "A window starts at row h * stride and column w * stride, not at h and w.")
ACCUMULATE = ("assign-not-accumulate", "= instead of += in the backward pass",
              "Windows overlap when stride < f, so one input position receives gradient from several windows: add "
              "each contribution with +=, never overwrite it.")
OFF_BY_ONE = ("output-size-off-by-one", "The output size is off by one",
              "The number of window positions is floor((n_prev + 2 * pad - f) / stride) + 1 (pooling has no pad): "
              "the + 1 counts the first position.")


def catalogue(ref: Any) -> list[Mistake]:
    return [
        Mistake("pad-wrong-axis", "Padding added to the batch or channel axis",
                "Pad only height and width: np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0))) gives one "
                "(before, after) pair per axis, and the batch and channel axes get (0, 0).",
                like(lambda X, pad: np.pad(X, ((pad, pad), (pad, pad), (0, 0), (0, 0))),
                     lambda X, pad: np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad))),
                     lambda X, pad: np.pad(X, pad)),
                function="zero_pad"),
        Mistake("negative-pad-slice", "X[pad:-pad] is empty when pad = 0",
                "With pad = 0, -pad is 0 too, and X[0:0] selects nothing. Slice with explicit ends instead: "
                "X[:, pad:pad + n_H_prev, pad:pad + n_W_prev, :].",
                either(like(lambda dZ, cache: _conv_backward(dZ, cache, negative_slice=True)),
                       # the same slice assigned into dA_prev: NumPy raises instead of returning a wrong shape
                       raises(r"could not broadcast input array from shape \(0,0(,\d+)*\) into shape")),
                function="conv_backward"),
        Mistake("float-of-array", "float() of an array with dimensions",
                "NumPy 2 no longer converts an array with dimensions to a number with float(). Index the one value "
                "you need: b[0, 0, 0] in conv_single_step, b[0, 0, 0, c] for filter c in conv_forward, where b has "
                "one bias per filter (b.item() works only on a one-element array).",
                raises(r"only (0-dimensional|length-1|size-1) arrays can be converted to Python scalars")),
        Mistake("np-float", "np.float no longer exists",
                "np.float was an alias of Python's float and was removed from NumPy. Use float, or np.float64.",
                raises(r"module 'numpy' has no attribute 'float'")),
        Mistake(*BIAS, like(lambda a, W, b: float(np.sum(a * W))), function="conv_single_step"),
        Mistake(*BIAS, like(lambda A_prev, W, b, hparameters: _conv(A_prev, W, b, hparameters, bias=False)),
                function="conv_forward"),
        Mistake(*STRIDE, like(lambda A_prev, W, b, hparameters: _conv(A_prev, W, b, hparameters, stride_used=False)),
                function="conv_forward"),
        Mistake(*STRIDE, like(lambda A_prev, hparameters, mode="max": _pool(A_prev, hparameters, mode, stride_used=False)),
                function="pool_forward"),
        Mistake(*OFF_BY_ONE, like(lambda A_prev, W, b, hparameters: _conv(A_prev, W, b, hparameters, plus_one=0),
                                  lambda A_prev, W, b, hparameters: _conv(A_prev, W, b, hparameters, plus_one=2)),
                function="conv_forward"),
        Mistake(*OFF_BY_ONE, like(lambda A_prev, hparameters, mode="max": _pool(A_prev, hparameters, mode, plus_one=0)),
                function="pool_forward"),
        Mistake("pool-across-channels", "Pooling over all channels at once",
                "Pooling works on each channel separately: take the window of channel c only, "
                "A_prev[i, top:top + f, left:left + f, c].",
                like(lambda A_prev, hparameters, mode="max": _pool(A_prev, hparameters, mode, across_channels=True)),
                function="pool_forward"),
        Mistake("average-as-sum", "Average pooling computed as a sum",
                "Average pooling takes the mean of the window (np.mean), not its sum.",
                like(lambda A_prev, hparameters, mode="max": _pool(A_prev, hparameters, mode,
                                                                   reduce=np.sum if mode == "average" else None)),
                function="pool_forward"),
        Mistake(*ACCUMULATE, like(lambda dZ, cache: _conv_backward(dZ, cache, accumulate=False)), function="conv_backward"),
        Mistake(*ACCUMULATE, like(lambda dA, cache, mode="max": _pool_backward(dA, cache, mode, accumulate=False)),
                function="pool_backward"),
        Mistake("mask-wrong-slice", "The mask is taken from the wrong slice",
                "The mask comes from the window of the current example and channel: "
                "A_prev[i, top:top + f, left:left + f, c].",
                either(like(lambda dA, cache, mode="max": _pool_backward(dA, cache, mode, mask_across_channels=True)),
                       # a window without its channel index is 3-D: its mask cannot be added to one channel
                       raises(r"could not be broadcast together with shapes \(\d+,\d+\) \(\d+,\d+,\d+\)")),
                function="pool_backward"),
        Mistake("modifies-input", "The input is modified in place",
                "Your function changed an array it was given (for example with X[...] = or A_prev *=). "
                "Work on a copy (X.copy()) or build a new array.",
                failed_as("modified")),
        Mistake("public-literal", "The public test's value is returned for every input",
                "Compute Z from the inputs: the value the public test expects is right for its inputs only.",
                returns(-6.999089450680221), function="conv_single_step"),
    ]
