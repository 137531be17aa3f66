"""A syntax error's line and the caret under it, seen in headless Chromium on a phone and a desktop: the caret stays
under the character Python stopped at (the line scrolls inside its box instead of wrapping), and the page itself
never scrolls sideways (issue 14, point 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from grader.grading.extract import extract_cells
from grader.model import CheckResult, FunctionScore, GradeReport
from grader.reporting.report import render
from tests.test_browser import browser, open_page  # noqa: F401  (the module-scoped Chromium fixture)

BAD_LINE = "    Z[i, h, w, c] = conv_single_step(a_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :], W[..., c] b[..., c])"

# The caret's left edge and the right edge of the character just before the place it points at, in CSS pixels.
MEASURE = """
const pre = document.querySelector('pre.pointed') || [...document.querySelectorAll('pre')].find(p => p.textContent.includes('^'));
const text = pre.firstChild, body = text.textContent, caret = body.lastIndexOf('^');
const column = caret - body.indexOf('\\n') - 1;
const box = (start) => {
  const r = document.createRange(); r.setStart(text, start); r.setEnd(text, start + 1); return r.getBoundingClientRect();
};
return [box(caret).left, box(column - 1).right, box(caret).top - box(column - 1).top];
"""


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cell = "def conv_forward(A_prev, W, b, hparameters):\n    Z = 0\n" + BAD_LINE + "\n    return Z\n"
    _, (note,), _ = extract_cells([(30, cell)])
    check = CheckResult("conv_forward", "conv_forward_test", "public", "missing", f"conv_forward was not graded: {note}")
    report = GradeReport("cnn", "CNN", "s.ipynb", 0, 40, (FunctionScore("conv_forward", 40, False, 0, 1, 0),), (check,),
                         (note,))
    path = tmp_path_factory.mktemp("cells") / "feedback.html"
    path.write_text(render("feedback.html.j2", report, "s"))
    return path


@pytest.mark.parametrize("width", [400, 1200])
def test_the_caret_stays_under_the_error_on_a_phone_and_a_desktop(page: Path, width: int, browser: Any) -> None:  # noqa: F811
    browser.set_window_size(width, 1000)
    try:
        open_page(browser, page)
        caret_left, before_right, rows_apart = browser.execute_script(MEASURE)
        assert abs(caret_left - before_right) < 1.5, (caret_left, before_right)  # the same column...
        assert rows_apart > 0  # ...on the next row
        inner, scroll = browser.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]")
        assert scroll <= inner, f"the page is {scroll} px wide in a {inner} px window"
    finally:
        browser.set_window_size(1200, 1600)
