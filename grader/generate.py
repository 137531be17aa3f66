"""Master notebook → student release, as a sequence of small pure cell transforms and one write.

Everything is built in memory first, so a marker error writes nothing; the same master
always gives the same bytes, which is what ``--check`` compares.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from grader.config import Assignment
from grader.errors import MarkerError
from grader.extract import to_python
from grader.markers import find_regions, strip_solution_line
from grader.notebooks import read_notebook

INSTRUCTOR_TAGS = {"instructor-only"}
KEPT_CELL_METADATA = ("deletable", "editable", "tags")
PLACEHOLDER = "raise NotImplementedError()"
CHECKS_MODULE = Path(__file__).with_name("checks.py")


def strip_lines(lines: list[str], cell: int, code: bool = True) -> list[str]:
    """Remove every solution and hidden-test region and ``# SOLUTION`` line; keep all else in order.

    In code, if what is left does not compile (a function body that was all solution), a
    ``raise NotImplementedError()`` goes where the solution was.
    """
    regions = {region.begin: region for region in find_regions(lines, cell)}
    kept: list[str] = []
    holes: list[tuple[int, str]] = []
    index = 0
    while index < len(lines):
        region = regions.get(index)
        if region:
            if region.style.keep_markers:
                kept.append(lines[region.begin])
                holes.append((len(kept), region.indent))
                kept.append(lines[region.end])
            elif not region.style.hidden_tests:
                holes.append((len(kept) + 1, region.indent))
                kept.append(region.indent + ("# YOUR CODE HERE" if code else "YOUR ANSWER HERE"))
            index = region.end + 1
            continue
        line = strip_solution_line(lines[index]) if code else lines[index]
        if line is None:
            holes.append((len(kept), lines[index][: len(lines[index]) - len(lines[index].lstrip())]))
        else:
            kept.append(line)
        index += 1
    if not code or _compiles(kept):
        return kept
    for position, indent in reversed(holes):
        kept.insert(position, indent + PLACEHOLDER)
    if not _compiles(kept):
        try:
            compile(to_python("\n".join(kept)), f"cell {cell}", "exec")
        except SyntaxError as error:
            raise MarkerError(cell, error.lineno or 1, f"the student version of this cell does not compile: {error.msg}") from None
    return kept


def _compiles(lines: list[str]) -> bool:
    try:
        compile(to_python("\n".join(lines)), "<cell>", "exec")
    except SyntaxError:
        return False
    return True


def strip_solutions(cell: NotebookNode, number: int) -> NotebookNode:
    if cell.cell_type not in ("code", "markdown"):
        return cell
    lines = cell.source.split("\n")
    stripped = strip_lines(lines, number, code=cell.cell_type == "code")
    if stripped == lines:
        return cell
    cell = copy.deepcopy(cell)
    cell.source = "\n".join(stripped)
    return cell


def clear_outputs(cell: NotebookNode, number: int) -> NotebookNode:
    cell = copy.deepcopy(cell)
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    cell.metadata = nbformat.from_dict({k: cell.metadata[k] for k in KEPT_CELL_METADATA if k in cell.metadata})
    cell.setdefault("id", f"cell-{number}")
    return cell


def is_instructor_only(cell: NotebookNode) -> bool:
    return bool(INSTRUCTOR_TAGS & set(cell.get("metadata", {}).get("tags", [])))


CELL_TRANSFORMS = (strip_solutions, clear_outputs)


def student_notebook(master: NotebookNode, assignment: Assignment) -> NotebookNode:
    """The student's view of the master notebook."""
    notebook = copy.deepcopy(master)
    notebook.nbformat_minor = max(notebook.nbformat_minor, 5)
    cells = []
    for number, cell in enumerate(master.cells, 1):
        if is_instructor_only(cell):
            continue
        for transform in CELL_TRANSFORMS:
            cell = transform(cell, number)
        cells.append(cell)
    notebook.cells = cells
    notebook.metadata["grader"] = {
        "assignment": assignment.name,
        "version": assignment.version,
        "functions": [f.name for f in assignment.functions],
    }
    nbformat.validate(notebook)
    return notebook


def build_release(assignment: Assignment) -> dict[str, bytes]:
    """File name → content of everything a student gets."""
    notebook = student_notebook(read_notebook(assignment.master_notebook), assignment)
    files = {assignment.notebook: (nbformat.writes(notebook) + "\n").encode("utf-8")}
    files["grader_checks.py"] = CHECKS_MODULE.read_bytes()
    for name in ("assignment.toml", *assignment.release_files):
        files[name] = (assignment.source_dir / name).read_bytes()
    return files


def generate(assignment: Assignment, out_dir: Path | None = None) -> list[Path]:
    """Write the release into ``out_dir`` (default ``assignments/<name>``) and return the paths written."""
    files = build_release(assignment)
    out_dir = assignment.release_dir if out_dir is None else out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files.items():
        path = out_dir / name
        if not path.exists() or path.read_bytes() != content:
            path.write_bytes(content)
        written.append(path)
    return written


def release_differences(assignment: Assignment, out_dir: Path | None = None) -> list[str]:
    """What differs between the release on disk and a fresh generation (empty when up to date)."""
    out_dir = assignment.release_dir if out_dir is None else out_dir
    differences = []
    for name, content in build_release(assignment).items():
        path = out_dir / name
        if not path.exists():
            differences.append(f"{path} is missing")
        elif path.read_bytes() != content:
            differences.append(f"{path} is out of date")
    return differences
