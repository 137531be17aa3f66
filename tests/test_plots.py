"""Pictures of a failed public array check: an SVG drawn directly from the arrays, safe to embed as an image,
with its own colour scale per panel, the slice it shows and honest alt text."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

import numpy as np

from grader.reporting.plots import comparison

SVG = "{http://www.w3.org/2000/svg}"


def _svg(image: str) -> ET.Element:
    return ET.fromstring(base64.b64decode(image))


def test_the_picture_is_a_static_svg_without_anything_that_runs_or_loads() -> None:
    expected = np.arange(2 * 5 * 5 * 3, dtype=float).reshape(2, 5, 5, 3)
    root = _svg(comparison(expected, expected * 9).image)
    tags = {element.tag.removeprefix(SVG) for element in root.iter()}
    assert tags <= {"svg", "title", "rect", "text", "image", "g"}
    hrefs = [element.get("href", "") for element in root.iter(f"{SVG}image")]
    assert hrefs and all(href.startswith("data:image/png;base64,") for href in hrefs)
    assert not [name for element in root.iter() for name in element.attrib if name.startswith("on")]


def test_each_panel_has_its_own_scale_and_the_slice_is_named() -> None:
    rng = np.random.default_rng(1)
    expected = rng.uniform(0, 1, size=(2, 4, 4, 3))
    got = expected.copy()
    got[1, :, :, 2] *= 9  # the second example's last channel is 9 times too large
    picture = comparison(expected, got)
    texts = [t.text or "" for t in _svg(picture.image).iter(f"{SVG}text")]
    low, high = float(expected[1, :, :, 2].max()), float(got[1, :, :, 2].max())
    assert f"{low:.3g}" in texts and f"{high:.3g}" in texts  # expected keeps its own range, not flattened by got's
    assert "[1, :, :, 2]" in " ".join(texts) and "example 1, channel 2" in picture.alt
    assert re.search(r"16 of 16 cells differ", picture.alt)


def test_different_shapes_get_two_panels_and_a_note_and_impossible_ones_a_placeholder() -> None:
    expected = np.zeros((4, 9, 9, 2))
    two = comparison(expected, np.ones((10, 9, 3, 2)))
    assert "No difference picture" in " ".join(t.text or "" for t in _svg(two.image).iter(f"{SVG}text"))
    assert "cells differ" not in two.alt
    none = comparison(expected, np.ones((4, 9, 9)))
    assert none.alt.startswith("No picture: your array has shape (4, 9, 9)")
    assert not list(_svg(none.image).iter(f"{SVG}image"))


def test_pictures_are_bounded_in_size() -> None:
    expected = np.zeros((4, 64, 64, 2))
    got = np.random.default_rng(2).normal(size=(4, 64, 64, 2))
    assert len(comparison(expected, got).image) < 200_000
