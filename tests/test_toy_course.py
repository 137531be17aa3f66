"""End to end on a toy course, through the CLI under bubblewrap: arguments changed in place (dicts, lists,
an array inside a tuple, a keyword argument) are reported as modified, and ``allowed_imports`` skips the
imports the course does not allow, with a note, while the allowed ones work."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli, sandbox_mode, write_notebook

TOML = """title = "Toy"
version = "1"
notebook = "toy.ipynb"
allowed_imports = ["numpy", "math"]
isolate = false
"""
FUNCTIONS = ("count_keys", "total", "pair_sum", "scaled", "hypot", "here", "erf_half")

PUBLIC = '''
import numpy as np

from grader.checks import CheckFailed, call_unchanged, expect_array, expect_scalar


def count_keys_test(target):
    if call_unchanged(target, "count_keys", {"stride": 1, "pad": 0}) != 2:
        raise CheckFailed("values", "count_keys is wrong")


def total_test(target):
    expect_scalar("total", call_unchanged(target, "total", [1.0, 2.0, 3.0]), 6.0)


def pair_sum_test(target):
    expect_array("pair_sum", call_unchanged(target, "pair_sum", (np.zeros(3), np.ones(3))), np.ones(3))


def scaled_test(target):
    expect_array("scaled", call_unchanged(target, "scaled", 2.0, x=np.ones(3)), np.full(3, 2.0))


def hypot_test(target):
    expect_scalar("hypot", call_unchanged(target, "hypot", 3.0, 4.0), 5.0)


def here_test(target):
    if not isinstance(target(), str):
        raise CheckFailed("type", "here should return a string")


def erf_half_test(target):
    expect_scalar("erf_half", target(), 0.5204998778130465)
'''

CORRECT = {
    "count_keys": "def count_keys(d):\n    return len(d)",
    "total": "def total(values):\n    return float(sum(values))",
    "pair_sum": "def pair_sum(pair):\n    return pair[0] + pair[1]",
    "scaled": "def scaled(factor, x):\n    return factor * x",
    "hypot": "import math\ndef hypot(a, b):\n    return math.sqrt(a * a + b * b)",
    "here": "def here():\n    return 'nowhere'",
    "erf_half": "import math\ndef erf_half():\n    return math.erf(0.5)",
}
MUTATING = {
    "count_keys": "def count_keys(d):\n    d['seen'] = True\n    return len(d) - 1",
    "total": "def total(values):\n    values.append(0.0)\n    return float(sum(values))",
    "pair_sum": "def pair_sum(pair):\n    pair[0][...] += pair[1]\n    return pair[0].copy()",
    "scaled": "def scaled(factor, x):\n    x *= factor\n    return x.copy()",
}
IMPORTING = {
    # a ``from __future__`` import is how the code compiles, not a module the course must allow
    "hypot": "from __future__ import annotations\nimport math\ndef hypot(a: Length, b: Length) -> Length:\n"
             "    return math.sqrt(a * a + b * b)",
    "here": "import os\ndef here():\n    return os.getcwd()",
    "erf_half": "from scipy.special import erf\ndef erf_half():\n    return float(erf(0.5))",
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    course = tmp_path_factory.mktemp("toy")
    source = course / "solutions" / "toy"
    source.mkdir(parents=True)
    (source / "assignment.toml").write_text(TOML + "".join(f'[[functions]]\nname = "{f}"\npoints = 1\n' for f in FUNCTIONS))
    (source / "public_tests.py").write_text(PUBLIC)
    write_notebook(source / "toy.ipynb", *CORRECT.values())
    paths = [write_notebook(course / "in" / f"{name}.ipynb", "import numpy as np", *({**CORRECT, **changes}).values())
             for name, changes in (("correct", {}), ("mutating", MUTATING), ("importing", IMPORTING))]
    out = course / "out"
    result = run_cli("grade", "toy", *paths, "--out", out, "--sandbox", sandbox_mode(), cwd=course)
    assert result.returncode == 0, result.stdout + result.stderr
    return {p.stem: json.loads((out / p.stem / "results.json").read_text()) for p in paths}


def _checks(results: dict, function: str) -> list[dict]:
    return [t for t in results["tests"] if t["extra_data"]["function"] == function]


def test_the_correct_notebook_passes_everything(graded: dict) -> None:
    assert graded["correct"]["score"] == len(FUNCTIONS), json.dumps(graded["correct"]["tests"], indent=1)


@pytest.mark.parametrize("function", ["count_keys", "total", "pair_sum"])
def test_an_argument_changed_in_place_is_reported_as_modified(graded: dict, function: str) -> None:
    (check,) = _checks(graded["mutating"], function)
    assert check["score"] == 0 and check["extra_data"]["failure"] == "modified", check
    assert "changed its argument #1 in place" in check["output"]


def test_a_keyword_argument_changed_in_place_is_reported_as_modified(graded: dict) -> None:
    (check,) = _checks(graded["mutating"], "scaled")
    assert check["extra_data"]["failure"] == "modified", check


def test_imports_the_course_does_not_allow_are_skipped_with_a_note(graded: dict) -> None:
    notes = graded["importing"]["output"]
    assert "`import os` was skipped (this assignment allows numpy, math)" in notes
    assert "`import scipy` was skipped" in notes and "__future__" not in notes
    for function in ("here", "erf_half"):
        (check,) = _checks(graded["importing"], function)
        assert check["score"] == 0 and "NameError" in check["output"], check
    (allowed,) = _checks(graded["importing"], "hypot")
    assert allowed["score"] == allowed["max_score"] == 1
