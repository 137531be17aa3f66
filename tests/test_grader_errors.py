"""An error of the grader, a test, a recogniser or the reference is never reported as the student's, and a reference
that fails its own checks stops grading and auditing before anything is graded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli, sandbox_mode, write_notebook

TOML = """title = "Toy"
version = "1"
notebook = "toy.ipynb"
[[functions]]
name = "pair"
points = 1
[[functions]]
name = "inc"
points = 1
"""
PUBLIC = """
from grader.checks import CheckFailed

def pair_test(target):
    if target(2) != (2, 3):
        raise CheckFailed("values", "pair(2) should be (2, 3)")

def inc_test(target):
    if target(1) != 2:
        raise CheckFailed("values", "inc(1) should be 2")
"""
# Sloppy on purpose: indexes the answer without checking its type first (a test bug, not the student's).
HIDDEN = """
from grader.checks import Case, CheckFailed

def cases(ref, seed):
    def run(target):
        if target(5)[1] != ref.pair(5)[1]:
            raise CheckFailed("values", "pair differs")
    return [Case("pair", "pair hidden #1", "x = 5", run)]
"""
MISTAKES = """
from grader.mistakes import Mistake

def explode(call, reference):
    raise RuntimeError("this recogniser is broken")

def catalogue(ref):
    return [Mistake("broken", "A broken recogniser", "never shown", explode, function="inc")]
"""
PAIR = "def pair(x):\n    return (x, x + 1)"
INC = "def inc(x):\n    return x + 1"


def course(folder: Path, pair: str = PAIR) -> Path:
    source = folder / "solutions" / "toy"
    source.mkdir(parents=True)
    (source / "assignment.toml").write_text(TOML)
    (source / "public_tests.py").write_text(PUBLIC)
    (source / "hidden_tests.py").write_text(HIDDEN)
    (source / "mistakes.py").write_text(MISTAKES)
    (folder / "solutions" / "course.key").write_text("toy-course-key-for-grader-errors-0123456789\n")
    write_notebook(source / "toy.ipynb", pair, INC)
    return source


def test_a_reference_that_fails_its_own_checks_stops_grade_and_audit(tmp_path: Path) -> None:
    course(tmp_path, pair="def pair(x):\n    return (x, x + 2)")
    student = write_notebook(tmp_path / "student.ipynb", PAIR, INC)
    graded = run_cli("grade", "toy", student, "--out", tmp_path / "out", "--sandbox", sandbox_mode(), cwd=tmp_path)
    assert graded.returncode == 1
    assert "fails its own checks" in graded.stderr and "pair: pair_test" in graded.stderr
    assert not (tmp_path / "out" / "student").exists()
    audited = run_cli("audit", "toy", "--out", tmp_path / "audit", "--jobs", "1", "--sandbox", sandbox_mode(), cwd=tmp_path)
    assert audited.returncode == 1 and "fails its own checks" in audited.stderr


def test_a_raising_test_and_a_raising_recogniser_are_the_graders_errors(tmp_path: Path) -> None:
    course(tmp_path)
    odd = write_notebook(tmp_path / "odd.ipynb", "def pair(x):\n    return 7 if x == 5 else (x, x + 1)",
                         "def inc(x):\n    return x + 2")
    right = write_notebook(tmp_path / "right.ipynb", PAIR, INC)
    out = tmp_path / "out"
    result = run_cli("grade", "toy", odd, right, "--out", out, "--sandbox", sandbox_mode(), cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "the grader failed on some checks of 1 submission(s) (odd)" in result.stderr
    data = json.loads((out / "odd" / "results.json").read_text())
    hidden = next(t for t in data["tests"] if t["name"] == "pair: pair hidden #1")
    assert hidden["extra_data"]["outcome"] == "grader-error" and hidden["score"] == 0
    assert "not a mistake in your code" in hidden["output"]
    assert "not your fault" in data["output"]
    # the recogniser raised on inc's failed check: skipped, inc reported as an ordinary wrong answer
    inc = next(t for t in data["tests"] if t["name"] == "inc: inc_test")
    assert inc["extra_data"]["outcome"] == "wrong" and "broken" not in json.dumps(data["extra_data"]["mistakes"])
    assert "grader error" in (out / "odd" / "feedback.html").read_text()
    assert "Grader errors" in (out / "summary.html").read_text()
    assert json.loads((out / "right" / "results.json").read_text())["score"] == 2


def test_a_reference_checked_once_is_checked_again_when_its_files_or_the_grader_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The mark of a reference that passed its checks is named by the instructor's files' content and by the grader's
    files' size and modification time: a broken edit of a test is caught, and an upgraded grader checks again."""
    import os

    import grader.errors
    from grader.authoring.reference_check import _cache_marker, verify_reference
    from grader.config import load_assignment
    from grader.errors import GraderError

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = course(tmp_path)
    assignment = load_assignment(source)
    verify_reference(assignment)
    marked = _cache_marker(assignment)
    assert marked.exists()
    (source / "public_tests.py").write_text(PUBLIC.replace("(2, 3)", "(2, 30)"))
    with pytest.raises(GraderError, match="fails its own checks"):
        verify_reference(assignment)
    (source / "public_tests.py").write_text(PUBLIC)
    assert _cache_marker(assignment) == marked
    upgraded = Path(grader.errors.__file__)
    before = upgraded.stat()
    os.utime(upgraded, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    try:
        assert _cache_marker(assignment) != marked
    finally:
        os.utime(upgraded, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert _cache_marker(assignment) == marked
