"""Reading and writing notebooks with nbformat, with a clear message for every unreadable file."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.v4.nbjson import JSONReader

from grader.errors import NotebookError


def read_notebook(path: Path) -> NotebookNode:
    """Read any v3/v4 notebook as v4; raise NotebookError saying why a file is not one."""
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise NotebookError(f"cannot read {path}: {error.strerror}") from error
    if not raw.strip():
        raise NotebookError("the file is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise NotebookError("the file is not text (is it a binary file renamed to .ipynb?)") from error
    try:
        data = json.loads(text)
    except RecursionError as error:
        raise NotebookError("the file's JSON is nested too deeply to be a notebook") from error
    except json.JSONDecodeError as error:
        raise NotebookError(f"the file is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})") from error
    if not isinstance(data, dict) or "nbformat" not in data or not isinstance(data.get("cells", data.get("worksheets")), list):
        raise NotebookError("the file is JSON but not a Jupyter notebook (no 'nbformat' and 'cells')")
    try:
        if data.get("nbformat") == 4:  # no schema validation: real notebooks often bend the schema harmlessly
            notebook = JSONReader().to_notebook(data)
        else:
            notebook = nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat raises many types for malformed notebooks
        raise NotebookError(f"nbformat cannot read the notebook: {error}") from error
    for cell in notebook.cells:
        if not isinstance(cell, dict) or not isinstance(cell.get("source", ""), str):
            raise NotebookError("a cell is malformed: its source is neither text nor a list of lines")
        cell.setdefault("cell_type", "raw")
        cell.setdefault("source", "")
    return notebook


def code_cells(notebook: NotebookNode) -> list[tuple[int, str]]:
    """(1-based cell number, source) of every code cell, as a student sees the numbering."""
    return [(number, cell.source) for number, cell in enumerate(notebook.cells, 1) if cell.cell_type == "code"]


def write_notebook(notebook: NotebookNode, path: Path) -> None:
    """Write deterministically: same notebook, same bytes."""
    nbformat.validate(notebook)
    Path(path).write_text(nbformat.writes(notebook) + "\n", encoding="utf-8")
