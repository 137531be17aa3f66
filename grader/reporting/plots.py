"""Pictures for feedback: expected, got and their difference for one 2-D slice of a failed public array check.

Drawn in the grader's own process from the arrays the public check compared (never for hidden checks, whose
values stay secret), as a small SVG to embed in the self-contained feedback page through
``<img src="data:image/svg+xml;base64,...">`` (an SVG shown as an image runs no script and loads nothing).
The heatmaps are PNGs written directly from the arrays with a fixed colour map, inside the SVG; titles,
axes and colour scales are SVG text, sharp at any zoom. No plotting library: a picture costs about a
millisecond. Only arrays of about the size the check expects are drawn: a student's array can be any size,
and a picture of it must cost no more than a picture of the expected one; otherwise a placeholder says why.
"""

from __future__ import annotations

import base64
import struct
import zlib
from dataclasses import dataclass
from html import escape

import numpy as np

#: Largest drawn 2-D slice (rows or columns) of the expected array; public checks use small arrays.
MAX_SIDE = 64
#: Largest expected array (elements) worth a picture: bounds the search for the first wrong slice.
MAX_ELEMENTS = 1 << 16
#: The student's array may exceed the expected one by at most this factor along each axis (else: a placeholder,
#: the message already says the shape is wrong).
MAX_GROWTH = 4

# Axes that pick the drawn 2-D slice (example and channel for (m, H, W, C) arrays); the others are drawn.
_OUTER_AXES = {2: (), 3: (2,), 4: (0, 3)}
_OUTER_NAMES = {2: (), 3: ("channel",), 4: ("example", "channel")}
_NUMERIC = "biuf"
_HEAT = 180  # side of a heatmap in the SVG's units
_PANEL_W, _PANEL_H = 320, 300
_FONT = 'font-family="system-ui, sans-serif"'
# Fixed colour maps (anchors, interpolated): viridis for values, blue-white-red for differences.
_VIRIDIS = ["#440154", "#482878", "#3e4a89", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"]
_DIVERGING = ["#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582", "#d6604d", "#b2182b"]
_NOT_FINITE = (190, 190, 190)


def _lut(anchors: list[str], size: int = 256) -> np.ndarray:
    rgb = np.array([[int(a[i:i + 2], 16) for i in (1, 3, 5)] for a in anchors], dtype=float)
    where = np.linspace(0, len(anchors) - 1, size)
    low = np.floor(where).astype(int).clip(0, len(anchors) - 2)
    t = (where - low)[:, None]
    return np.round(rgb[low] * (1 - t) + rgb[low + 1] * t).astype(np.uint8)


_MAPS = {"values": _lut(_VIRIDIS), "difference": _lut(_DIVERGING)}


def drawable(expected: np.ndarray, got: np.ndarray) -> bool:
    """Both numeric with the same number of dimensions (2 to 4), the expected one small, the student's at most
    MAX_GROWTH times larger along each axis."""
    return not _why_not(expected, got)


def _why_not(expected: np.ndarray, got: np.ndarray) -> str:
    if expected.dtype.kind not in _NUMERIC or got.dtype.kind not in _NUMERIC:
        return "one of the arrays is not numeric"
    if expected.ndim not in _OUTER_AXES or not expected.size or expected.size > MAX_ELEMENTS:
        return f"the expected array, of shape {expected.shape}, is not one this picture can show"
    if got.ndim != expected.ndim or not got.size:
        return f"your array has shape {got.shape} and the expected one {expected.shape}: they cannot be compared cell by cell"
    rows, columns = (expected.shape[a] for a in range(expected.ndim) if a not in _OUTER_AXES[expected.ndim])
    if rows > MAX_SIDE or columns > MAX_SIDE:
        return "the expected array's slices are too large to draw"
    if not all(g <= MAX_GROWTH * e for e, g in zip(expected.shape, got.shape)):
        return f"your array, of shape {got.shape}, is far larger than the expected {expected.shape}"
    return ""


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


def _slice(array: np.ndarray, outer: tuple[int, ...]) -> np.ndarray:
    clamped = tuple(min(p, array.shape[a] - 1) for a, p in zip(_OUTER_AXES[array.ndim], outer))
    return array[_index(array.ndim, clamped)].astype(float)


def _where(ndim: int, outer: tuple[int, ...]) -> str:
    """The slice in index notation and words: "[0, :, :, 3] (example 0, channel 3)"."""
    text = ", ".join(":" if isinstance(i, slice) else str(i) for i in _index(ndim, outer))
    words = ", ".join(f"{name} {p}" for name, p in zip(_OUTER_NAMES[ndim], outer))
    return f"[{text}]" + (f" ({words})" if words else "")


def _num(value: float) -> str:
    return f"{value:.3g}"


def _png(rgb: np.ndarray) -> str:
    """A PNG (8-bit RGB, no filter) of an (h, w, 3) uint8 array, base64."""
    height, width, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    return base64.b64encode(png).decode("ascii")


@dataclass(frozen=True)
class _Panel:
    title: str
    data: np.ndarray
    low: float
    high: float
    colours: str  # values | difference


def _panel(title: str, data: np.ndarray, difference: bool = False) -> _Panel:
    finite = data[np.isfinite(data)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if difference:
        limit = max(abs(low), abs(high)) or 1.0
        return _Panel(title, data, -limit, limit, "difference")
    return _Panel(title, data, low, high, "values")


def _pixels(panel: _Panel) -> np.ndarray:
    """The heatmap, each cell a block of pixels, so that it stays square-edged however it is scaled."""
    data = panel.data
    span = panel.high - panel.low
    with np.errstate(invalid="ignore", over="ignore"):
        t = np.zeros(data.shape) if span <= 0 or not np.isfinite(span) else (data - panel.low) / span
    lut = _MAPS[panel.colours]
    rgb = lut[np.nan_to_num(t * 255, nan=0, posinf=255, neginf=0).clip(0, 255).astype(np.uint8)]
    rgb[~np.isfinite(data)] = _NOT_FINITE
    block = max(1, _HEAT // max(data.shape))
    return np.repeat(np.repeat(rgb, block, axis=0), block, axis=1)


def _ticks(size: int, step: float, along: str, x0: float, y0: float) -> str:
    shown = range(size) if size <= 12 else (0, size - 1)
    parts = []
    for i in shown:
        if along == "x":
            parts.append(f'<text x="{x0 + (i + 0.5) * step:.1f}" y="{y0}" text-anchor="middle">{i}</text>')
        else:
            parts.append(f'<text x="{x0}" y="{y0 + (i + 0.5) * step + 5:.1f}" text-anchor="end">{i}</text>')
    return "".join(parts)


def _draw_panel(panel: _Panel, x: float, y: float, axes: tuple[int, int]) -> str:
    rows, columns = panel.data.shape
    cell = _HEAT / max(rows, columns)
    width, height = columns * cell, rows * cell
    left, top = x + 44, y + 40
    bar = _MAPS[panel.colours][np.linspace(255, 0, 64).astype(int)][:, None, :].repeat(8, axis=1)
    return "".join([
        f'<text x="{x + 6}" y="{y + 24}" font-size="21" font-weight="600">{escape(panel.title)}</text>',
        f'<image x="{left}" y="{top}" width="{width:.1f}" height="{height:.1f}" preserveAspectRatio="none" '
        f'href="data:image/png;base64,{_png(_pixels(panel))}"/>',
        f'<rect x="{left}" y="{top}" width="{width:.1f}" height="{height:.1f}" fill="none" stroke="#57606a"/>',
        '<g font-size="15" fill="#57606a">',
        _ticks(columns, cell, "x", left, top + height + 17),
        _ticks(rows, cell, "y", left - 5, top),
        f'<text x="{left + width / 2:.1f}" y="{top + height + 37:.1f}" text-anchor="middle">column (axis {axes[1]})</text>',
        f'<text transform="translate({x + 13},{top + height / 2:.1f}) rotate(-90)" text-anchor="middle">'
        f'row (axis {axes[0]})</text></g>',
        f'<image x="{left + width + 10:.1f}" y="{top}" width="12" height="{height:.1f}" preserveAspectRatio="none" '
        f'href="data:image/png;base64,{_png(bar.astype(np.uint8))}"/>',
        f'<g font-size="16"><text x="{left + width + 26:.1f}" y="{top + 13}">{_num(panel.high)}</text>',
        f'<text x="{left + width + 26:.1f}" y="{top + height:.1f}">{_num(panel.low)}</text></g>',
    ])


def _svg(width: float, height: float, body: str, label: str) -> str:
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
           f'height="{height:.0f}" {_FONT} fill="#1f2328"><title>{escape(label)}</title>'
           f'<rect width="100%" height="100%" fill="#fff"/>{body}</svg>')
    return base64.b64encode(svg.encode("utf-8")).decode("ascii")


@dataclass(frozen=True)
class Picture:
    """A base64 SVG and the text that says what it shows, for its ``alt``."""

    image: str
    alt: str


def _wrapped(text: str, x: float, y: float, width: int, size: int = 19) -> tuple[str, int]:
    """Lines of at most ``width`` characters as SVG text, and how many."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + len(word) < width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    body = "".join(f'<text x="{x}" y="{y + (size + 6) * i}" font-size="{size}">{escape(t)}</text>' for i, t in enumerate(lines))
    return body, len(lines)


def placeholder(reason: str) -> Picture:
    text = f"No picture: {reason}."
    body, count = _wrapped(text, 14, 32, 40, 21)
    return Picture(_svg(_PANEL_W * 2, 22 + 27 * count, body, text), text)


def comparison(expected: np.ndarray, got: np.ndarray) -> Picture:
    """Expected, got and (same shapes) their difference for the first wrong 2-D slice, each on its own colour
    scale, so that neither hides the other when one is 9 times larger; a placeholder when they cannot be drawn."""
    why = _why_not(expected, got)
    if why:
        return placeholder(why)
    same = expected.shape == got.shape
    outer = _first_wrong(expected, got) if same else (0,) * len(_OUTER_AXES[expected.ndim])
    where = _where(expected.ndim, outer)
    left, right = _slice(expected, outer), _slice(got, outer)
    panels = [_panel(f"expected {left.shape[0]}×{left.shape[1]}", left), _panel(f"yours {right.shape[0]}×{right.shape[1]}", right)]
    if same:
        panels.append(_panel("yours − expected", right - left, difference=True))
    axes = tuple(a for a in range(expected.ndim) if a not in _OUTER_AXES[expected.ndim])
    body = [_draw_panel(panel, _PANEL_W * (i % 2), _PANEL_H * (i // 2), (axes[0], axes[1])) for i, panel in enumerate(panels)]
    note = f"Slice {where}. Each picture has its own colour scale."
    if not same:
        note += f" No difference picture: your shape {got.shape} is not the expected {expected.shape}."
    x, y = (_PANEL_W + 10, _PANEL_H + 30) if same else (10, _PANEL_H + 24)
    text, count = _wrapped(note, x, y, 26 if same else 52)
    body.append(text)
    height = _PANEL_H * 2 if same else _PANEL_H + 20 + 25 * count
    ranges = [f"{p.title.split()[0]} from {_num(p.low)} to {_num(p.high)}" for p in panels[:2]]
    alt = f"Heatmaps of slice {where}: {ranges[0]}; {ranges[1]}"
    if same:
        wrong = int((~np.isclose(right, left, rtol=1e-4, atol=1e-6)).sum())
        alt += f"; {wrong} of {left.size} cells differ, by up to {_num(max(abs(panels[2].low), abs(panels[2].high)))}"
    not_finite = int((~np.isfinite(right)).sum())
    if not_finite:
        alt += f"; {not_finite} of your values are not finite (grey)"
    label = alt + "."
    return Picture(_svg(_PANEL_W * 2, height, "".join(body), label), label)
