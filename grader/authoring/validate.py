"""Run the master and the student notebooks in a real Jupyter kernel (nbclient).

The master must pass every public test; the student notebook must run to its end while every
public test fails, which shows the solutions are really gone. The reference is also timed on every
check (grader/authoring/limits.py): ``call_seconds`` must leave a correct but slower solution room to finish.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError
from nbformat import NotebookNode

from grader.authoring.generate import CHECKS_MODULE
from grader.authoring.limits import limits_check
from grader.authoring.reference_check import reference_failures
from grader.config import Assignment
from grader.grading.suite import load_suite
from grader.notebooks import read_notebook
from grader.running.environments import prepare

PASSED = "All tests passed"


@dataclass(frozen=True)
class Validation:
    notebook: Path
    problems: tuple[str, ...]
    notes: tuple[str, ...] = ()  # figures worth showing the instructor, whatever the outcome

    @property
    def ok(self) -> bool:
        return not self.problems


def _test_cells(notebook: NotebookNode, assignment: Assignment) -> list[tuple[int, NotebookNode]]:
    names = "|".join(re.escape(f.name) for f in assignment.functions)
    pattern = re.compile(rf"^\s*({names})_test\(")
    return [(n, c) for n, c in enumerate(notebook.cells, 1) if c.cell_type == "code" and pattern.search(c.source)]


def _text(cell: NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", "") + "".join(output.get("traceback", [])) + str(output.get("data", {}).get("text/plain", "")))
    return "".join(parts)


def _kernel_python(assignment: Assignment) -> str:
    """The interpreter of the assignment's environment with ipykernel added (built on first use); "" for the
    grader's own kernel."""
    spec = assignment.environment
    environment = prepare(spec.with_kernel()) if spec is not None else None
    return environment.python if environment is not None else ""


def _kernel(python: str, folder: Path) -> KernelManager:
    """A kernel of ``python`` (a kernelspec written in ``folder``), or the grader's default ``python3``."""
    if not python:
        return KernelManager(kernel_name="python3")
    (folder / "grader-env").mkdir()
    spec = {"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "grader environment",
            "language": "python"}
    (folder / "grader-env" / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return KernelManager(kernel_name="grader-env", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(folder)]))


def _execute(notebook: NotebookNode, files: dict[str, Path], allow_errors: bool, timeout: int, python: str = "") -> str | None:
    """Run beside copies of ``files`` (name → source) in a scratch folder, in a kernel of ``python`` ("" for the
    grader's own); say what stopped it, if anything."""
    with tempfile.TemporaryDirectory(prefix="grader-validate-") as scratch, \
            tempfile.TemporaryDirectory(prefix="grader-kernel-") as kernels:
        for name, path in files.items():
            shutil.copy(path, Path(scratch) / name)
        client = NotebookClient(notebook, km=_kernel(python, Path(kernels)), timeout=timeout, kernel_name="python3",
                                allow_errors=allow_errors, resources={"metadata": {"path": scratch}})
        try:
            client.execute()
        except CellExecutionError as error:
            cell = next((n for n, c in enumerate(notebook.cells, 1) if c.get("outputs") and any(
                o.get("output_type") == "error" for o in c.outputs)), "?")
            return f"cell {cell} raised {error.ename}: {error.evalue}"
        except DeadKernelError as error:
            return f"the kernel died: {error}"
        except TimeoutError as error:
            return f"a cell ran longer than {timeout} s: {error}"
    return None


def validate_master(assignment: Assignment, timeout: int = 300) -> Validation:
    notebook = read_notebook(assignment.master_notebook)
    files = {name: assignment.source_dir / name for name in assignment.release_files}
    stopped = _execute(notebook, {**files, "grader_checks.py": CHECKS_MODULE}, allow_errors=False, timeout=timeout,
                       python=_kernel_python(assignment))
    problems = []
    if stopped:
        problems.append(stopped)
    tests = _test_cells(notebook, assignment)
    if not tests:
        problems.append("no public test cell (e.g. zero_pad_test(zero_pad)) was found")
    suite = load_suite(assignment)
    problems += [f"the reference fails its own check {failure}" for failure in reference_failures(assignment, suite)]
    problems += [f"cell {n}: the public test did not pass" for n, cell in tests if not stopped and PASSED not in _text(cell)]
    limits, too_tight = limits_check(assignment, suite)
    return Validation(assignment.master_notebook, tuple(problems + too_tight), tuple(limits))


def validate_student(assignment: Assignment, release_dir: Path | None = None, timeout: int = 300) -> Validation:
    release_dir = assignment.release_dir if release_dir is None else release_dir
    path = release_dir / assignment.notebook
    notebook = read_notebook(path)
    files = {p.name: p for p in release_dir.iterdir() if p.is_file() and p.name != assignment.notebook}
    problems = []
    stopped = _execute(notebook, files, allow_errors=True, timeout=timeout, python=_kernel_python(assignment))
    if stopped:
        problems.append(stopped)
    tests = _test_cells(notebook, assignment)
    if len(tests) < len(assignment.functions):
        problems.append(f"only {len(tests)} public test cells for {len(assignment.functions)} graded functions")
    problems += [f"cell {n}: the public test passed on the stripped notebook" for n, cell in tests if PASSED in _text(cell)]
    return Validation(path, tuple(problems))
