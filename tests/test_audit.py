"""`grader audit` on a small course whose tests are deliberately weak: it must find the wrong mutant
the tests let through, and recognise an equivalent one as harmless."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import sandbox_mode, write_notebook

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

def cases(ref):
    return []  # too weak on purpose

def sweep(ref):
    found = []
    for k in range(30):
        x = random.Random(k).randint(-50, 50)
        values = [random.Random(k).randint(0, 9) for _ in range(k % 5)]
        def run_inc(target, x=x):
            if target(x) != ref.inc(x):
                raise CheckFailed("values", "inc differs")
        def run_copy(target, values=values):
            if target(list(values)) != ref.copy_list(list(values)):
                raise CheckFailed("values", "copy_list differs")
        found += [Case("inc", f"inc sweep #{k}", "", run_inc), Case("copy_list", f"copy_list sweep #{k}", "", run_copy)]
    return found
"""


def test_audit_finds_what_weak_tests_miss(tmp_path: Path, cli) -> None:
    source = tmp_path / "solutions" / "toy"
    source.mkdir(parents=True)
    (source / "assignment.toml").write_text(TOML)
    (source / "public_tests.py").write_text(PUBLIC)
    (source / "hidden_tests.py").write_text(HIDDEN)
    write_notebook(source / "toy.ipynb",
                   "def inc(x):\n    # YOUR CODE STARTS HERE\n    return x + 1\n    # YOUR CODE ENDS HERE",
                   "def copy_list(values):\n    return list(values[0:len(values)])")
    result = cli("audit", "toy", "--out", tmp_path / "audit", "--jobs", "1", "--sandbox", sandbox_mode(), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "strengthen the hidden tests" in result.stderr
    data = json.loads((tmp_path / "audit" / "audit.json").read_text())
    summary = {s["function"]: s for s in data["summary"]}
    assert summary["inc"]["missed"] == 1  # `return 1` passes inc(0) == 1 but is wrong elsewhere
    (missed,) = [m for m in data["mutants"] if m["function"] == "inc" and not m["killed"]]
    assert "→ `1`" in missed["description"] and not missed["equivalent"] and "differs" in missed["evidence"]
    assert summary["copy_list"]["missed"] == 0 and summary["copy_list"]["equivalent"] == 1  # values[0:] is the same
    (same,) = [m for m in data["mutants"] if m["function"] == "copy_list" and not m["killed"]]
    assert same["equivalent"] and "all 30 random inputs" in same["evidence"]
    assert all(m["killed_by_public"] <= m["killed"] for m in data["mutants"])
    html = (tmp_path / "audit" / "audit.html").read_text()
    assert "Survivors" in html and "equivalent" in html and "missed" in html
    assert "inc" in result.stdout and "total" in result.stdout
