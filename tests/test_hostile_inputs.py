"""Submissions built to get around the grader rather than to fail a check: a link to the solutions, a FIFO,
notebooks that stall the parser, a huge file, and `grader check` pointed at code of the student's choosing.
Each goes through the real CLI (under bubblewrap where it is installed)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from tests.conftest import ROOT, run_cli, sandbox_mode, write_notebook

MASTER = ROOT / "solutions" / "cnn_step_by_step" / "cnn_step_by_step.ipynb"
RELEASE = ROOT / "assignments" / "cnn_step_by_step"
# Lines of the master's solution code that are not in the student release: they must never reach a report.
SOLUTION_LINES = ("dA_prev_pad[i, top:top + f, left:left + f, :] += W[:, :, :, c] * dZ[i, h, w, c]",
                  "Z[i, h, w, c] = conv_single_step(a_slice_prev, W[:, :, :, c], b[:, :, :, c])")
LIST_5MB = "big = [" + "1, " * (5 * 1024 * 1024 // 3) + "]"


def correct(folder: Path, name: str, solution_cells: dict[str, str], *extra: str) -> Path:
    return write_notebook(folder / f"{name}.ipynb", "import numpy as np", *extra, *solution_cells.values())


def oversized(path: Path) -> Path:
    """A valid notebook of 51 MB (one huge markdown cell), written directly: past the 50 MB cap."""
    head = b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "markdown", "metadata": {}, "source": "'
    path.write_bytes(head + b"x" * (51 * 1024 * 1024) + b'"}]}')
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, solution_cells: dict[str, str]) -> dict[str, dict]:
    """Grade every hostile input in one batch with a correct submission, and return the results by stem."""
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "linked_master.ipynb").symlink_to(MASTER)
    os.mkfifo(folder / "fifo.ipynb")
    (folder / "folder.ipynb").mkdir()
    paths = [
        folder / "linked_master.ipynb",
        correct(folder, "correct", solution_cells),
        folder / "fifo.ipynb",
        folder / "folder.ipynb",
        correct(folder, "newlines", solution_cells, "x = 1" + "\n" * 40000),
        correct(folder, "shell_lines", solution_cells, "\n".join(["!ls"] * 499)),
        correct(folder, "list_literal", solution_cells, LIST_5MB),
        oversized(folder / "oversized.ipynb"),
    ]
    out = folder / "out"
    result = run_cli("grade", "cnn_step_by_step", *paths, "--out", out, "--sandbox", sandbox_mode())
    assert result.returncode == 0, result.stderr
    found = {p.stem: json.loads((out / p.stem / "results.json").read_text()) for p in paths}
    for stem in found:
        found[stem]["_feedback"] = (out / stem / "feedback.html").read_text()
        page = out / stem / "feedback-notebook.html"
        found[stem]["_page"] = page.read_text() if page.exists() else ""
    return found


def test_a_link_to_the_solutions_scores_zero_and_shows_none_of_them(graded: dict) -> None:
    linked = graded["linked_master"]
    assert linked["score"] == 0
    assert "not a regular file (a symbolic link)" in linked["output"]
    everything = json.dumps(linked) + linked["_feedback"]
    assert "not a regular file" in linked["_feedback"]
    assert not [line for line in SOLUTION_LINES if line in everything]
    assert graded["correct"]["score"] == 100  # the same batch goes on


@pytest.mark.parametrize(("stem", "kind"), [("fifo", "a FIFO"), ("folder", "a directory")])
def test_a_fifo_or_a_folder_is_refused_without_hanging_the_batch(graded: dict, stem: str, kind: str) -> None:
    assert graded[stem]["score"] == 0
    assert f"not a regular file ({kind})" in graded[stem]["output"]


@pytest.mark.parametrize("stem", ["newlines", "shell_lines"])
def test_cells_built_to_stall_the_parser_cost_nothing(graded: dict, stem: str) -> None:
    assert graded[stem]["score"] == 100
    assert all(t["status"] == "passed" for t in graded[stem]["tests"])


def test_a_huge_literal_is_skipped_with_a_note_and_the_rest_is_graded(graded: dict) -> None:
    literal = graded["list_literal"]
    assert literal["score"] == 100
    assert f"cell 2 was skipped: it has {len(LIST_5MB):,} characters, more than the 200,000" in literal["_feedback"]
    # the annotated page too (highlighting the cell took 30 s: the views were lost), the huge cell shown plain and cut
    assert f"{len(LIST_5MB) - 200_000:,} more characters not shown here" in literal["_page"]


def test_a_notebook_above_the_size_cap_is_refused(graded: dict) -> None:
    assert graded["oversized"]["score"] == 0
    assert "larger than 50 MB" in graded["oversized"]["output"]


def notebook_claiming(path: Path, assignment: object, *cells: str) -> Path:
    """A notebook whose metadata names ``assignment``, as the student release's does."""
    notebook = nbformat.v4.new_notebook(metadata={"grader": {"assignment": assignment}})
    notebook.cells = [nbformat.v4.new_code_cell(cell, id=f"cell-{i}") for i, cell in enumerate(cells)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


@pytest.mark.parametrize("claim", ["../../solutions/cnn_step_by_step", str(ROOT / "solutions" / "cnn_step_by_step"),
                                   "..", "cnn_step_by_step/../../solutions/cnn_step_by_step"])
def test_check_refuses_an_assignment_path_in_the_metadata(tmp_path: Path, claim: str) -> None:
    path = notebook_claiming(tmp_path / "mine.ipynb", claim, "def zero_pad(X, pad):\n    return X")
    result = run_cli("check", path, "--sandbox", sandbox_mode())
    assert result.returncode == 2
    assert "is not an assignment name" in result.stderr and "--assignment NAME" in result.stderr
    flagged = run_cli("check", path, "--assignment", claim, "--sandbox", sandbox_mode())
    assert flagged.returncode == 2 and "is not an assignment name" in flagged.stderr


def test_check_never_runs_an_assignment_the_student_hands_in(tmp_path: Path) -> None:
    """An assignment.toml and public_tests.py beside the notebook are the student's code: never imported."""
    student = tmp_path / "hand_in"
    student.mkdir()
    shutil.copy(RELEASE / "assignment.toml", student / "assignment.toml")
    marker = tmp_path / "public_tests_ran"
    (student / "public_tests.py").write_text(f"open({str(marker)!r}, 'w').write('owned')\n")
    path = notebook_claiming(student / "cnn_step_by_step.ipynb", "cnn_step_by_step", "def zero_pad(X, pad):\n    return X")
    from_course = run_cli("check", path, "--sandbox", sandbox_mode())  # run from the course folder: the real release
    assert from_course.returncode == 1 and "FAIL zero_pad_test" in from_course.stdout
    from_hand_in = run_cli("check", path, "--sandbox", sandbox_mode(), cwd=student)  # no assignments/ here
    assert from_hand_in.returncode == 2 and "no assignment 'cnn_step_by_step'" in from_hand_in.stderr
    assert not marker.exists()


def test_check_finds_the_release_under_the_course_folder(tmp_path: Path) -> None:
    path = notebook_claiming(tmp_path / "mine.ipynb", "cnn_step_by_step", "def zero_pad(X, pad):\n    return X")
    result = run_cli("check", path, "--course", ROOT, "--sandbox", sandbox_mode(), cwd=tmp_path)
    assert result.returncode == 1 and "public tests: 0/8 passed" in result.stdout
    unnamed = notebook_claiming(tmp_path / "unnamed.ipynb", {"not": "a name"}, "x = 1")
    refused = run_cli("check", unnamed, "--course", ROOT, "--sandbox", sandbox_mode())
    assert refused.returncode == 2 and "pass --assignment NAME" in refused.stderr
