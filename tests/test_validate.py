"""`grader validate` runs notebooks in a real Jupyter kernel."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.kernel


def test_validate_the_real_assignment() -> None:
    result = run_cli("validate", "cnn_step_by_step")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok ") == 2


def test_a_broken_master_is_reported_with_its_cell(tmp_path: Path) -> None:
    course = tmp_path / "course"
    shutil.copytree(ROOT / "solutions", course / "solutions")
    shutil.copytree(ROOT / "assignments", course / "assignments")
    master = course / "solutions" / "cnn_step_by_step" / "cnn_step_by_step.ipynb"
    notebook = nbformat.read(master, as_version=4)
    number, cell = next((n, c) for n, c in enumerate(notebook.cells, 1) if c.source.startswith("# GRADED FUNCTION: zero_pad"))
    cell.source = cell.source.replace("(pad, pad), (pad, pad), (0, 0))", "(pad, pad), (pad, pad + 1), (0, 0))")
    nbformat.write(notebook, master)
    result = run_cli("validate", "cnn_step_by_step", cwd=course)
    assert result.returncode == 1
    assert f"FAIL {master}" in result.stdout
    assert "raised CheckFailed: zero_pad(x, 3) has shape (4, 9, 10, 2), expected (4, 9, 9, 2)." in result.stdout
    test_cell = next(n for n, c in enumerate(notebook.cells, 1) if c.source.strip() == "zero_pad_test(zero_pad)")
    assert test_cell > number and f"cell {test_cell} raised" in result.stdout
