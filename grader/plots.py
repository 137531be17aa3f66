"""Pictures for feedback: expected, got and their difference for one channel of a failed public array check.

Drawn in the grader's own process from the arrays the public check compared (never for hidden
checks, whose values stay secret), as a PNG to embed in the self-contained feedback page.
Only arrays of about the size the check expects are drawn: a student's array can be any size,
and a picture of it must cost no more than a picture of the expected one.
"""

from __future__ import annotations

import base64
import io

import numpy as np

#: Largest drawn 2-D slice (rows or columns) of the expected array; public checks use small arrays.
MAX_SIDE = 64
#: Largest expected array (elements) worth a picture: bounds the search for the first wrong slice.
MAX_ELEMENTS = 1 << 16
#: The student's array may exceed the expected one by at most this factor along each axis (else: no picture,
#: the message already says the shape is wrong).
MAX_GROWTH = 4

# Axes that pick the drawn 2-D slice (example and channel for (m, H, W, C) arrays); the others are drawn.
_OUTER_AXES = {2: (), 3: (2,), 4: (0, 3)}
_NUMERIC = "biuf"


def drawable(expected: np.ndarray, got: np.ndarray) -> bool:
    """Both numeric with the same number of dimensions (2 to 4), the expected one small, the student's at most
    MAX_GROWTH times larger along each axis."""
    if expected.ndim not in _OUTER_AXES or got.ndim != expected.ndim or not expected.size or not got.size:
        return False
    if expected.dtype.kind not in _NUMERIC or got.dtype.kind not in _NUMERIC or expected.size > MAX_ELEMENTS:
        return False
    rows, columns = (expected.shape[a] for a in range(expected.ndim) if a not in _OUTER_AXES[expected.ndim])
    return rows <= MAX_SIDE and columns <= MAX_SIDE and all(g <= MAX_GROWTH * e for e, g in zip(expected.shape, got.shape))


def _index(ndim: int, outer: tuple[int, ...]) -> tuple[int | slice, ...]:
    index: list[int | slice] = [slice(None)] * ndim
    for axis, position in zip(_OUTER_AXES[ndim], outer):
        index[axis] = position
    return tuple(index)


def _first_wrong(expected: np.ndarray, got: np.ndarray) -> tuple[int, ...]:
    """Example and channel of the first slice with a wrong value, converting one slice at a time."""
    outer_shape = tuple(expected.shape[a] for a in _OUTER_AXES[expected.ndim])
    for outer in np.ndindex(outer_shape):
        index = _index(expected.ndim, outer)
        if not np.allclose(got[index].astype(float), expected[index].astype(float), rtol=1e-4, atol=1e-6):
            return outer
    return (0,) * len(outer_shape)


def _channel(array: np.ndarray, outer: tuple[int, ...]) -> tuple[np.ndarray, str]:
    """The 2-D slice to draw, as float (only this slice is converted), and its label."""
    clamped = tuple(min(p, array.shape[a] - 1) for a, p in zip(_OUTER_AXES[array.ndim], outer))
    index = _index(array.ndim, clamped)
    text = ", ".join(":" if isinstance(i, slice) else str(i) for i in index)
    return array[index].astype(float), f"[{text}]" if clamped else ""


def _finite_range(*arrays: np.ndarray) -> tuple[float, float]:
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays])
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)


def comparison_png(expected: np.ndarray, got: np.ndarray) -> str:
    """Base64 PNG of expected | got | difference (or expected | got when the shapes differ); "" if not drawable."""
    if not drawable(expected, got):
        return ""
    outer = _first_wrong(expected, got) if expected.shape == got.shape else (0,) * len(_OUTER_AXES[expected.ndim])
    (left, where), (right, _) = _channel(expected, outer), _channel(got, outer)
    panels = [(f"expected{where}", left), (f"got{where}", right)]
    if expected.shape == got.shape:
        panels.append(("got - expected", right - left))
    try:
        return _draw(panels)
    except (ValueError, OverflowError):  # values matplotlib cannot scale: the text message says what is wrong
        return ""


def _draw(panels: list[tuple[str, np.ndarray]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3.2 * len(panels), 2.9), dpi=80, layout="constrained")
    low, high = _finite_range(panels[0][1], panels[1][1])
    for axes, (title, data) in zip(figure.subplots(1, len(panels)), panels):
        is_difference = title.startswith("got -")
        limit = max(abs(x) for x in _finite_range(data)) or 1.0
        image = axes.imshow(data, cmap="RdBu_r" if is_difference else "viridis", interpolation="nearest",
                            vmin=-limit if is_difference else low, vmax=limit if is_difference else high)
        axes.set_title(f"{title}\n{data.shape[0]}×{data.shape[1]}", fontsize=9)
        axes.tick_params(labelsize=7)
        for size, ticks in ((data.shape[1], axes.set_xticks), (data.shape[0], axes.set_yticks)):
            if size <= 12:
                ticks(range(size))
        figure.colorbar(image, ax=axes, shrink=0.8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
