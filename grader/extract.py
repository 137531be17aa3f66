"""Submitted notebook → Submission, with ``ast``. Nothing of the student's is executed here.

Keeps what a graded function can depend on when the notebook runs top to bottom (imports,
function and class definitions, simple module-level assignments) and drops the rest (test
calls, plots, prints). A cell that cannot be parsed costs that cell only.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

from grader.config import Assignment
from grader.model import Chunk, Submission
from grader.notebooks import code_cells, read_notebook

#: Cell magics whose body is ordinary Python that still defines names when it runs.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug", "memit"}
#: IPython automagics students type without ``%`` (they work in a notebook, not in Python).
AUTOMAGICS = {"cd", "ls", "ll", "pwd", "pip", "conda", "env", "who", "whos", "load_ext", "reload_ext", "matplotlib",
              "autoreload", "reset", "history", "mkdir", "rm", "cp", "mv", "cat", "clear", "timeit", "time"}
AUTOMAGIC_LINE = re.compile(r"^(?P<word>[A-Za-z_]+)(?:\s+(?P<rest>(?!(?:[-+*/%&|^@]?=(?!=)|[(\[,:]|\.[A-Za-z_])).+))?$")
ODD_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2007": " ", "\u2009": " ", "\ufeff": "", "\u200b": ""})
DEF_LINE = re.compile(r"^\s*(?:async\s+)?def\s+(\w+)\s*\(", re.MULTILINE)
SAFE_BUILTINS = {"range", "tuple", "list", "dict", "set", "frozenset", "float", "int", "str", "bool", "complex", "len"}


@lru_cache(maxsize=1)
def _ipython_transformer():  # type: ignore[no-untyped-def]
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


def to_python(source: str) -> str:
    """Turn a cell's IPython syntax (magics, ``!shell``, automagics) into plain Python, keeping line numbers."""
    text = source.replace("\r\n", "\n").replace("\r", "\n").translate(ODD_SPACES)
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        magic = lines[first].lstrip()[2:].split(maxsplit=1)[0] if lines[first].strip() != "%%" else ""
        if magic not in PYTHON_CELL_MAGICS:
            return ""
        lines[first] = ""
    for index, line in enumerate(lines):
        match = AUTOMAGIC_LINE.match(line)
        if match and match["word"] in AUTOMAGICS and (match["rest"] or match["word"] in {"pwd", "ls", "who", "whos", "clear"}):
            lines[index] = "%" + line
    text = "\n".join(lines)
    if not re.search(r"^\s*[%!]|\?\s*$|^\s*\?", text, re.MULTILINE):
        return text
    transformed = _ipython_transformer().transform_cell(text)
    return str(transformed)


def _imported_names(node: ast.Import | ast.ImportFrom) -> tuple[str, ...]:
    return tuple((alias.asname or alias.name).split(".")[0] for alias in node.names)


def _imported_modules(node: ast.AST) -> tuple[str, ...]:
    """Top-level modules a statement imports (``from . import x`` counts as the module ".")."""
    found: list[str] = []
    for part in ast.walk(node):
        if isinstance(part, ast.Import):
            found += [alias.name.split(".")[0] for alias in part.names]
        elif isinstance(part, ast.ImportFrom):
            found.append("." if part.level else (part.module or "").split(".")[0])
    return tuple(found)


def _calls_are_simple(value: ast.AST, modules: set[str]) -> bool:
    """A constant-like value: calls only ``module.attr(...)`` of imported modules or harmless builtins."""
    for node in ast.walk(value):
        if isinstance(node, ast.Call):
            func = node.func
            while isinstance(func, ast.Attribute):
                func = func.value
            root_is_module = isinstance(node.func, ast.Attribute) and isinstance(func, ast.Name) and func.id in modules
            if not (root_is_module or (isinstance(node.func, ast.Name) and node.func.id in SAFE_BUILTINS)):
                return False
        if isinstance(node, (ast.Lambda, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return False
    return True


def _assigned_names(node: ast.stmt) -> tuple[str, ...] | None:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]  # type: ignore[attr-defined]
    names: list[str] = []
    for target in targets:
        for part in ast.walk(target):
            if isinstance(part, ast.Name):
                names.append(part.id)
            elif not isinstance(part, (ast.Tuple, ast.List, ast.Store, ast.Starred)):
                return None  # subscript or attribute targets change something that exists
    return tuple(names)


def _keep(node: ast.stmt, modules: set[str]) -> tuple[str, tuple[str, ...]] | None:
    """(kind, names) for a statement worth loading, None for one to drop."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return "import", _imported_names(node)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return "def", (node.name,)
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None and _calls_are_simple(node.value, modules):
        names = _assigned_names(node)
        return ("assign", names) if names else None
    if isinstance(node, ast.Try) and all(
        isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass, ast.Assign))
        for s in [*node.body, *(s for h in node.handlers for s in h.body), *node.orelse, *node.finalbody]
    ):
        return "import", tuple(n for s in ast.walk(node) if isinstance(s, (ast.Import, ast.ImportFrom)) for n in _imported_names(s))
    return None


def _names_read(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _needed(found: list[tuple[Chunk, set[str]]]) -> list[Chunk]:
    """Drop imports and assignments no definition reads (exploration variables, plots): only what a
    function can depend on is loaded, so a broken exploration cell costs nothing."""
    needed: set[str] = set()
    for chunk, reads in found:
        if chunk.kind == "def":
            needed |= reads
    grown = True
    while grown:
        grown = False
        for chunk, reads in found:
            if chunk.kind == "assign" and set(chunk.names) & needed and not reads <= needed:
                needed |= reads
                grown = True
    return [chunk for chunk, _ in found if chunk.kind == "def" or set(chunk.names) & (needed | {"*"})]


def extract_cells(cells: list[tuple[int, str]]) -> tuple[tuple[Chunk, ...], tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Chunks to load, in notebook order; notes about the cells that were skipped; and (function, note)
    for each ``def`` inside a skipped cell, so that a missing function can be explained."""
    found: list[tuple[Chunk, set[str]]] = []
    notes: list[str] = []
    unparsed: list[tuple[str, str]] = []
    modules: set[str] = set()
    for number, source in cells:
        try:
            python = to_python(source)
            tree = ast.parse(python, filename=f"cell {number}")
        except SyntaxError as error:
            where = f"line {error.lineno}" if error.lineno else "somewhere"
            notes.append(f"cell {number} was skipped: it is not valid Python ({error.msg}, {where}).")
            unparsed += [(name, notes[-1]) for name in DEF_LINE.findall(source)]
            continue
        except Exception as error:  # IPython's transformer can fail on odd input; it costs the cell only
            notes.append(f"cell {number} was skipped: its IPython syntax could not be read ({error}).")
            unparsed += [(name, notes[-1]) for name in DEF_LINE.findall(source)]
            continue
        lines = python.split("\n")
        for node in tree.body:
            kept = _keep(node, modules)
            if kept is None:
                continue
            kind, names = kept
            if kind == "import":
                modules.update(names)
            first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            code = "\n" * (first - 1) + "\n".join(lines[first - 1 : node.end_lineno])
            modules_used = _imported_modules(node) if kind == "import" else ()
            chunk = Chunk(cell=number, line=first, kind=kind, names=names, code=code, modules=modules_used)
            found.append((chunk, _names_read(node)))
    return tuple(_needed(found)), tuple(notes), tuple(unparsed)


def extract_submission(path: Path) -> Submission:
    """Read a notebook file (raising NotebookError if it is not one) and extract what can be graded."""
    notebook = read_notebook(path)
    cells = code_cells(notebook)
    chunks, notes, unparsed = extract_cells(cells)
    if not cells:
        notes = ("the notebook has no code cells.", *notes)
    return Submission(path=str(path), chunks=chunks, notes=notes, unparsed=unparsed)


def allowed_chunks(submission: Submission, assignment: Assignment) -> Submission:
    """Drop imports of the assignment's own test modules (the sandbox has none) and, with a note for
    each, of modules the assignment does not allow."""
    shipped = {Path(name).stem for name in (assignment.public_tests, *assignment.release_files)} | {"grader_checks"}
    kept, notes = [], list(submission.notes)
    for chunk in submission.chunks:
        if chunk.kind == "import" and set(chunk.modules) <= shipped:
            continue
        if chunk.kind == "import" and not assignment.allows_import(chunk.modules):
            modules = ", ".join(sorted(set(chunk.modules) - set(assignment.allowed_imports)))
            notes.append(f"cell {chunk.cell}, line {chunk.line}: `import {modules}` was skipped (this assignment allows "
                         f"{', '.join(assignment.allowed_imports)}).")
        else:
            kept.append(chunk)
    return Submission(submission.path, tuple(kept), tuple(notes), submission.unparsed)
