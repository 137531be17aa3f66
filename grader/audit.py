"""How strong are an assignment's tests? Mutation testing through the real grading path.

Every reference function is mutated with operators that mirror real student mistakes
(grader/mutate.py). Each mutant becomes a notebook (the master with that one cell changed) and is
graded exactly like a submission: same sandbox, same checks. A mutant is killed by the public
tests when its public check fails, and killed by all tests when any of its checks fails. A
survivor is then run against many random inputs (the hidden module's ``sweep``): if it agrees with
the reference everywhere it is judged equivalent; if not, the hidden tests miss a real mistake.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from grader.batch import grade_paths
from grader.config import Assignment
from grader.extract import extract_cells
from grader.model import GradeReport
from grader.mutate import Mutant, mutants
from grader.notebooks import code_cells, read_notebook
from grader.report import render_page, write_atomic


@dataclass(frozen=True)
class MutantResult:
    function: str
    operator: str
    description: str
    diff: str
    killed_by_public: bool
    killed: bool  # by public and hidden tests together
    equivalent: bool  # a survivor that agreed with the reference on every sweep input
    evidence: str = ""


@dataclass(frozen=True)
class FunctionAudit:
    function: str
    mutants: int
    killed_by_public: int
    killed: int
    equivalent: int

    @property
    def missed(self) -> int:
        """Mutants that compute something wrong and still pass every test."""
        return self.mutants - self.killed - self.equivalent


def _graded_cells(assignment: Assignment) -> dict[str, tuple[int, str]]:
    """Function → (cell index, cell source) of the master cell that defines it last."""
    cells = code_cells(read_notebook(assignment.master_notebook))
    chunks, _, _ = extract_cells(cells)
    numbers = {name: chunk.cell for chunk in chunks if chunk.kind == "def" for name in chunk.names}
    sources = dict(cells)
    return {f.name: (numbers[f.name] - 1, sources[numbers[f.name]]) for f in assignment.functions if f.name in numbers}


def _write_mutants(assignment: Assignment, folder: Path) -> tuple[list[Mutant], list[Path]]:
    master = nbformat.read(assignment.master_notebook, as_version=4)
    made: list[Mutant] = []
    paths: list[Path] = []
    for function, (index, source) in _graded_cells(assignment).items():
        for mutant in mutants(source, function):
            notebook = nbformat.from_dict(master)
            notebook.cells[index].source = mutant.source
            path = folder / f"{function}-{len(made):04d}.ipynb"
            nbformat.write(notebook, path)
            made.append(mutant)
            paths.append(path)
    return made, paths


def _killed(report: GradeReport, function: str, kind: str | None = None) -> bool:
    return any(not c.passed for c in report.checks if c.function == function and kind in (None, c.kind))


def run_audit(assignment: Assignment, mode: str, jobs: int = 1) -> list[MutantResult]:
    with tempfile.TemporaryDirectory(prefix="grader-audit-") as scratch:
        made, paths = _write_mutants(assignment, Path(scratch))
        reports = list(grade_paths(assignment, paths, mode, jobs))
        survivors = [i for i, (m, r) in enumerate(zip(made, reports)) if not _killed(r, m.function)]
        swept = dict(zip(survivors, grade_paths(assignment, [paths[i] for i in survivors], mode, jobs, suite="sweep")))
    results = []
    for index, (mutant, report) in enumerate(zip(made, reports)):
        killed = _killed(report, mutant.function)
        equivalent, evidence = False, ""
        if not killed:
            sweep = [c for c in swept[index].checks if c.function == mutant.function]
            equivalent = bool(sweep) and all(c.passed for c in sweep)
            evidence = (f"same outputs as the reference on all {len(sweep)} random inputs" if equivalent else
                        f"differs from the reference on {sum(not c.passed for c in sweep)} of {len(sweep)} random inputs")
        results.append(MutantResult(mutant.function, mutant.operator, mutant.description, mutant.diff,
                                    _killed(report, mutant.function, "public"), killed, equivalent, evidence))
    return results


def summarise(assignment: Assignment, results: Sequence[MutantResult]) -> list[FunctionAudit]:
    summary = []
    for function in (f.name for f in assignment.functions):
        own = [r for r in results if r.function == function]
        summary.append(FunctionAudit(function, len(own), sum(r.killed_by_public for r in own), sum(r.killed for r in own),
                                     sum(r.equivalent for r in own)))
    return summary


def table(summary: Sequence[FunctionAudit]) -> str:
    header = f"{'function':<26}{'mutants':>8}{'public kills':>14}{'all kills':>11}{'equivalent':>12}{'missed':>8}"
    rows = [header, "-" * len(header)]
    for s in [*summary, FunctionAudit("total", *(sum(getattr(s, k) for s in summary) for k in
                                                  ("mutants", "killed_by_public", "killed", "equivalent")))]:
        public = f"{s.killed_by_public} ({100 * s.killed_by_public / max(s.mutants, 1):.0f}%)"
        rows.append(f"{s.function:<26}{s.mutants:>8}{public:>14}{s.killed:>11}{s.equivalent:>12}{s.missed:>8}")
    return "\n".join(rows)


def write_audit(assignment: Assignment, results: Sequence[MutantResult], out_dir: Path) -> None:
    summary = summarise(assignment, results)
    data = {"assignment": assignment.name,
            "summary": [{**asdict(s), "missed": s.missed} for s in summary],
            "mutants": [asdict(r) for r in results]}
    write_atomic(out_dir / "audit.json", json.dumps(data, indent=2) + "\n")
    write_atomic(out_dir / "audit.html", render_page("audit.html.j2", assignment=assignment, summary=summary,
                                                     results=results))
