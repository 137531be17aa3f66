"""Shared fixtures: the real course folder, notebooks built in code, and the CLI run as a subprocess."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from hypothesis import settings

from grader.config import Assignment, load_assignment
from grader.grading.suite import load_reference

ROOT = Path(__file__).resolve().parent.parent

# The same examples on every run: a red CI must be reproducible.
settings.register_profile("repeatable", derandomize=True, deadline=None, database=None)
settings.load_profile("repeatable")
ASSIGNMENT = "cnn_step_by_step"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def assignment() -> Assignment:
    return load_assignment(ASSIGNMENT, ROOT)


@pytest.fixture(scope="session")
def reference(assignment: Assignment):
    """The reference functions, taken from the master notebook as the grader takes them."""
    return load_reference(assignment)


def load_module(path: Path, name: str) -> ModuleType:
    """A module of the course (public or hidden tests, a catalogue) imported by path, as the test needs it."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_notebook(path: Path, *cells: str, markdown: tuple[str, ...] = ()) -> Path:
    """A v4 notebook whose code cells are ``cells`` (markdown cells first, if any)."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell(m) for m in markdown] + [nbformat.v4.new_code_cell(c) for c in cells]
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


@pytest.fixture
def make_notebook(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str, *cells: str, markdown: tuple[str, ...] = ()) -> Path:
        return write_notebook(tmp_path / name, *cells, markdown=markdown)

    return make


def master_source(assignment: Assignment) -> dict[str, str]:
    """Graded function name → the master notebook's code cell defining it."""
    notebook = nbformat.read(assignment.master_notebook, as_version=4)
    found = {}
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.source.startswith("# GRADED FUNCTION:"):
            found[cell.source.split("\n", 1)[0].split(":", 1)[1].strip()] = cell.source
    return found


@pytest.fixture(scope="session")
def solution_cells(assignment: Assignment) -> dict[str, str]:
    return master_source(assignment)


def run_cli(*args: str | Path, cwd: Path = ROOT, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real command line, as a user would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    result = subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"grader {' '.join(map(str, args))} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


def sandbox_mode() -> str:
    """bwrap where it is installed; CI sets GRADER_REQUIRE_BWRAP=1 so that a missing bwrap fails instead of skipping."""
    if shutil.which("bwrap"):
        return "bwrap"
    if os.environ.get("GRADER_REQUIRE_BWRAP"):
        pytest.fail("GRADER_REQUIRE_BWRAP is set but bubblewrap is not installed")
    return "none"


@pytest.fixture(scope="session")
def python_for_anyone() -> Iterator[Path]:
    """A Python with NumPy that an unprivileged user can run (this machine's own lies under /root, 0700): a virtual
    environment of /usr/bin/python3, built once, in a folder everyone may enter. For the tests of GRADER_WORKER_USER."""
    if os.geteuid() != 0 or not Path("/usr/bin/python3").is_file():
        pytest.skip("switching user needs root and a Python outside /root (CI has both)")
    top = Path(tempfile.mkdtemp(prefix="grader-python-for-anyone-"))
    top.chmod(0o755)
    subprocess.run(["/usr/bin/python3", "-m", "venv", top / "venv"], check=True)
    subprocess.run([top / "venv" / "bin" / "pip", "install", "--quiet", "numpy"], check=True)
    yield top / "venv" / "bin" / "python"
    shutil.rmtree(top)
