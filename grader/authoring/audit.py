"""How strong are an assignment's tests? Mutation testing through the real grading path.

Every reference function is mutated with operators that mirror real student mistakes
(grader/authoring/mutate.py). Each mutant becomes a notebook (the master with that one cell changed) and is
graded exactly like a submission: same sandbox, same checks. A mutant is killed by the public
tests when its public check fails, and killed by all tests when any of its checks fails. A
survivor is then run against many random inputs (the hidden module's ``sweep``): if it agrees with
the reference everywhere it is judged equivalent; if not, the hidden tests miss a real mistake.

When the hidden tests take a seed, each submission meets its own random values, so every mutant is
graded under several seeds and counts as killed only if it is killed under each of them: a mutant
that gets through with some seed would get through for some students. The seeds are the same for
every mutant and derived from the course key (``grader.grading.seeds.audit_seeds``), never from the
mutant's own code: a figure is then reproducible, a weakness shows on inputs a real submission can
get, and the expected values of each seed are computed once per job.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from grader.authoring.mutate import Mutant, mutants
from grader.config import Assignment
from grader.grading.extract import extract_cells
from grader.grading.seeds import audit_seeds, derive_seed
from grader.grading.suite import load_suite, pinned
from grader.model import GradeReport
from grader.notebooks import code_cells, read_notebook
from grader.reporting.report import render_page, write_atomic
from grader.running.batch import grade_paths

DEFAULT_SEEDS = 3


@dataclass(frozen=True)
class MutantResult:
    function: str
    operator: str
    description: str
    diff: str
    killed_by_public: bool
    killed: bool  # by public and hidden tests together, under every seed
    equivalent: bool  # a survivor that agreed with the reference on every sweep input
    evidence: str = ""
    seeds: int = 1  # how many seeds it was graded under
    killed_under: int = 0  # under how many of them public and hidden tests killed it


@dataclass(frozen=True)
class FunctionAudit:
    function: str
    mutants: int
    killed_by_public: int
    killed: int
    equivalent: int
    gradings: int = 0  # mutants × seeds
    killed_gradings: int = 0

    @property
    def missed(self) -> int:
        """Mutants that compute something wrong and still pass every test under some seed."""
        return self.mutants - self.killed - self.equivalent

    @property
    def kill_rate(self) -> float:
        """The share of (mutant, seed) gradings in which the tests killed the mutant."""
        return self.killed_gradings / self.gradings if self.gradings else 1.0


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


def _seeds(assignment: Assignment, count: int) -> tuple[list[int | None], int | None]:
    """The seeds to grade every mutant under, and the sweep's; [None] when the hidden tests take no seed."""
    suite = load_suite(assignment)  # also refuses early, in this process, when the course key is missing
    if suite.build_hidden is None:
        return [None], None
    return list(audit_seeds(suite.key, assignment, count)), derive_seed(suite.key, assignment, "audit sweep")


def _kind(kind: str, seed: int | None) -> str:
    return kind if seed is None else pinned(kind, seed)


def _judge(mutant: Mutant, killed_under: int, seeds: int, sweep: GradeReport | None) -> tuple[bool, str]:
    """(equivalent, evidence) of a mutant that survived under at least one seed."""
    if killed_under:
        return False, f"killed under {killed_under} of {seeds} seeds only: the hidden tests catch it on some inputs"
    assert sweep is not None
    checks = [c for c in sweep.checks if c.function == mutant.function]
    if checks and all(c.passed for c in checks):
        return True, f"same outputs as the reference on all {len(checks)} random inputs"
    return False, f"differs from the reference on {sum(not c.passed for c in checks)} of {len(checks)} random inputs"


def _kills(assignment: Assignment, made: list[Mutant], paths: list[Path], mode: str, jobs: int,
           seeds: list[int | None]) -> tuple[list[bool], list[int]]:
    """(killed by the public tests, under how many seeds killed) per mutant. The public tests do not
    depend on the seed: a mutant they kill under the first seed dies under every one and is not graded again."""
    first = list(grade_paths(assignment, paths, mode, jobs, suite=_kind("all", seeds[0])))
    public = [_killed(report, m.function, "public") for m, report in zip(made, first)]
    kills = [len(seeds) if public[i] else int(_killed(first[i], m.function)) for i, m in enumerate(made)]
    again = [i for i in range(len(made)) if not public[i]]
    for seed in seeds[1:]:
        for i, report in zip(again, grade_paths(assignment, [paths[i] for i in again], mode, jobs, suite=_kind("all", seed))):
            kills[i] += _killed(report, made[i].function)
    return public, kills


def run_audit(assignment: Assignment, mode: str, jobs: int = 1, seeds: int = DEFAULT_SEEDS) -> list[MutantResult]:
    seed_list, sweep_seed = _seeds(assignment, seeds)
    with tempfile.TemporaryDirectory(prefix="grader-audit-") as scratch:
        made, paths = _write_mutants(assignment, Path(scratch))
        public, kills = _kills(assignment, made, paths, mode, jobs, seed_list)
        survivors = [i for i, k in enumerate(kills) if k == 0]
        swept = dict(zip(survivors, grade_paths(assignment, [paths[i] for i in survivors], mode, jobs,
                                                suite=_kind("sweep", sweep_seed))))
    results = []
    for index, mutant in enumerate(made):
        killed = kills[index] == len(seed_list)
        equivalent, evidence = (False, "") if killed else _judge(mutant, kills[index], len(seed_list), swept.get(index))
        results.append(MutantResult(mutant.function, mutant.operator, mutant.description, mutant.diff, public[index],
                                    killed, equivalent, evidence, seeds=len(seed_list), killed_under=kills[index]))
    return results


def summarise(assignment: Assignment, results: Sequence[MutantResult]) -> list[FunctionAudit]:
    summary = []
    for function in (f.name for f in assignment.functions):
        own = [r for r in results if r.function == function]
        summary.append(FunctionAudit(function, len(own), sum(r.killed_by_public for r in own), sum(r.killed for r in own),
                                     sum(r.equivalent for r in own), sum(r.seeds for r in own),
                                     sum(r.killed_under for r in own)))
    return summary


def table(summary: Sequence[FunctionAudit]) -> str:
    """One row per function and a total; ``kill rate`` is over every (mutant, seed) grading."""
    header = (f"{'function':<26}{'mutants':>8}{'public kills':>14}{'all kills':>11}{'kill rate':>11}"
              f"{'equivalent':>12}{'missed':>8}")
    rows = [header, "-" * len(header)]
    fields = ("mutants", "killed_by_public", "killed", "equivalent", "gradings", "killed_gradings")
    for s in [*summary, FunctionAudit("total", *(sum(getattr(s, k) for s in summary) for k in fields))]:
        public = f"{s.killed_by_public} ({100 * s.killed_by_public / max(s.mutants, 1):.0f}%)"
        rate = f"{100 * s.kill_rate:.1f}%"
        rows.append(f"{s.function:<26}{s.mutants:>8}{public:>14}{s.killed:>11}{rate:>11}{s.equivalent:>12}{s.missed:>8}")
    return "\n".join(rows)


def write_audit(assignment: Assignment, results: Sequence[MutantResult], out_dir: Path) -> None:
    summary = summarise(assignment, results)
    data = {"assignment": assignment.name, "seeds": max((r.seeds for r in results), default=1),
            "summary": [{**asdict(s), "missed": s.missed, "kill_rate": round(s.kill_rate, 4)} for s in summary],
            "mutants": [asdict(r) for r in results]}
    write_atomic(out_dir / "audit.json", json.dumps(data, indent=2) + "\n")
    write_atomic(out_dir / "audit.html", render_page("audit.html.j2", assignment=assignment, summary=summary,
                                                     results=results))
