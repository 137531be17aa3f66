"""Submitted notebook → Submission, with ``ast``. Nothing of the student's is executed here.

Keeps what a graded function can depend on when the notebook runs top to bottom: imports,
function and class definitions, and every statement that sets a name a definition reads (as
Python resolves names: ``symtable``), the graded functions' names included, and what those
statements read in turn (a call of a notebook function that sets module names counts:
``register("max", np.max)``, ``configure()`` with ``global``); drops the rest (test calls, plots,
prints, exploration). A cell that cannot be parsed costs that cell only.

Every step is linear in the notebook's size, and the sizes are capped, because a submission
can be built to stall a parser; ``extract_bounded`` also runs the whole extraction in a
child process with a deadline and a memory limit.
"""

from __future__ import annotations

import ast
import atexit
import dataclasses
import functools
import json
import os
import re
import signal
import symtable
from collections import deque
from collections.abc import Collection, Iterable
from itertools import islice
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from grader import model, notebooks
from grader.bounded import AnswerTooLarge, Running, start_bounded
from grader.config import Assignment
from grader.errors import NotebookError
from grader.model import Chunk, Submission
from grader.notebooks import read_code_cells, read_regular_file

#: A code cell longer than this (in characters) is skipped with a note: it is data, not code to grade.
MAX_CELL_CHARS = 200_000
#: More code than this in the cells that are read refuses the notebook.
MAX_CODE_CHARS = 2_000_000
#: Chunks are padded with blank lines to their line in the cell; past this many characters in all, the notebook is
#: refused (thousands of definitions in one long cell would otherwise cost memory quadratic in its length).
MAX_LOADED_CHARS = 16_000_000
#: How much of a cell's first line (or function name) names the cell in a message, and of the line a syntax error
#: points at. A label replaces a traceback's `File "cell N", line M`, so a bounded label keeps a message bounded.
LABEL_CHARS = 60
SHOWN_LINE_CHARS = 100
#: Functions named per skipped cell (to explain why they are missing): a bound, whatever the cell holds.
MAX_UNPARSED_DEFS = 100
#: Bounds of one notebook's extraction in ``extract_bounded``: wall clock (CPU time a second more) and memory.
EXTRACT_SECONDS = 20.0
EXTRACT_MEMORY_MB = 1024
#: The child's JSON answer is refused past this size (newlines escaped, it can be twice MAX_LOADED_CHARS).
MAX_RESULT_BYTES = 64 * 1024 * 1024

#: Cell magics whose body is ordinary Python that still defines names when it runs.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug", "memit"}
#: IPython automagics students type without ``%`` (they work in a notebook, not in Python).
AUTOMAGICS = {"cd", "ls", "ll", "pwd", "pip", "conda", "env", "who", "whos", "load_ext", "reload_ext", "matplotlib",
              "autoreload", "reset", "history", "mkdir", "rm", "cp", "mv", "cat", "clear", "timeit", "time"}
AUTOMAGIC_LINE = re.compile(r"^(?P<word>[A-Za-z_]+)(?:[ \t]+(?P<rest>(?!(?:[-+*/%&|^@]?=(?!=)|[(\[,:]|\.[A-Za-z_])).+))?$")
ODD_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2007": " ", "\u2009": " ", "\ufeff": "", "\u200b": ""})
DEF_LINE = re.compile(r"^[ \t]*(?:async[ \t]+)?def[ \t]+(\w+)[ \t]*\(", re.MULTILINE)

# IPython's line forms, matched on one line without its indentation (never across lines: linear).
_ASSIGNED_ESCAPE = re.compile(r"(?P<target>[A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*[ \t]*=[ \t]*)(?P<escape>!|%)(?P<rest>.*)")
_HELP_AFTER = re.compile(r"(?P<name>%{0,2}[A-Za-z_*][\w.*]*)[ \t]*(?P<marks>\?\??)[ \t]*")
_HELP_BEFORE = re.compile(r"(?P<marks>\?\??)[ \t]*(?P<name>%{0,2}[A-Za-z_*][\w.*]*)[ \t]*")
_MAGIC = re.compile(r"(?P<name>\S*)[ \t]*(?P<args>.*)")
# Scanning Python between statements: what can open or close a string or a bracket, or end a line early.
_NEXT_TOKEN = re.compile(r"\"\"\"|'''|[\"'#\\()\[\]{}]")
_STRING_END = {quote: re.compile(r"(?:\\.|[^\\])*?" + re.escape(quote)) for quote in ('"""', "'''", '"', "'")}


def _scan(line: str, depth: int, quote: str) -> tuple[int, str, bool]:
    """After ``line``: open brackets, the triple quote still open (or ""), and whether a backslash continues it."""
    pos = 0
    while True:
        if quote:
            end = _STRING_END[quote].match(line, pos)
            if end is None:
                return depth, quote if len(quote) == 3 else "", False
            pos, quote = end.end(), ""
            continue
        found = _NEXT_TOKEN.search(line, pos)
        if found is None:
            return depth, "", False
        token, pos = found.group(), found.end()
        if token == "#":
            return depth, "", False
        if token == "\\":
            if pos == len(line):
                return depth, "", True
        elif token in "([{":
            depth += 1
        elif token in ")]}":
            depth = max(depth - 1, 0)
        else:
            quote = token


def _call(method: str, *args: str) -> str:
    return f"get_ipython().{method}({', '.join(map(repr, args))})"


def _help(name: str, marks: str) -> str:
    return _call("run_line_magic", "psearch" if "*" in name else "pinfo" + ("2" if marks == "??" else ""), name)


def _escape(escape: str, rest: str, assigned: bool = False) -> str:
    """``!cmd``, ``!!cmd`` or ``%magic args`` as the call IPython makes of it (the output of ``x = !cmd``)."""
    if escape == "!":
        if assigned:
            return _call("getoutput", rest)
        return _call("getoutput", rest[1:]) if rest.startswith("!") else _call("system", rest)
    magic = _MAGIC.fullmatch(rest)
    assert magic is not None  # the pattern matches any line
    return _call("run_line_magic", magic["name"], magic["args"])


def _magic_line(body: str, indented: bool) -> str | None:
    """Python for one IPython line form (without its indentation), or None for a plain Python line."""
    if body[:1] in ("!", "%"):
        return _escape(body[0], body[1:])
    assigned = _ASSIGNED_ESCAPE.fullmatch(body)
    if assigned:
        return assigned["target"] + _escape(assigned["escape"], assigned["rest"], assigned=True)
    helped = _HELP_BEFORE.fullmatch(body) or _HELP_AFTER.fullmatch(body)
    if helped:
        return _help(helped["name"], helped["marks"])
    automagic = None if indented else AUTOMAGIC_LINE.match(body)
    if automagic and automagic["word"] in AUTOMAGICS and (
            automagic["rest"] or automagic["word"] in {"pwd", "ls", "who", "whos", "clear"}):
        return _escape("%", body)
    return None


def _cell_magic_body(lines: list[str]) -> list[str] | None:
    """The lines of a ``%%magic`` cell whose body is Python (the magic line blanked), [] for any other cell magic,
    None when the cell has no cell magic."""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or not lines[first].lstrip().startswith("%%"):
        return None
    magic = lines[first].lstrip()[2:].split(maxsplit=1)[0] if lines[first].strip() != "%%" else ""
    if magic not in PYTHON_CELL_MAGICS:
        return []
    return [*lines[:first], "", *lines[first + 1:]]


#: Prompts IPython strips from a pasted session before it runs a cell: ``>>>``/``...`` and ``In [3]:``/``...:``.
_PROMPTS = ((re.compile(r">>>( |$)"), re.compile(r"(>>>|\.\.\.)( |$)")),
            (re.compile(r"In \[\d+\]: "), re.compile(r"(In \[\d+\]: |\s*\.{3,}: ?)")))


def _cleaned(lines: list[str]) -> list[str]:
    """What IPython does to a cell before anything else: pasted prompts go, and the first line's indentation is
    taken off every line that has it (a helper pasted from inside a class runs in Jupyter)."""
    for first, prompt in _PROMPTS:
        if lines and (first.match(lines[0]) or (len(lines) > 1 and prompt.match(lines[1]))):
            return [prompt.sub("", line, count=1) if prompt.match(line) else line for line in lines]
    start = next((line for line in lines if line.strip()), "")
    indent = start[: len(start) - len(start.lstrip(" \t"))]
    return [line[len(indent):] if line.startswith(indent) else line for line in lines] if indent else lines


def to_python(source: str) -> str:
    """Turn a cell's IPython syntax (magics, ``!shell``, ``obj?``, automagics) into plain Python.

    One pass over the lines, tracking strings and brackets so that only lines that start a statement
    are read as IPython. Every line keeps its number and indentation (a magic inside a ``def`` still
    parses), and a magic continued with a backslash leaves blank lines behind.
    """
    text = source.replace("\r\n", "\n").replace("\r", "\n").translate(ODD_SPACES)
    lines = _cleaned(text.split("\n"))
    body = _cell_magic_body(lines)
    if body is not None:
        lines = body
    out: list[str] = []
    depth, quote, continued, magic_continues = 0, "", False, False
    for line in lines:
        if magic_continues:
            out.append("")
            magic_continues = line.endswith("\\")
            continue
        stripped = line.lstrip(" \t")
        indent = line[: len(line) - len(stripped)]
        magic = None if depth or quote or continued else _magic_line(stripped.rstrip(" \t"), bool(indent))
        if magic is not None:
            out.append(indent + magic)
            magic_continues = line.endswith("\\")
            continue
        out.append(line)
        depth, quote, continued = _scan(line, depth, quote)
    return "\n".join(out)


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


def _root(node: ast.AST) -> str | None:
    """The variable an attribute or item chain starts from (``D`` of ``D["k"].x``), if it starts from one."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


#: How many functions a call is followed through, and how many names it may set (``_set_by_calling``).
MAX_EFFECTS = 64
#: A notebook function → (the module names a call of it sets, the names it calls): see ``_effects``.
Effects = dict[str, tuple[frozenset[str], frozenset[str]]]


def _effects(node: ast.FunctionDef | ast.AsyncFunctionDef, modules: set[str]) -> tuple[frozenset[str], frozenset[str]]:
    """What calling a notebook function does to the module's names: those it declares ``global`` and binds, and the
    globals it changes in place (``POOLING[name] = fn``, ``HISTORY.append(x)`` as a statement), with the names it
    calls (a ``setup()`` that calls ``register(...)``), so that a top-level ``register("max", np.max)`` or
    ``configure()`` is loaded when a graded function reads what it sets."""
    declared, bound, changed, calls = set(), set(), set(), set()
    arguments = node.args
    every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
    parameters = {argument.arg for argument in every if argument is not None}
    for part in ast.walk(node):
        if isinstance(part, ast.Global):
            declared.update(part.names)
        elif isinstance(part, ast.Name) and isinstance(part.ctx, (ast.Store, ast.Del)):
            bound.add(part.id)
        elif isinstance(part, (ast.Attribute, ast.Subscript)) and isinstance(part.ctx, (ast.Store, ast.Del)):
            changed.add(_root(part))
        elif isinstance(part, ast.Expr) and isinstance(part.value, ast.Call) and isinstance(part.value.func, ast.Attribute):
            changed.add(_root(part.value.func.value))
        elif isinstance(part, ast.Call) and isinstance(part.func, ast.Name):
            calls.add(part.func.id)
    local = (parameters | bound) - declared
    sets = (declared & bound) | {name for name in changed if name and name not in local and name not in modules}
    return frozenset(sets), frozenset(calls)


def _set_by_calling(name: str, effects: Effects) -> list[str]:
    """The module names a call of the notebook function ``name`` sets, through the functions it calls too (at most
    MAX_EFFECTS of each, so that every call costs a bounded step and extraction stays linear)."""
    found: set[str] = set()
    waiting, seen = [name], set[str]()
    while waiting and len(seen) < MAX_EFFECTS and len(found) < MAX_EFFECTS:
        current = waiting.pop()
        if current in effects and current not in seen:
            seen.add(current)
            found |= effects[current][0]
            waiting.extend(effects[current][1])
    return sorted(found)[:MAX_EFFECTS]


def _set_names(node: ast.stmt, modules: set[str], effects: Effects | None = None) -> tuple[str, ...]:
    """The names a top-level statement binds (assignment, loop and ``with`` targets, ``except ... as``, walrus,
    patterns, and definitions and imports inside it) or changes in place (``D[k] = v``, ``obj.x = v``, and
    ``L.append(x)`` as a statement of its own), or sets by calling a notebook function (``effects``), in order. A
    module is never changed in place here: ``np.random.seed(1)`` and ``plt.plot(x)`` are not settings a definition
    needs."""
    effects = effects or {}
    found: dict[str, None] = {}
    waiting: deque[ast.AST] = deque([node])
    while waiting:
        part = waiting.popleft()
        if isinstance(part, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[part.name] = None
            continue  # its body has a scope of its own
        if isinstance(part, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        changed = None
        if isinstance(part, (ast.Import, ast.ImportFrom)):
            found.update(dict.fromkeys(_imported_names(part)))
        elif isinstance(part, ast.Name) and isinstance(part.ctx, (ast.Store, ast.Del)):
            found[part.id] = None
        elif isinstance(part, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and part.name:
            found[part.name] = None
        elif isinstance(part, ast.MatchMapping) and part.rest:
            found[part.rest] = None
        elif isinstance(part, (ast.Attribute, ast.Subscript)) and isinstance(part.ctx, (ast.Store, ast.Del)):
            changed = _root(part)
        elif isinstance(part, ast.Expr) and isinstance(part.value, ast.Call) and isinstance(part.value.func, ast.Attribute):
            changed = _root(part.value.func.value)
        elif isinstance(part, ast.Call) and isinstance(part.func, ast.Name) and part.func.id in effects:
            found.update(dict.fromkeys(_set_by_calling(part.func.id, effects)))
        if changed is not None and changed not in modules:
            found[changed] = None
        waiting.extend(ast.iter_child_nodes(part))
    return tuple(found)


def _keep(node: ast.stmt, modules: set[str], effects: Effects | None = None) -> tuple[str, tuple[str, ...]] | None:
    """(kind, names) for a statement that may be loaded, None for one that sets nothing (a print, a plot, a call of
    a function that changes no module name)."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return "import", _imported_names(node)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return "def", (node.name,)
    if isinstance(node, ast.Try) and all(
        isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass, ast.Assign))
        for s in [*node.body, *(s for h in node.handlers for s in h.body), *node.orelse, *node.finalbody]
    ):
        return "import", _set_names(node, modules)  # the flags it sets too: ``except ImportError: HAVE_SCIPY = False``
    names = _set_names(node, modules, effects)
    return ("assign", names) if names else None


def _names_read(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _reads(code: str, node: ast.AST) -> set[str]:
    """The module-level names a chunk reads when it runs, or when a function it defines is called: those its own
    scope refers to, and the globals of every function, class and comprehension inside it, as Python resolves
    names (``symtable``: a parameter or a local is not a global, ``global n; n += 1`` reads one). Every name it
    mentions if ``symtable`` refuses the code."""
    try:
        table = symtable.symtable(code, "cell", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _names_read(node)
    found = {symbol.get_name() for symbol in table.get_symbols() if symbol.is_referenced()}
    waiting = list(table.get_children())
    while waiting:
        inner = waiting.pop()
        found.update(symbol.get_name() for symbol in inner.get_symbols()
                     if symbol.is_global() and (symbol.is_referenced() or symbol.is_declared_global()))
        waiting.extend(inner.get_children())
    return found


def _read_when_defined(node: ast.stmt, reads: set[str]) -> set[str]:
    """What a definition reads as the notebook loads, called or not: a function's decorators, defaults and
    annotations; a class's body (its methods' reads with it: a few imports more at most)."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return reads
    arguments = node.args
    every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
    parts = [*node.decorator_list, *arguments.defaults, *arguments.kw_defaults, node.returns,
             *(argument.annotation for argument in every if argument is not None)]
    return {name for part in parts if part is not None for name in _names_read(part)}


Found = tuple[Chunk, set[str], set[str]]  # a chunk, what it reads, what it reads as it loads


def _needed(found: list[Found], wanted: Collection[str] = ()) -> list[Chunk]:
    """Every definition, and the imports and statements that set a name the ``wanted`` functions read, directly or
    through what they call (``conv_forward = make_conv()`` sets a wanted name itself), in turn; without ``wanted``,
    what any definition reads. An exploration cell (variables, plots, calls, a training run whose results only a
    plotting helper reads) is not loaded, so a broken or slow one costs nothing, while a dictionary filled by a
    loop, a helper object or a counter a graded function needs is."""
    setting: dict[str, list[int]] = {}
    for index, (chunk, _, _) in enumerate(found):
        for name in chunk.names:
            setting.setdefault(name, []).append(index)
    kept = {index for index, (chunk, _, _) in enumerate(found)
            if chunk.kind == "def" or "*" in chunk.names or chunk.modules == ("__future__",)}  # how later cells compile
    roots = list(wanted) or [name for chunk, _, _ in found if chunk.kind == "def" for name in chunk.names]
    roots += [name for index in kept for name in found[index][2]]  # what every kept definition needs to load
    waiting, followed, needed = deque(roots), set(), set()
    while waiting:  # each name once, each chunk once: linear in the names read
        name = waiting.popleft()
        if name not in needed:
            needed.add(name)
            for index in setting.get(name, ()):
                chunk, reads, _ = found[index]
                if name in wanted and chunk.kind != "def" and name in reads:
                    continue  # ``zero_pad = zero_pad(x, 1)`` in a last cell: the function used, not made
                kept.add(index)
                if index not in followed:
                    followed.add(index)
                    waiting.extend(reads)
    return [chunk for index, (chunk, _, _) in enumerate(found) if index in kept]


def _too_large(cells: list[tuple[int, str]]) -> dict[int, str]:
    """A note for each cell too long to read; NotebookError when the cells to read are too long together."""
    skipped = {number: f"cell {number} was skipped: it has {len(source):,} characters, more than the {MAX_CELL_CHARS:,} "
                       "a code cell may have (is it data pasted into the notebook?)."
               for number, source in cells if len(source) > MAX_CELL_CHARS}
    total = sum(len(source) for number, source in cells if number not in skipped)
    if total > MAX_CODE_CHARS:
        raise NotebookError(f"the notebook has {total:,} characters of code, more than the {MAX_CODE_CHARS:,} "
                            "graded here; remove the generated or pasted code and submit again")
    return skipped


def cell_label(source: str, graded: Collection[str] = ()) -> str:
    """How a message points a student at a cell: by the graded function it defines, else the first function it
    defines, else its first line. Jupyter shows no cell numbers, and a count that includes Markdown cells matches
    nothing on the student's screen."""
    defined = [match[1] for match in islice(DEF_LINE.finditer(source), MAX_UNPARSED_DEFS)]
    named = next((name for name in defined if name in graded), defined[0] if defined else "")
    if named:
        return f"the cell that defines `{_quoted(named)}`"
    first = next((line.strip() for line in islice(source.splitlines(), 10_000) if line.strip()), "")
    return f"the cell starting `{_quoted(first)}`" if first else "an empty cell"


def chunk_labels(chunks: Iterable[Chunk], graded: Collection[str] = ()) -> dict[int, str]:
    """cell number → how to name that cell, from the code that was loaded from it (what a traceback can point at):
    the graded function it defines, else the first function, else its first loaded line."""
    by_cell: dict[int, list[Chunk]] = {}
    for chunk in chunks:
        by_cell.setdefault(chunk.cell, []).append(chunk)
    labels = {}
    for cell, own in by_cell.items():
        defined = [name for chunk in own if chunk.kind == "def" for name in chunk.names]
        named = next((name for name in defined if name in graded), defined[0] if defined else "")
        first = next((line.strip() for line in own[0].code.splitlines() if line.strip()), "")
        labels[cell] = f"the cell that defines `{_quoted(named)}`" if named else f"the cell with `{_quoted(first)}`"
    return labels


_TRACEBACK_CELL = re.compile(r'File "cell (\d+)", line (\d+)')
_LOADING_CELL = re.compile(r"^loading cell (\d+): ")


def cite_cells(text: str, labels: dict[int, str]) -> str:
    """``text`` with the cells its traceback lines (``File "cell 41", line 3``) and loading notes point at named as
    ``labels`` name them; a cell without a label keeps its number."""
    def frame(match: re.Match[str]) -> str:
        label = labels.get(int(match[1]))
        return f"In {label}, line {match[2]}" if label else match[0]

    def loading(match: re.Match[str]) -> str:
        label = labels.get(int(match[1]))
        return f"loading {label}: " if label else match[0]

    return _LOADING_CELL.sub(loading, _TRACEBACK_CELL.sub(frame, text))


def _quoted(line: str, limit: int = LABEL_CHARS) -> str:
    """One line of code fit to quote between backticks in a message: no backtick, at most ``limit`` characters."""
    line = " ".join(line.replace("`", "'").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _pointed(error: SyntaxError, lines: list[str]) -> str:
    """The line a syntax error is on, and a caret under the place Python stopped (a window of a long line)."""
    if not error.lineno or not 0 < error.lineno <= len(lines):
        return ""
    raw = lines[error.lineno - 1]
    line = raw.expandtabs(4).rstrip()
    column = len(raw[: max((error.offset or 1) - 1, 0)].expandtabs(4))
    start = 0  # the line's start when the error is near it, else a window around the error
    if len(line) > SHOWN_LINE_CHARS and column >= SHOWN_LINE_CHARS - 10:
        start = max(0, min(column - SHOWN_LINE_CHARS // 2, len(line) - SHOWN_LINE_CHARS))
    before = "…" if start else ""
    after = "…" if start + SHOWN_LINE_CHARS < len(line) else ""
    shown = before + line[start : start + SHOWN_LINE_CHARS] + after
    return f"\n    {shown}\n    {' ' * (len(before) + column - start)}^"


def _parse(number: int, source: str) -> tuple[ast.Module, list[str]] | str:
    """The cell's syntax tree and lines as Python, or a note saying why it was skipped."""
    python = ""
    try:
        python = to_python(source)
        return ast.parse(python, filename=f"cell {number}"), python.split("\n")
    except SyntaxError as error:
        where = f", line {error.lineno} of the cell" if error.lineno else ""
        pointed = _pointed(error, python.split("\n"))
        return (f"{cell_label(source)} could not be read, so nothing in it was graded: it is not valid Python "
                f"({error.msg}{where}):{pointed}")
    except (RecursionError, MemoryError):
        return f"cell {number} was skipped: it is nested too deeply or too large to read."


@dataclasses.dataclass(frozen=True)
class Extraction:
    """What ``read_cells`` found: chunks to load, in notebook order; a note per skipped cell; (function, note) for
    each ``def`` inside a skipped cell, so that a missing function can be explained; and where the skipped cells
    are (cell number → note, function → cell number), for the annotated notebook to put its notes beside them."""

    chunks: tuple[Chunk, ...]
    notes: tuple[str, ...]
    unparsed: tuple[tuple[str, str], ...]
    skipped: tuple[tuple[int, str], ...]
    unparsed_cells: tuple[tuple[str, int], ...]


def extract_cells(cells: list[tuple[int, str]], wanted: Collection[str] = ()
                  ) -> tuple[tuple[Chunk, ...], tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Chunks to load, notes about the skipped cells, and (function, note) for each ``def`` in a skipped cell."""
    found = read_cells(cells, wanted)
    return found.chunks, found.notes, found.unparsed


def read_cells(cells: list[tuple[int, str]], wanted: Collection[str] = ()) -> Extraction:
    """Everything extraction finds in ``cells`` ((number, source) of each code cell); ``wanted``: the names to be
    graded, kept whatever sets them."""
    found: list[Found] = []
    skipped = _too_large(cells)
    notes: list[tuple[int, str]] = []
    unparsed: list[tuple[str, int, str]] = []
    modules: set[str] = set()
    effects: Effects = {}
    loaded = 0
    for number, source in cells:
        parsed = skipped.get(number) or _parse(number, source)
        if isinstance(parsed, str):
            notes.append((number, parsed))
            unparsed += [(match[1], number, parsed) for match in islice(DEF_LINE.finditer(source), MAX_UNPARSED_DEFS)]
            continue
        tree, lines = parsed
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in wanted:
                effects[node.name] = _effects(node, modules)  # a graded function called at the top level is a test
            kept = _keep(node, modules, effects)
            if kept is None:
                continue
            kind, names = kept
            if kind == "import":
                modules.update(n for part in ast.walk(node) if isinstance(part, (ast.Import, ast.ImportFrom))
                               for n in _imported_names(part))
            first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            body = "\n".join(lines[first - 1 : node.end_lineno])
            loaded += first - 1 + len(body)
            if loaded > MAX_LOADED_CHARS:
                raise NotebookError(f"the notebook has too many definitions to load (over {len(found):,} by cell {number}); "
                                    "remove the generated code and submit again")
            code = "\n" * (first - 1) + body
            modules_used = _imported_modules(node) if kind != "def" else ()
            chunk = Chunk(cell=number, line=first, kind=kind, names=names, code=code, modules=modules_used)
            reads = _reads(code, node)
            found.append((chunk, reads, _read_when_defined(node, reads) if kind == "def" else set()))
    return Extraction(tuple(_needed(found, wanted)), tuple(note for _, note in notes), tuple((name, note) for name, _, note in unparsed),
                      tuple(notes), tuple((name, number) for name, number, _ in unparsed))


def extract_submission(path: Path, wanted: Collection[str] = ()) -> Submission:
    """Read a notebook file (raising NotebookError if it is not one) and extract what can be graded (``wanted``: the
    graded functions' names).

    Runs in the calling process without limits: for the instructor's own notebooks. A submission
    goes through ``extract_bounded``."""
    cells = read_code_cells(path)
    found = read_cells(cells, wanted)
    notes = found.notes if cells else ("the notebook has no code cells.", *found.notes)
    return Submission(str(path), found.chunks, notes, found.unparsed, found.skipped, found.unparsed_cells)


def extract_kept(path: Path) -> Submission:
    """``extract_submission`` of an instructor's notebook (the master), kept per version of the notebook and of this
    code (grader/kept.py): each grade reads it back instead of parsing the notebook again (~0.015 s)."""
    from grader.kept import keep, read_kept, version_key  # here: hashlib loads OpenSSL (~3 ms) before extract_ahead

    key = version_key(read_regular_file(path), __file__, model.__file__, notebooks.__file__)
    kept = read_kept("extracted", key)
    if kept is not None:
        try:
            return dataclasses.replace(_typed(json.loads(kept), Submission), path=str(path))
        except (TypeError, ValueError, KeyError, RecursionError):
            pass
    submission = extract_submission(path)
    keep("extracted", key, json.dumps(dataclasses.asdict(submission)))
    return submission


_started: dict[tuple[str, tuple[str, ...]], Running] = {}


def extract_ahead(path: Path, wanted: Collection[str] = ()) -> None:
    """Start ``extract_bounded(path)`` now, while the caller goes on (one grade: while the grader imports NumPy and
    loads the tests; a batch: while the notebook before is graded): the next ``extract_bounded`` of the same path takes
    its answer. Never taken: stopped at exit."""
    key = (os.fspath(path), tuple(wanted))
    if key not in _started:
        _started[key] = start_bounded(lambda: _encoded(path, key[1]), EXTRACT_SECONDS, EXTRACT_MEMORY_MB)


@atexit.register
def _cancel_started() -> None:
    while _started:
        _started.popitem()[1].cancel()


def extract_bounded(path: Path, wanted: Collection[str] = (), seconds: float = EXTRACT_SECONDS,
                    memory_mb: int = EXTRACT_MEMORY_MB) -> Submission:
    """``extract_submission`` in a bounded forked child (grader/bounded.py), so that a notebook built to stall the
    parser costs at most ``seconds`` and never the grader's memory. Its JSON answer is checked field by field."""
    running = _started.pop((os.fspath(path), tuple(wanted)), None)
    if running is not None and (seconds, memory_mb) != (EXTRACT_SECONDS, EXTRACT_MEMORY_MB):
        running.cancel()
        running = None
    try:
        raw, status = (running or start_bounded(lambda: _encoded(path, wanted), seconds, memory_mb)).finish(MAX_RESULT_BYTES)
    except AnswerTooLarge:
        raise NotebookError(f"the notebook's extracted code is larger than {MAX_RESULT_BYTES // (1024 * 1024)} MB; "
                            "remove the generated or pasted code and submit again") from None
    return _answer(raw, status, path, seconds, memory_mb)


def _encoded(path: Path, wanted: Collection[str] = ()) -> bytes:
    try:
        return json.dumps(_extraction(path, wanted)).encode()
    except MemoryError:
        return b'{"memory": true}'


def _extraction(path: Path, wanted: Collection[str] = ()) -> dict[str, Any]:
    try:
        return {"submission": dataclasses.asdict(extract_submission(path, wanted))}
    except NotebookError as error:
        return {"error": str(error)}
    except MemoryError:
        return {"memory": True}
    except Exception as error:  # a bug of ours: reported by the parent as the grader's failure
        return {"failed": f"{type(error).__name__}: {error}"}


def _answer(raw: bytes | None, status: int, path: Path, seconds: float, memory_mb: int) -> Submission:
    """The child's answer as a Submission, or the NotebookError that explains why there is none."""
    slow = NotebookError(f"extracting the notebook's code took longer than {seconds:g} s; remove very large or "
                         "generated cells and submit again")
    large = NotebookError(f"extracting the notebook's code needed more than {memory_mb} MB; remove very large "
                          "literals or generated cells and submit again")
    killed_by = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    if raw is None or killed_by == signal.SIGXCPU:
        raise slow
    if not raw:  # SIGKILL from the system is its out-of-memory killer
        raise large if killed_by == signal.SIGKILL else RuntimeError(f"extraction ended without an answer (status {status})")
    try:
        answer = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise RuntimeError("extraction gave a malformed answer") from error
    if not isinstance(answer, dict) or len(answer) != 1:
        raise RuntimeError("extraction gave a malformed answer")
    if "memory" in answer:
        raise large
    if isinstance(answer.get("error"), str):
        raise NotebookError(answer["error"])
    if "submission" not in answer:
        raise RuntimeError(f"extraction failed: {answer.get('failed')}")
    try:
        return dataclasses.replace(_typed(answer["submission"], Submission), path=str(path))
    except (TypeError, ValueError, KeyError) as error:
        raise RuntimeError(f"extraction gave a malformed answer ({error})") from error


@functools.lru_cache(maxsize=8)
def _hints(kind: type) -> dict[str, Any]:
    """A dataclass's field types (evaluated from their text once, not once per chunk)."""
    return get_type_hints(kind)


def _typed(value: Any, kind: Any) -> Any:
    """``value`` read from JSON as ``kind`` (a dataclass, a tuple type, int or str), or ValueError:
    nothing crosses back from the child unchecked."""
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        names = {field.name for field in dataclasses.fields(kind)}
        if not isinstance(value, dict) or set(value) != names:
            raise ValueError(f"{kind.__name__} needs exactly the fields {sorted(names)}")
        hints = _hints(kind)
        return kind(**{name: _typed(value[name], hints[name]) for name in names})
    if get_origin(kind) is tuple:
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {type(value).__name__}")
        args = get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(item, args[0]) for item in value)
        if len(value) != len(args):
            raise ValueError(f"expected {len(args)} items, got {len(value)}")
        return tuple(_typed(item, arg) for item, arg in zip(value, args))
    if kind in (int, str) and type(value) is kind:
        return value
    raise ValueError(f"expected {getattr(kind, '__name__', kind)}, got {type(value).__name__}")


def allowed_chunks(submission: Submission, assignment: Assignment) -> Submission:
    """Drop imports of the assignment's own test modules (the sandbox has none) and, with a note for
    each, of modules the assignment does not allow. Helper modules shipped with the assignment stay:
    the sandbox has the instructor's copies of them."""
    kept, notes = [], list(submission.notes)
    graded = [function.name for function in assignment.functions]
    labels = chunk_labels(submission.chunks, graded)
    for chunk in submission.chunks:
        if chunk.kind == "import" and set(chunk.modules) <= assignment.test_modules:
            if "*" in chunk.names:  # what ``from public_tests import *`` also gave the notebook: the tests' imports
                kept += [c for c in _star_imports(chunk, assignment) if assignment.allows_import(c.modules)]
            continue
        if chunk.modules and not assignment.allows_import(chunk.modules):
            modules = ", ".join(sorted(set(chunk.modules) - set(assignment.allowed_imports)))
            notes.append(f"{labels[chunk.cell]}, line {chunk.line}: `import {modules}` was skipped (this assignment allows "
                         f"{', '.join(assignment.allowed_imports)}).")
        else:
            kept.append(chunk)
    notes += redefined(submission.chunks, graded)
    return dataclasses.replace(submission, chunks=tuple(kept), notes=tuple(notes))


def _star_imports(chunk: Chunk, assignment: Assignment) -> list[Chunk]:
    """The imports a star import of the assignment's test modules also brings (``np`` of ``import numpy as np`` in
    public_tests.py: a notebook that relied on it lost every function), as a chunk in its place."""
    found: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
    for module in chunk.modules:
        for folder in (assignment.source_dir, assignment.release_dir):
            if (folder / f"{module}.py").is_file():
                found += _public_imports(folder / f"{module}.py", assignment.test_modules)
                break
    if not found:
        return []
    code = "\n" * (chunk.line - 1) + "; ".join(line for line, _, _ in found)
    names = tuple(name for _, bound, _ in found for name in bound)
    modules = tuple(module for _, _, used in found for module in used)
    return [dataclasses.replace(chunk, names=names, code=code, modules=modules)]


@functools.lru_cache(maxsize=8)
def _public_imports(path: Path, test_modules: frozenset[str]) -> tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]:
    """(statement, names it binds, modules) of each top-level import of an instructor's module that ``import *``
    passes on: public names (those in ``__all__`` if it has one), not from ``__future__`` or the test modules."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    exported = next((ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                     and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)), None)
    found = []
    for node in tree.body:
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or (isinstance(node, ast.ImportFrom) and (
                node.level or node.module == "__future__")):
            continue
        aliases = [a for a in node.names if a.name != "*" and not (a.asname or a.name).startswith("_")
                   and (exported is None or (a.asname or a.name).split(".")[0] in exported)]
        modules = _imported_modules(node)
        if aliases and not set(modules) & test_modules:
            part = ast.Import(names=aliases) if isinstance(node, ast.Import) else ast.ImportFrom(node.module, aliases, 0)
            found.append((ast.unparse(part), _imported_names(part), modules))
    return tuple(found)


def redefined(chunks: Iterable[Chunk], graded: Collection[str]) -> list[str]:
    """A warning for each graded function defined in more than one cell: the last definition is graded, and a
    student who fixed the first copy sees no change."""
    cells: dict[str, list[int]] = {}
    for chunk in chunks:
        for name in chunk.names if chunk.kind == "def" else ():
            if name in graded and chunk.cell not in cells.setdefault(name, []):
                cells[name].append(chunk.cell)
    counted = {2: "two", 3: "three", 4: "four"}
    return [f"`{name}` is defined in {counted.get(len(found), len(found))} cells; the last one is graded. Search the "
            f"notebook for `def {name}` and keep only the version you mean."
            for name, found in cells.items() if len(found) > 1]


def _last_definitions(chunks: Iterable[Chunk], graded: Collection[str]) -> dict[str, str]:
    """Each graded function's last definition, as lines without comments, blank lines or trailing spaces: text, not
    a parse, as everything of a submission's read on the trusted side."""
    found = {}
    for chunk in chunks:
        for name in chunk.names if chunk.kind == "def" else ():
            if name in graded:
                lines = (line.rstrip() for line in chunk.code.splitlines())
                found[name] = "\n".join(line for line in lines if line and not line.lstrip().startswith("#"))
    return found


def edited(submission: Submission, template: Submission, graded: Collection[str]) -> tuple[str, ...]:
    """The graded functions whose code differs from the release's template: a function the student wrote that fails
    like an untouched template (a NameError, None returned) is not "not started"."""
    ours = _last_definitions(template.chunks, graded)
    return tuple(name for name, code in _last_definitions(submission.chunks, graded).items() if ours.get(name) != code)

