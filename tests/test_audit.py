"""`grader audit` on a small course whose tests are deliberately weak: it must find the wrong mutant
the tests let through, also when they catch it under some seeds only, and recognise an equivalent one
as harmless."""

from __future__ import annotations

import json
from pathlib import Path

from grader.config import load_assignment
from grader.grading.seeds import audit_seeds
from tests.conftest import sandbox_mode, write_notebook

KEY = "toy-course-key-for-tests-0123456789abcdef"

TOML = """title = "Toy"
version = "1"
notebook = "toy.ipynb"
[[functions]]
name = "inc"
points = 1
[[functions]]
name = "copy_list"
points = 1
"""
PUBLIC = """
def inc_test(target):
    assert target(0) == 1, "inc(0) should be 1"

def copy_list_test(target):
    assert target([1, 2]) == [1, 2], "copy_list([1, 2]) should be [1, 2]"
"""
HIDDEN = """
import random
from grader.checks import Case, CheckFailed

def cases(ref, seed):
    x = seed % 2  # too weak on purpose: with x = 0, `return 1` passes
    def run_inc(target):
        if target(x) != ref.inc(x):
            raise CheckFailed("values", "inc differs")
    return [Case("inc", "inc hidden #1", "x from the seed", run_inc)]

def sweep(ref, seed):
    found = []
    for k in range(30):
        x = random.Random(seed + k).randint(-50, 50)
        values = [random.Random(seed + k).randint(0, 9) for _ in range(k % 5)]
        def run_inc(target, x=x):
            if target(x) != ref.inc(x):
                raise CheckFailed("values", "inc differs")
        def run_copy(target, values=values):
            if target(list(values)) != ref.copy_list(list(values)):
                raise CheckFailed("values", "copy_list differs")
        found += [Case("inc", f"inc sweep #{k}", "", run_inc), Case("copy_list", f"copy_list sweep #{k}", "", run_copy)]
    return found
"""


def _toy_course(folder: Path, key: bool = True) -> Path:
    source = folder / "solutions" / "toy"
    source.mkdir(parents=True)
    (source / "assignment.toml").write_text(TOML)
    (source / "public_tests.py").write_text(PUBLIC)
    (source / "hidden_tests.py").write_text(HIDDEN)
    if key:
        (folder / "solutions" / "course.key").write_text(KEY + "\n")
    write_notebook(source / "toy.ipynb",
                   "def inc(x):\n    # YOUR CODE STARTS HERE\n    return x + 1\n    # YOUR CODE ENDS HERE",
                   "def copy_list(values):\n    return list(values[0:len(values)])")
    return source


def test_audit_finds_what_weak_tests_miss(tmp_path: Path, cli) -> None:
    _toy_course(tmp_path)
    result = cli("audit", "toy", "--out", tmp_path / "audit", "--jobs", "1", "--seeds", "4", "--sandbox", sandbox_mode(),
                 cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "strengthen the hidden tests" in result.stderr
    data = json.loads((tmp_path / "audit" / "audit.json").read_text())
    summary = {s["function"]: s for s in data["summary"]}
    # `return 1` passes inc(0) == 1, and the hidden inc(x) only catches it when the seed makes x odd
    odd = sum(seed % 2 for seed in audit_seeds(KEY.encode(), load_assignment("toy", tmp_path), 4))
    assert 0 < odd < 4, "the test's key should give both kinds of seed"
    assert data["seeds"] == 4 and summary["inc"]["missed"] == 1
    (missed,) = [m for m in data["mutants"] if m["function"] == "inc" and not m["killed"]]
    assert "→ `1`" in missed["description"] and not missed["equivalent"] and missed["killed_under"] == odd
    assert f"killed under {odd} of 4 seeds only" in missed["evidence"]
    others = summary["inc"]["mutants"] - 1  # every other inc mutant dies under every seed
    assert summary["inc"]["kill_rate"] == round((4 * others + odd) / (4 * summary["inc"]["mutants"]), 4)
    assert summary["copy_list"]["missed"] == 0 and summary["copy_list"]["equivalent"] == 1  # values[0:] is the same
    (same,) = [m for m in data["mutants"] if m["function"] == "copy_list" and not m["killed"]]
    assert same["equivalent"] and same["killed_under"] == 0 and "all 30 random inputs" in same["evidence"]
    assert all(m["killed_by_public"] <= m["killed"] for m in data["mutants"])
    html = (tmp_path / "audit" / "audit.html").read_text()
    assert "Survivors" in html and "equivalent" in html and "missed" in html
    assert "inc" in result.stdout and "total" in result.stdout and "kill rate" in result.stdout


def test_audit_of_seeded_tests_refuses_without_the_course_key(tmp_path: Path, cli) -> None:
    _toy_course(tmp_path, key=False)
    result = cli("audit", "toy", "--out", tmp_path / "audit", "--jobs", "1", "--sandbox", sandbox_mode(), cwd=tmp_path)
    assert result.returncode == 2 and "no course key" in result.stderr and "course.key" in result.stderr
    assert not (tmp_path / "audit").exists()
