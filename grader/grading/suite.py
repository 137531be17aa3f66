"""The instructor's side of an assignment, loaded into the grader's own (trusted) process:
reference functions from the master notebook, the public tests and the hidden checks.

The master notebook is the single source of the reference code; nothing here is ever sent
into the sandbox.
"""

from __future__ import annotations
import __future__

import ast
import contextlib
import dataclasses
import functools
import importlib.util
import inspect
import json
import operator
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from grader.checks import Case
from grader.config import Assignment
from grader.errors import GraderError
from grader.grading.extract import allowed_chunks, extract_kept, extract_submission
from grader.grading.seeds import course_key, submission_seed
from grader.kept import keep, read_kept, version_key
from grader.mistakes import Mistake, from_public_hints, public_hints
from grader.model import Chunk, Submission

#: Every ``from __future__`` feature's compiler flag.
FUTURES = functools.reduce(operator.or_, (getattr(__future__, name).compiler_flag for name in __future__.all_feature_names))

#: hidden-case builds kept per process, by seed: a regrade of the same notebook (or every mutant of an
#: audit, which share their seeds) reuses the expected values; a batch of new notebooks gains nothing
BUILDS_KEPT = 4


@dataclass(frozen=True)
class Suite:
    public: dict[str, Callable[[Callable[..., Any]], None]]  # function name → its public test
    hidden: tuple[Case, ...]
    reference: SimpleNamespace | None
    mistakes: tuple[Mistake, ...] = ()
    #: graded function → the graded functions whose reference it may get when isolated
    depends: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: seed → hidden cases, when the hidden tests take a seed (None: ``hidden`` is the same for everyone)
    build_hidden: Callable[[int], tuple[Case, ...]] | None = None
    key: bytes = b""
    pinned_seed: int | None = None  # every submission gets this seed (the audit), instead of its own

    def for_submission(self, assignment: Assignment, submission: Submission) -> Suite:
        """This suite with the hidden cases the submission meets: drawn from its own seed, so that
        inputs and answers recorded from one submission are of no use in the next."""
        if self.build_hidden is None:
            return self
        seed = submission_seed(self.key, assignment, submission) if self.pinned_seed is None else self.pinned_seed
        return dataclasses.replace(self, hidden=self.build_hidden(seed))

    def prepare_hidden(self) -> None:
        """Have the hidden cases that can (``Case.prepare``) work out what they expect now, in time the grader would
        spend waiting anyway. A case whose preparation fails fails again, and is reported, when it runs."""
        for case in self.hidden:
            if case.prepare is not None:
                with contextlib.suppress(Exception):
                    case.prepare()

    def stubs_for(self, function: str, failed: set[str]) -> dict[str, Callable[..., Any]]:
        """The references to stand in for graded functions the submission got wrong: only those that
        ``function``'s reference itself relies on, so that no other function's reference can be used
        as an oracle."""
        return {other: getattr(self.reference, other) for other in self.depends.get(function, ()) if other in failed}

    def checks_for(self, function: str) -> list[tuple[str, str, str, Callable[[Callable[..., Any]], None]]]:
        """(name, kind, params, run) of every check of one function, public first."""
        found = []
        if function in self.public:
            found.append((f"{function}_test", "public", "", self.public[function]))
        found += [(case.name, "hidden", case.params, case.run) for case in self.hidden if case.function == function]
        return found


def _load_module(path: Path, name: str) -> ModuleType:
    """Import an instructor module by path (its folder importable, for helper modules it uses)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    with importable_from(path.parent):
        spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=8)
def _extracted(path: Path, modified_ns: int, size: int) -> Submission:
    return extract_kept(path)


def _master_chunks(assignment: Assignment) -> tuple[Chunk, ...]:
    """The master notebook's code, read once per version of the file (the reference and the isolation graph both
    need it), and extracted once per version of the file and of the extraction code (``extract_kept``)."""
    try:
        status = assignment.master_notebook.stat()
    except OSError:  # extraction says what is wrong with it
        return allowed_chunks(extract_submission(assignment.master_notebook), assignment).chunks
    master = _extracted(assignment.master_notebook, status.st_mtime_ns, status.st_size)
    return allowed_chunks(master, assignment).chunks


@contextlib.contextmanager
def importable_from(folder: Path) -> Iterator[None]:
    """The assignment's helper modules importable while its instructor code loads, as beside the notebook."""
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))


def load_reference(assignment: Assignment) -> SimpleNamespace:
    """Run the master notebook's definitions (not its test or plot cells) into a namespace."""
    namespace: dict[str, Any] = {"__name__": f"reference_{assignment.name}"}
    futures = 0  # the notebook's ``from __future__`` imports so far, carried from cell to cell as in IPython
    with importable_from(assignment.source_dir):
        for chunk in _master_chunks(assignment):
            try:
                code = compile(chunk.code, f"{assignment.master_notebook.name}, cell {chunk.cell}", "exec", flags=futures,
                               dont_inherit=True)
                futures |= code.co_flags & FUTURES
                exec(code, namespace)
            except Exception as error:
                raise GraderError(f"{assignment.master_notebook}, cell {chunk.cell}: the reference code failed to load "
                                  f"({type(error).__name__}: {error})") from error
    missing = [f.name for f in assignment.functions if not callable(namespace.get(f.name))]
    if missing:
        raise GraderError(f"the master notebook {assignment.master_notebook} does not define {', '.join(missing)}")
    return SimpleNamespace(**{k: v for k, v in namespace.items() if not k.startswith("__")})


def reference_depends(chunks: tuple[Chunk, ...], graded: list[str]) -> dict[str, tuple[str, ...]]:
    """Graded function → the other graded functions its reference reads, directly or through any
    helper or constant of the master notebook (the last definition of a name wins, as when it runs)."""
    reads: dict[str, set[str]] = {}
    for chunk in chunks:
        if chunk.kind != "import":
            names_read = {n.id for n in ast.walk(ast.parse(chunk.code)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
            reads.update(dict.fromkeys(chunk.names, names_read))
    found = {}
    for function in graded:
        seen: set[str] = set()
        todo = list(reads.get(function, ()))
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo += reads.get(name, ())
        found[function] = tuple(other for other in graded if other in seen and other != function)
    return found


def isolation_depends(assignment: Assignment) -> dict[str, tuple[str, ...]]:
    """``depends`` from assignment.toml where given, otherwise what the reference itself calls."""
    found = _kept_depends(assignment, [f.name for f in assignment.functions])
    return {f.name: f.depends if f.depends is not None else found[f.name] for f in assignment.functions}


def _kept_depends(assignment: Assignment, graded: list[str]) -> dict[str, tuple[str, ...]]:
    """``reference_depends`` of the master notebook's chunks, worked out once per content of those chunks (and of this
    code) and kept (grader/kept.py): each grade would parse every reference cell again (~2 ms)."""
    chunks = _master_chunks(assignment)  # extracted already, for the reference
    read = [[chunk.names, chunk.code] for chunk in chunks if chunk.kind != "import"]  # what reference_depends reads
    key = version_key(json.dumps([read, graded]).encode(), __file__)
    with contextlib.suppress(ValueError, RecursionError):
        kept = json.loads(read_kept("depends", key) or b"null")
        if isinstance(kept, dict) and list(kept) == graded and all(
                isinstance(others, list) and set(others) <= set(graded) for others in kept.values()):
            return {name: tuple(kept[name]) for name in graded}
    found = reference_depends(chunks, graded)
    keep("depends", key, json.dumps(found))
    return found


def takes_seed(function: Callable[..., Any]) -> bool:
    """Whether a hidden module's ``cases`` or ``sweep`` has a ``seed`` parameter (older ones do not)."""
    return "seed" in inspect.signature(function).parameters


def _hidden_builder(make: Callable[..., Any], reference: SimpleNamespace) -> Callable[[int], tuple[Case, ...]] | None:
    if not takes_seed(make):
        return None
    return functools.lru_cache(maxsize=BUILDS_KEPT)(lambda seed: tuple(make(reference, seed=seed)))


def split_kind(kind: str) -> tuple[str, int | None]:
    """``all@123`` → ("all", 123): a suite whose hidden cases use seed 123 for every submission."""
    name, _, seed = kind.partition("@")
    return name, int(seed) if seed else None


def pinned(kind: str, seed: int) -> str:
    """The ``kind`` to load a suite that gives every submission the hidden cases of ``seed`` (the audit)."""
    return f"{kind}@{seed}"


#: The release's reference-free known mistakes (grader.mistakes.public_hints), for ``grader check``.
KNOWN_MISTAKES = "known_mistakes.json"


def load_catalogue(assignment: Assignment, reference: SimpleNamespace) -> list[Mistake]:
    """The assignment's catalogue of known mistakes (empty without a mistakes module)."""
    path = assignment.source_dir / assignment.mistakes
    if not path.exists():
        return []
    return list(_load_module(path, f"grader_suite_{assignment.name}_mistakes").catalogue(reference))


def known_mistakes_json(assignment: Assignment) -> bytes | None:
    """The release's known_mistakes.json: the catalogue's reference-free entries (None: there are none)."""
    if not (assignment.source_dir / assignment.mistakes).exists():
        return None
    hints = public_hints(load_catalogue(assignment, load_reference(assignment)))
    return (json.dumps(hints, indent=1, ensure_ascii=False) + "\n").encode("utf-8") if hints else None


def released_mistakes(assignment: Assignment) -> tuple[Mistake, ...]:
    """What ``grader check`` can recognise without a reference: the release's known_mistakes.json (course data, read
    as JSON; never from the student's folder), else nothing."""
    for folder in (assignment.release_dir, assignment.source_dir):
        path = folder / KNOWN_MISTAKES
        if path.is_file():
            return from_public_hints(json.loads(path.read_text(encoding="utf-8")))
    return ()


def load_suite(assignment: Assignment, kind: str = "all") -> Suite:
    """The checks to run. ``all``: public and hidden, with the reference (for isolation) and the known
    mistakes. ``public``: what ``grader check`` and students have. ``sweep``: only the hidden module's
    many random cases, which ``grader audit`` uses to judge whether a surviving mutant is equivalent.
    ``KIND@SEED`` (see ``pinned``) gives every submission the hidden cases of one seed."""
    kind, pinned_seed = split_kind(kind)
    prefix = f"grader_suite_{assignment.name}"
    public = _load_module(assignment.source_dir / assignment.public_tests, f"{prefix}_public")
    tests = {f.name: getattr(public, f"{f.name}_test") for f in assignment.functions if hasattr(public, f"{f.name}_test")}
    if kind == "public" or not assignment.instructor:
        return Suite(public=tests, hidden=(), reference=None, mistakes=released_mistakes(assignment))
    reference = load_reference(assignment)
    hidden_path = assignment.source_dir / assignment.hidden_tests
    hidden = _load_module(hidden_path, f"{prefix}_hidden") if hidden_path.exists() else None
    make = getattr(hidden, "sweep" if kind == "sweep" else "cases", None) if hidden else None
    build = _hidden_builder(make, reference) if make else None
    key = course_key(assignment) if build and pinned_seed is None else b""
    # Until a submission is seen: the names and parameters of the checks, which no seed changes.
    listed = tuple(build(pinned_seed or 0) if build else make(reference) if make else ())
    depends = isolation_depends(assignment)
    if kind == "sweep":
        return Suite(public={}, hidden=listed, reference=reference, depends=depends, build_hidden=build, key=key,
                     pinned_seed=pinned_seed)
    mistakes = load_catalogue(assignment, reference)
    return Suite(public=tests, hidden=listed, reference=reference, mistakes=tuple(mistakes), depends=depends,
                 build_hidden=build, key=key, pinned_seed=pinned_seed)
