"""Helper modules and data files shipped with an assignment: student code and the reference import and read them
as they do beside the notebook in Jupyter, from the instructor's copies (a student's own copy is never used)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli, sandbox_mode, write_notebook

TOML = """title = "Helpers"
version = "1"
notebook = "helpers.ipynb"
release_files = ["public_tests.py", "shapes.py", "scale.txt"]
[[functions]]
name = "area"
points = 1
[[functions]]
name = "scaled"
points = 1
"""
HELPER = """from pathlib import Path

def square(x):
    return x * x

def load_scale():
    return int(Path(__file__).with_name("scale.txt").read_text())
"""
PUBLIC = """
from grader_checks import CheckFailed

def area_test(target):
    if target(3) != 9:
        raise CheckFailed("values", "area(3) should be 9")

def scaled_test(target):
    if target(2) != 20:
        raise CheckFailed("values", "scaled(2) should be 20")
"""
AREA = "from shapes import square\n\ndef area(side):\n    return square(side)\n"
# The reference finds its data through the helper module (the grader runs it outside the notebook's folder); a
# student may read it by a relative path, as Jupyter allows, and the sandbox's working folder has it.
SCALED = "from shapes import load_scale\n\ndef scaled(x):\n    return x * load_scale()\n"
SCALED_BY_PATH = "def scaled(x):\n    with open('scale.txt') as f:\n        return x * int(f.read())\n"


def course(folder: Path) -> Path:
    source = folder / "solutions" / "helpers"
    source.mkdir(parents=True)
    (source / "assignment.toml").write_text(TOML)
    (source / "shapes.py").write_text(HELPER)
    (source / "scale.txt").write_text("10\n")
    (source / "public_tests.py").write_text(PUBLIC.replace("grader_checks", "grader.checks"))
    (folder / "solutions" / "course.key").write_text("helpers-course-key-for-tests-0123456789\n")
    write_notebook(source / "helpers.ipynb", AREA, SCALED)
    return source


def test_helper_modules_and_data_files_work_for_the_reference_and_students(tmp_path: Path) -> None:
    course(tmp_path)
    student = write_notebook(tmp_path / "student.ipynb", AREA, SCALED_BY_PATH)
    # a student's own shapes.py beside the notebook is never what runs: the instructor's copy is
    (tmp_path / "shapes.py").write_text("def square(x):\n    return 9 if x == 3 else 0\n")
    wrong = write_notebook(tmp_path / "wrong.ipynb", "from shapes import square\n\ndef area(side):\n    return square(side) + 1",
                           SCALED)
    out = tmp_path / "out"
    result = run_cli("grade", "helpers", student, wrong, "--out", out, "--sandbox", sandbox_mode(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    right = json.loads((out / "student" / "results.json").read_text())
    assert right["score"] == 2, right["output"]
    wrong_results = json.loads((out / "wrong" / "results.json").read_text())
    assert [t["status"] for t in wrong_results["tests"]] == ["failed", "passed"]
