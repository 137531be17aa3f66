"""Pictures for feedback: expected, got and their difference for one channel of a failed public array check.

Drawn in the grader's own process from the arrays the public check compared (never for hidden
checks, whose values stay secret), as a PNG to embed in the self-contained feedback page.
"""

from __future__ import annotations

import base64
import io

import numpy as np


def _channel(array: np.ndarray, where: tuple[int, ...]) -> tuple[np.ndarray, str]:
    """A 2-D slice to draw: for (m, H, W, C) arrays, example and channel of the first wrong value."""
    if array.ndim == 4:
        i, c = (where[0], where[3]) if len(where) == 4 else (0, 0)
        return array[min(i, array.shape[0] - 1), :, :, min(c, array.shape[3] - 1)], f"[{i}, :, :, {c}]"
    if array.ndim == 3:
        c = where[2] if len(where) == 3 else 0
        return array[:, :, min(c, array.shape[2] - 1)], f"[:, :, {c}]"
    return array, ""


def comparison_png(expected: np.ndarray, got: np.ndarray) -> str:
    """Base64 PNG of expected | got | difference (or expected | got when the shapes differ); "" if not drawable."""
    if expected.ndim < 2 or got.ndim < 2 or expected.ndim > 4 or got.ndim > 4 or not got.size or not expected.size:
        return ""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    expected, got = expected.astype(float), got.astype(float)
    same = expected.shape == got.shape
    where: tuple[int, ...] = ()
    if same:
        wrong = np.argwhere(~np.isclose(got, expected, rtol=1e-4, atol=1e-6))
        where = tuple(int(k) for k in wrong[0]) if len(wrong) else ()
    (left, label), (right, _) = _channel(expected, where), _channel(got, where)
    panels = [(f"expected{label}", left), (f"got{label}", right)]
    if same:
        panels.append(("got - expected", right - left))
    figure = Figure(figsize=(3.2 * len(panels), 2.9), dpi=80, layout="constrained")
    low, high = float(min(left.min(), right.min())), float(max(left.max(), right.max()))
    for axes, (title, data) in zip(figure.subplots(1, len(panels)), panels):
        is_difference = title.startswith("got -")
        limit = float(np.abs(data).max()) or 1.0
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
