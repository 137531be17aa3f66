"""docs/authoring.md works as written: its complete small assignment (section 10) is built from the page itself,
in a temporary course folder, generated, and graded through the CLI; a right submission earns full marks and a
wrong one loses that function's points and is told which known mistake it made."""

from __future__ import annotations

import json
import re
import secrets
import shutil
from pathlib import Path

import nbformat
import pytest

from tests.conftest import ROOT, run_cli, sandbox_mode, write_notebook

GUIDE = ROOT / "docs" / "authoring.md"
BLOCK = re.compile(r"<!-- (file: (?P<path>\S+)|(?P<cell>notebook cell)) -->\n```\w*\n(?P<code>.*?)\n```", re.S)


def guide_parts() -> tuple[dict[str, str], list[str]]:
    """The files the guide's example shows (path → text) and the master notebook's code cells, in order."""
    files, cells = {}, []
    for match in BLOCK.finditer(GUIDE.read_text(encoding="utf-8")):
        if match["cell"]:
            cells.append(match["code"])
        else:
            files[match["path"]] = match["code"] + "\n"
    return files, cells


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("course")
    files, cells = guide_parts()
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    (root / "solutions" / "course.key").write_text(secrets.token_hex(32) + "\n")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# Layers: a demo")] + [nbformat.v4.new_code_cell(c) for c in cells]
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"
    nbformat.write(notebook, root / "solutions" / "layers_demo" / "layers_demo.ipynb")
    return root


def test_the_guide_shows_every_part_of_an_assignment() -> None:
    files, cells = guide_parts()
    assert set(files) == {f"solutions/layers_demo/{name}" for name in
                          ("assignment.toml", "layer_utils.py", "public_tests.py", "hidden_tests.py", "mistakes.py")}
    assert sum(cell.startswith("# GRADED FUNCTION:") for cell in cells) == 2


def test_every_assignment_key_is_documented() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for key in ("title", "version", "notebook", "release_files", "public_tests", "hidden_tests", "mistakes", "isolate",
                "allowed_imports", "[limits]", "[[functions]]", "name", "points", "optional", "depends",
                "call_seconds", "cpu_seconds", "submission_seconds", "memory_mb", "output_kb"):
        assert f"`{key}`" in text, key


def test_the_example_generates_and_grades(course: Path, tmp_path: Path) -> None:
    run_cli("generate", "layers_demo", cwd=course, check=True)
    assert run_cli("generate", "layers_demo", "--check", cwd=course).returncode == 0
    release = course / "assignments" / "layers_demo"
    assert {p.name for p in release.iterdir()} >= {"layers_demo.ipynb", "public_tests.py", "layer_utils.py", "grader_checks.py"}
    assert "BEGIN SOLUTION" not in (release / "layers_demo.ipynb").read_text()

    right = tmp_path / "right.ipynb"
    shutil.copy(course / "solutions" / "layers_demo" / "layers_demo.ipynb", right)
    _, cells = guide_parts()
    wrong_cells = [cell.replace("Z = W @ A_prev + b", "Z = W @ A_prev") for cell in cells]
    wrong = write_notebook(tmp_path / "wrong.ipynb", *wrong_cells)
    stripped = tmp_path / "stripped.ipynb"
    shutil.copy(release / "layers_demo.ipynb", stripped)

    out = tmp_path / "grades"
    run_cli("grade", "layers_demo", right, wrong, stripped, "--out", out, "--sandbox", sandbox_mode(), cwd=course, check=True)
    reports = {name: json.loads((out / name / "results.json").read_text()) for name in ("right", "wrong", "stripped")}
    assert reports["right"]["score"] == 100
    assert reports["right"]["extra_data"]["mistakes"] == []
    assert reports["wrong"]["score"] == 40
    assert [(m["function"], m["id"]) for m in reports["wrong"]["extra_data"]["mistakes"]] == [
        ("linear_relu_forward", "bias-missing")]
    assert reports["stripped"]["score"] == 0
    for report in reports.values():
        assert all(t["extra_data"]["outcome"] != "grader-error" for t in report["tests"])
