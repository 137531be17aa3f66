"""The instructor's side of an assignment, loaded into the grader's own (trusted) process:
reference functions from the master notebook, the public tests and the hidden checks.

The master notebook is the single source of the reference code; nothing here is ever sent
into the sandbox.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from grader.checks import Case
from grader.config import Assignment
from grader.extract import allowed_chunks, extract_submission
from grader.mistakes import Mistake


@dataclass(frozen=True)
class Suite:
    public: dict[str, Callable[[Callable[..., Any]], None]]  # function name → its public test
    hidden: tuple[Case, ...]
    reference: SimpleNamespace | None
    mistakes: tuple[Mistake, ...] = ()

    def checks_for(self, function: str) -> list[tuple[str, str, str, Callable[[Callable[..., Any]], None]]]:
        """(name, kind, params, run) of every check of one function, public first."""
        found = []
        if function in self.public:
            found.append((f"{function}_test", "public", "", self.public[function]))
        found += [(case.name, "hidden", case.params, case.run) for case in self.hidden if case.function == function]
        return found


def _load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_reference(assignment: Assignment) -> SimpleNamespace:
    """Run the master notebook's definitions (not its test or plot cells) into a namespace."""
    namespace: dict[str, Any] = {"__name__": f"reference_{assignment.name}"}
    for chunk in allowed_chunks(extract_submission(assignment.master_notebook), assignment).chunks:
        exec(compile(chunk.code, f"{assignment.master_notebook.name}, cell {chunk.cell}", "exec"), namespace)
    missing = [f.name for f in assignment.functions if not callable(namespace.get(f.name))]
    if missing:
        raise RuntimeError(f"the master notebook does not define {', '.join(missing)}")
    return SimpleNamespace(**{k: v for k, v in namespace.items() if not k.startswith("__")})


def load_suite(assignment: Assignment, kind: str = "all") -> Suite:
    """The checks to run. ``all``: public and hidden, with the reference (for isolation) and the known
    mistakes. ``public``: what ``grader check`` and students have. ``sweep``: only the hidden module's
    many random cases, which ``grader audit`` uses to judge whether a surviving mutant is equivalent."""
    prefix = f"grader_suite_{assignment.name}"
    public = _load_module(assignment.source_dir / assignment.public_tests, f"{prefix}_public")
    tests = {f.name: getattr(public, f"{f.name}_test") for f in assignment.functions if hasattr(public, f"{f.name}_test")}
    if kind == "public" or not assignment.instructor:
        return Suite(public=tests, hidden=(), reference=None)
    reference = load_reference(assignment)
    hidden_path = assignment.source_dir / assignment.hidden_tests
    hidden = _load_module(hidden_path, f"{prefix}_hidden") if hidden_path.exists() else None
    if kind == "sweep":
        return Suite(public={}, hidden=tuple(hidden.sweep(reference) if hidden else ()), reference=reference)
    mistakes_path = assignment.source_dir / assignment.mistakes
    mistakes = _load_module(mistakes_path, f"{prefix}_mistakes").catalogue(reference) if mistakes_path.exists() else []
    return Suite(public=tests, hidden=tuple(hidden.cases(reference) if hidden else ()), reference=reference,
                 mistakes=tuple(mistakes))
