"""Master notebook → student release, as a sequence of small pure cell transforms and one write.

Everything is built in memory first, so a marker error writes nothing; the same master
always gives the same bytes, which is what ``--check`` compares.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from grader.authoring.markers import find_regions, strip_solution_line
from grader.config import Assignment
from grader.errors import MarkerError
from grader.grading.extract import to_python
from grader.notebooks import read_notebook

INSTRUCTOR_TAGS = {"instructor-only"}
KEPT_CELL_METADATA = ("deletable", "editable", "tags")
PLACEHOLDER = "raise NotImplementedError()"
CHECKS_MODULE = Path(__file__).resolve().parent.parent / "checks.py"


def strip_lines(lines: list[str], cell: int, code: bool = True) -> list[str]:
    """Remove every solution and hidden-test region and ``# SOLUTION`` line; keep all else in order.

    In code, where a removal leaves a block empty (a function body that was all solution), a
    ``raise NotImplementedError()`` goes in its place so that the cell still compiles; the rule
    looks only at that block, so stripping twice changes nothing.
    """
    regions = {region.begin: region for region in find_regions(lines, cell)}
    kept: list[tuple[int, str]] = []  # (line index in the master cell, text)
    holes: list[tuple[int, int, str, str]] = []  # (position in kept, master line index, indent, filler)
    index = 0
    while index < len(lines):
        region = regions.get(index)
        if region:
            filler = "pass" if region.style.hidden_tests else PLACEHOLDER
            if region.style.keep_markers:
                kept.append((region.begin, lines[region.begin]))
                holes.append((len(kept), region.begin, region.indent, filler))
                kept.append((region.end, lines[region.end]))
            elif region.style.hidden_tests:
                holes.append((len(kept), region.begin, region.indent, filler))
            else:
                kept.append((region.begin, region.indent + ("# YOUR CODE HERE" if code else "YOUR ANSWER HERE")))
                holes.append((len(kept), region.begin, region.indent, filler))
            index = region.end + 1
            continue
        line = strip_solution_line(lines[index]) if code else lines[index]
        if line is None:
            holes.append((len(kept), index, lines[index][: _width(lines[index])], PLACEHOLDER))
        else:
            kept.append((index, line))
        index += 1
    if not code:
        return [text for _, text in kept]
    for position, origin, indent, filler in reversed(holes):
        if _block_left_empty(kept, position, indent):
            kept.insert(position, (origin, indent + filler))
    text = [line for _, line in kept]
    try:
        compile(to_python("\n".join(text)), f"cell {cell}", "exec")
    except SyntaxError as error:
        at = kept[error.lineno - 1][0] + 1 if error.lineno and error.lineno <= len(kept) else 1
        raise MarkerError(cell, at, f"the student version of this cell does not compile: {error.msg}") from None
    return text


def _is_statement(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _width(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block_left_empty(kept: list[tuple[int, str]], position: int, indent: str) -> bool:
    """True when the statement before ``position`` opens a block and nothing deeper than it follows."""
    before = next((t for _, t in reversed(kept[:position]) if _is_statement(t)), None)
    after = next((t for _, t in kept[position:] if _is_statement(t)), None)
    if before is None or not re.sub(r"\s+#.*$", "", before.rstrip()).endswith(":") or _width(before) >= len(indent):
        return False
    return after is None or _width(after) <= _width(before)


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
    from grader.grading.suite import KNOWN_MISTAKES, known_mistakes_json  # runs the reference: only when generating

    hints = known_mistakes_json(assignment) if assignment.instructor else None
    if hints is not None:
        files[KNOWN_MISTAKES] = hints
    return files


def generate(assignment: Assignment, out_dir: Path | None = None) -> list[tuple[Path, bool]]:
    """Write the release into ``out_dir`` (default ``assignments/<name>``): (path, changed) per file."""
    files = build_release(assignment)
    out_dir = assignment.release_dir if out_dir is None else out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files.items():
        path = out_dir / name
        changed = not path.exists() or path.read_bytes() != content
        if changed:
            path.write_bytes(content)
        written.append((path, changed))
    return written


def release_differences(assignment: Assignment, out_dir: Path | None = None) -> list[str]:
    """What differs between the release on disk and a fresh generation (empty when up to date)."""
    out_dir = assignment.release_dir if out_dir is None else out_dir
    release = build_release(assignment)
    differences = [f"{path} is not part of the release" for path in sorted(out_dir.glob("*"))
                   if path.name not in release and not path.name.startswith((".", "__pycache__"))]
    for name, content in release.items():
        path = out_dir / name
        if not path.exists():
            differences.append(f"{path} is missing")
        elif path.read_bytes() != content:
            differences.append(f"{path} is out of date")
    return differences
