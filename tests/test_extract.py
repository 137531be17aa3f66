"""Extraction: real notebooks' quirks cost at most the cell they are in, and nothing is executed."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from grader.errors import NotebookError
from grader.extract import extract_cells, extract_submission, to_python
from grader.notebooks import read_notebook


def names(cells: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    chunks, _, _ = extract_cells(list(enumerate(cells, 1)))
    return [(c.kind, c.names) for c in chunks]


def test_keeps_imports_definitions_and_the_constants_they_read() -> None:
    found = names([
        "import numpy as np\nimport matplotlib.pyplot as plt\nnp.random.seed(1)\nEPS = 1e-8\nUNUSED = 3\nx = np.ones(3)",
        "def f(a):\n    return np.asarray(a) + EPS\nprint(f(x))\nZ = f(x)",
        "class Helper:\n    pass",
    ])
    assert found == [("import", ("np",)), ("assign", ("EPS",)), ("def", ("f",)), ("def", ("Helper",))]


def test_constants_that_depend_on_constants_are_kept() -> None:
    assert ("assign", ("BASE",)) in names(["BASE = 2\nSCALE = BASE * 3", "def f():\n    return SCALE"])


def test_magics_shell_lines_and_automagics_become_python() -> None:
    source = "%matplotlib inline\n!pip install numpy\ncd ..\nls\ndef f():\n    return 1\nf?"
    assert to_python(source).count("get_ipython()") == 5
    assert to_python("ls = [1]\ncd += 1\ntime.sleep(1)") == "ls = [1]\ncd += 1\ntime.sleep(1)"
    assert names([source]) == [("def", ("f",))]


def test_python_cell_magics_keep_their_body_and_others_are_ignored() -> None:
    assert names(["%%time\ndef f():\n    return 1\nf()"]) == [("def", ("f",))]
    assert names(["%%bash\ndef f():\n    echo not python"]) == []


def test_windows_line_endings_and_non_breaking_spaces() -> None:
    assert names(["def f(x):\r\n    return x\u00a0+ 1\r\n"]) == [("def", ("f",))]


def test_a_cell_that_does_not_parse_costs_only_that_cell() -> None:
    chunks, notes, unparsed = extract_cells([(1, "def good():\n    return 1"), (2, "def bad(:\n    pass"), (3, "def also():\n    pass")])
    assert [c.names for c in chunks] == [("good",), ("also",)]
    assert notes == ("cell 2 was skipped: it is not valid Python (invalid syntax, line 1).",)
    assert unparsed == (("bad", notes[0]),)


def test_line_numbers_match_the_cell() -> None:
    chunks, _, _ = extract_cells([(7, "x = 1\n\n\ndef f():\n    return 1")])
    (chunk,) = [c for c in chunks if c.kind == "def"]
    assert (chunk.cell, chunk.line) == (7, 4)
    assert compile(chunk.code, "cell 7", "exec").co_firstlineno == 1
    assert chunk.code.split("\n")[3] == "def f():"


def test_the_last_definition_wins_in_notebook_order() -> None:
    chunks, _, _ = extract_cells([(1, "def f():\n    return 1"), (2, "def f():\n    return 2")])
    namespace: dict = {}
    for chunk in chunks:
        exec(compile(chunk.code, f"cell {chunk.cell}", "exec"), namespace)
    assert namespace["f"]() == 2


def test_nothing_is_executed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    cells = [f"open({str(marker)!r}, 'w')\ndef f(x=None):\n    return x", f"x = open({str(marker)!r}, 'w')"]
    names(cells)
    assert not marker.exists()


def test_v3_notebooks_are_converted(tmp_path: Path) -> None:
    v3 = nbformat.v3.new_notebook(worksheets=[nbformat.v3.new_worksheet(cells=[nbformat.v3.new_code_cell("def f():\n    return 3")])])
    path = tmp_path / "old.ipynb"
    path.write_text(nbformat.writes(v3, version=3))
    assert [c.names for c in extract_submission(path).chunks] == [("f",)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not text"),
        (b"{ not json", "not valid JSON"),
        (b"[1, 2, 3]", "not a Jupyter notebook"),
        (b'{"cells": [], "metadata": {}}', "not a Jupyter notebook"),
    ],
)
def test_unreadable_files_raise_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotebookError, match=message):
        read_notebook(path)
