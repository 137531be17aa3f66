"""Reading and writing notebooks, with a clear message for every unreadable file.

Grading needs only the code cells of a v4 notebook, which plain JSON gives (``read_code_cells``): nbformat, whose import
compiles its JSON schema (about 0.07 s), is loaded only for a whole notebook (``read_notebook``) or an old format. The
annotated views read and write whole v4 notebooks as nbformat does, without it (``read_nodes``, ``writes``)."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.errors import NotebookError

if TYPE_CHECKING:
    from nbformat import NotebookNode

#: The largest notebook file read (outputs included): past it, nothing is parsed.
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024

_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def _not_regular(mode: int) -> NotebookError:
    """The error for anything but a regular file; it never says what a link points to."""
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    return NotebookError(f"not a regular file ({kind}): only regular .ipynb files are graded")


def read_regular_file(path: Path, limit: int = MAX_NOTEBOOK_BYTES) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes.

    Opened without following a symbolic link (a link to the solutions must not be graded as the
    student's work) and without blocking (a FIFO must not hang the batch); what was opened is
    checked with fstat, so a file swapped in between cannot slip through.
    """
    try:
        before = os.lstat(path)
    except OSError as error:
        raise NotebookError(f"cannot read {path}: {error.strerror}") from error
    if not stat.S_ISREG(before.st_mode):
        raise _not_regular(before.st_mode)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _not_regular(stat.S_IFLNK) from error
        raise NotebookError(f"cannot read {path}: {error.strerror}") from error
    with os.fdopen(fd, "rb") as file:
        mode = os.fstat(file.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(mode)
        try:
            raw = file.read(limit + 1)
        except OSError as error:
            raise NotebookError(f"cannot read {path}: {error.strerror}") from error
    if len(raw) > limit:
        raise NotebookError(f"the file is larger than {limit // (1024 * 1024)} MB, more than any notebook graded here; "
                            "clear its outputs (Edit → Clear Outputs of All Cells), save and submit again")
    return raw


def notebook_json(path: Path) -> dict[str, Any]:
    """The notebook's JSON, checked only as far as being a notebook at all (``nbformat`` and a list of cells)."""
    raw = read_regular_file(Path(path), MAX_NOTEBOOK_BYTES)
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
    return data


def _source(cell: Any) -> str:
    """A cell's source as one string (nbformat stores it as text or a list of lines), or NotebookError."""
    if not isinstance(cell, dict):
        raise NotebookError("a cell is malformed: it is not a JSON object")
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        source = "".join(source)
    if not isinstance(source, str):
        raise NotebookError("a cell is malformed: its source is neither text nor a list of lines")
    return source


def read_notebook(path: Path) -> NotebookNode:
    """Read any v3/v4 notebook as v4; raise NotebookError saying why a file is not one."""
    import nbformat  # here, not at the top: grading reads only code cells (read_code_cells)
    from nbformat.v4.nbjson import JSONReader

    data = notebook_json(path)
    try:
        if data.get("nbformat") == 4:  # no schema validation: real notebooks often bend the schema harmlessly
            data.setdefault("metadata", {})
            for cell in data["cells"]:
                _source(cell)
                cell.setdefault("metadata", {})  # as read_code_cells, which never looks at it
            notebook = JSONReader().to_notebook(data)
        else:
            notebook = nbformat.reads(json.dumps(data), as_version=4)
    except NotebookError:
        raise
    except Exception as error:  # nbformat raises many types for malformed notebooks
        raise NotebookError(f"nbformat cannot read the notebook: {error}") from error
    for cell in notebook.cells:
        _source(cell)
        cell.setdefault("cell_type", "raw")
        cell.setdefault("source", "")
    return notebook


class Node(dict):  # type: ignore[type-arg]
    """nbformat's NotebookNode without importing nbformat (~0.06 s with jsonschema): a dict whose keys also read and
    write as attributes, every dict stored in it a Node too."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, nodes(value) if isinstance(value, dict) and not isinstance(value, Node) else value)


def nodes(value: Any) -> Any:
    """``nbformat.from_dict``: every dict in ``value`` (inside lists too) as a Node."""
    if isinstance(value, dict):
        return Node({key: nodes(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return [nodes(item) for item in value]
    return value


def _joined(bundle: Any) -> None:
    """nbformat's rejoin of a MIME bundle: text kept as a list of lines becomes one string (JSON types stay)."""
    for key, value in list(bundle.items()):
        json_type = key == "application/json" or (key.startswith("application/") and key.endswith("+json"))
        if not json_type and isinstance(value, list) and all(isinstance(line, str) for line in value):
            bundle[key] = "".join(value)


def _split(bundle: Any) -> None:
    """nbformat's split of a MIME bundle into lines, as it writes one."""
    for key, value in list(bundle.items()):
        if isinstance(value, str) and (key.startswith("text/") or key in ("application/javascript", "image/svg+xml")):
            bundle[key] = value.splitlines(True)


def _strip_transient(notebook: Any) -> None:
    for key in ("orig_nbformat", "orig_nbformat_minor", "signature"):
        notebook["metadata"].pop(key, None)
    for cell in notebook["cells"]:
        cell["metadata"].pop("trusted", None)


def read_nodes(path: Path) -> Node:
    """``read_notebook`` without nbformat for a v4 notebook: the same nodes (nbformat's reader, rewritten: multi-line
    text joined, transient keys dropped) and the same refusals. Older formats go through ``read_notebook``."""
    data = notebook_json(path)
    if data.get("nbformat") != 4:
        return nodes(read_notebook(path))  # type: ignore[no-any-return]
    try:
        data.setdefault("metadata", {})
        for cell in data["cells"]:
            _source(cell)
            cell.setdefault("metadata", {})
        notebook = nodes(data)
        for cell in notebook.cells:
            if "source" in cell and isinstance(cell.source, list):
                cell.source = "".join(cell.source)
            for attachment in cell.get("attachments", {}).values():
                _joined(attachment)
            if cell.get("cell_type", None) == "code":
                for output in cell.get("outputs", []):
                    output_type = output.get("output_type", "")
                    if output_type in {"execute_result", "display_data"}:
                        _joined(output.get("data", {}))
                    elif output_type and isinstance(output.get("text", ""), list):
                        output.text = "".join(output.text)
        _strip_transient(notebook)
    except NotebookError:
        raise
    except Exception as error:  # what nbformat's reader would stumble on, with its words
        raise NotebookError(f"nbformat cannot read the notebook: {error}") from error
    for cell in notebook.cells:
        _source(cell)
        cell.setdefault("cell_type", "raw")
        cell.setdefault("source", "")
    return notebook  # type: ignore[no-any-return]


def writes(notebook: Any) -> str:
    """nbformat's JSON writer (``nbformat.v4.nbjson.writes``) without nbformat and without validating: text split into
    lines, transient keys dropped, keys sorted, one space of indent; ``notebook`` itself is left as it was."""
    plain = json.loads(json.dumps(notebook))  # a copy, of plain dicts and lists
    for cell in plain["cells"]:
        if isinstance(cell.get("source"), str):
            cell["source"] = cell["source"].splitlines(True)
        for attachment in cell.get("attachments", {}).values():
            _split(attachment)
        if cell["cell_type"] == "code":
            for output in cell["outputs"]:
                if output["output_type"] in {"execute_result", "display_data"}:
                    _split(output.get("data", {}))
                elif output["output_type"] == "stream" and isinstance(output["text"], str):
                    output["text"] = output["text"].splitlines(True)
    _strip_transient(plain)
    return json.dumps(plain, indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=False)


def read_code_cells(path: Path) -> list[tuple[int, str]]:
    """``code_cells(read_notebook(path))``, read straight from the JSON of a v4 notebook (the hot path of grading)."""
    data = notebook_json(path)
    if data.get("nbformat") != 4 or not isinstance(data.get("cells"), list):
        return code_cells(read_notebook(path))
    sources = [(number, _source(cell)) for number, cell in enumerate(data["cells"], 1)]
    return [(number, source) for (number, source), cell in zip(sources, data["cells"]) if cell.get("cell_type") == "code"]


def code_cells(notebook: NotebookNode | Node) -> list[tuple[int, str]]:
    """(1-based cell number, source) of every code cell, as a student sees the numbering."""
    return [(number, cell.source) for number, cell in enumerate(notebook.cells, 1) if cell.cell_type == "code"]


def write_notebook(notebook: NotebookNode, path: Path) -> None:
    """Write deterministically: same notebook, same bytes."""
    import nbformat

    nbformat.validate(notebook)
    Path(path).write_text(nbformat.writes(notebook) + "\n", encoding="utf-8")
