"""Solution and hidden-test markers: every supported style in one table, and the regions they enclose."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from grader.errors import MarkerError


@dataclass(frozen=True)
class Style:
    name: str
    begin: re.Pattern[str]
    end: re.Pattern[str]
    keep_markers: bool  # Coursera keeps its markers so students see where to write
    hidden_tests: bool = False


def _marker(text: str) -> re.Pattern[str]:
    return re.compile(r"\s*" + text + r"(?:\s|$)")


STYLES: tuple[Style, ...] = (
    Style("coursera", _marker(r"#\s*YOUR CODE STARTS HERE"), _marker(r"#\s*YOUR CODE ENDS HERE"), keep_markers=True),
    Style("coursera-classic", _marker(r"###\s*START CODE HERE\s*###"), _marker(r"###\s*END CODE HERE\s*###"), keep_markers=True),
    Style("nbgrader", _marker(r"###\s*BEGIN SOLUTION"), _marker(r"###\s*END SOLUTION"), keep_markers=False),
    Style("nbgrader-hidden-tests", _marker(r"###\s*BEGIN HIDDEN TESTS"), _marker(r"###\s*END HIDDEN TESTS"),
          keep_markers=False, hidden_tests=True),
    Style("otter", _marker(r"#\s*BEGIN SOLUTION"), _marker(r"#\s*END SOLUTION"), keep_markers=False),
)

#: otter's one-line form: ``x = compute()  # SOLUTION``.
SOLUTION_LINE = re.compile(r"^(?P<indent>\s*)(?P<code>.*?)\s*#\s*SOLUTION\s*$")


@dataclass(frozen=True)
class Region:
    """Lines ``begin``..``end`` (0-based, markers included) of one cell."""

    style: Style
    begin: int
    end: int
    indent: str


def _style_of(line: str, which: str) -> Style | None:
    for style in STYLES:
        if getattr(style, which).match(line):
            return style
    return None


def find_regions(lines: list[str], cell: int) -> list[Region]:
    """The marked regions of a cell; MarkerError (naming cell and line) if they nest or do not balance."""
    regions: list[Region] = []
    opened: tuple[Style, int] | None = None
    for index, line in enumerate(lines):
        begins, ends = _style_of(line, "begin"), _style_of(line, "end")
        if begins:
            if opened:
                raise MarkerError(cell, index + 1, f"{line.strip()!r} opens a region inside the one opened at line {opened[1] + 1}")
            opened = (begins, index)
        elif ends:
            if not opened:
                raise MarkerError(cell, index + 1, f"{line.strip()!r} closes a region that was never opened")
            if opened[0] is not ends:
                raise MarkerError(cell, index + 1, f"{line.strip()!r} does not match the marker opened at line {opened[1] + 1}")
            start = lines[opened[1]]
            regions.append(Region(ends, opened[1], index, start[: len(start) - len(start.lstrip())]))
            opened = None
    if opened:
        raise MarkerError(cell, opened[1] + 1, f"{lines[opened[1]].strip()!r} is never closed")
    return regions


def strip_solution_line(line: str) -> str | None:
    """otter's ``# SOLUTION`` line: keep ``target = ...`` of an assignment, drop anything else."""
    match = SOLUTION_LINE.match(line)
    if not match:
        return line
    code = match["code"]
    try:
        (statement,) = ast.parse(code).body
    except (SyntaxError, ValueError):
        return None
    value = getattr(statement, "value", None)
    if not isinstance(statement, (ast.Assign, ast.AugAssign, ast.AnnAssign)) or value is None:
        return None
    return f"{match['indent']}{code[: value.col_offset].rstrip()} ..."  # targets, annotation, operator
