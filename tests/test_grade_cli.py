"""`grader grade` and `grader check` end to end: real notebooks through the real command line."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli, sandbox_mode, write_notebook

WRONG_ZERO_PAD = "import numpy as np\ndef zero_pad(X, pad):\n    return np.pad(X, ((pad, pad), (pad, pad), (0, 0), (0, 0)))\n"


def submission(folder: Path, name: str, cells: dict[str, str], **overrides: str) -> Path:
    return write_notebook(folder / name, "import numpy as np", *(overrides.get(f, code) for f, code in cells.items()))


def results(out: Path, name: str) -> dict:
    return json.loads((out / name / "results.json").read_text())


def function_scores(data: dict) -> dict[str, float]:
    scores: dict[str, float] = {}
    for test in data["tests"]:
        function = test["extra_data"]["function"]
        scores[function] = scores.get(function, 0) + test["score"]
    return {f: round(s, 6) for f, s in scores.items()}  # shares of a function's points add up to it


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory, solution_cells: dict[str, str]) -> Path:
    folder = tmp_path_factory.mktemp("batch")
    submission(folder, "right.ipynb", solution_cells)
    submission(folder, "wrong_zero_pad.ipynb", solution_cells, zero_pad=WRONG_ZERO_PAD)
    submission(folder / "again", "right.ipynb", solution_cells)
    out = folder / "out"
    paths = [folder / "right.ipynb", folder / "wrong_zero_pad.ipynb", folder / "again" / "right.ipynb",
             ROOT / "solutions" / "cnn_step_by_step" / "cnn_step_by_step.ipynb",
             ROOT / "assignments" / "cnn_step_by_step" / "cnn_step_by_step.ipynb"]
    result = run_cli("grade", "cnn_step_by_step", *paths, "--out", out, "--junit", out / "junit.xml",
                     "--sandbox", sandbox_mode())
    assert result.returncode == 0, result.stderr
    (out / "stdout.txt").write_text(result.stdout)
    return out


def test_master_full_marks_student_release_zero(batch: Path) -> None:
    names = {p.name for p in batch.iterdir() if p.is_dir()}
    master = next(n for n in names if n.startswith("cnn_step_by_step") and results(batch, n)["score"] == 100)
    student = next(n for n in names if n.startswith("cnn_step_by_step") and n != master)
    assert results(batch, student)["score"] == 0
    assert all(t["status"] == "failed" for t in results(batch, student)["tests"])
    assert all(t["status"] == "passed" for t in results(batch, master)["tests"])


def test_one_wrong_function_loses_only_its_points(batch: Path) -> None:
    scores = function_scores(results(batch, "wrong_zero_pad"))
    assert scores.pop("zero_pad") == 0
    # isolation: conv_forward and conv_backward call zero_pad, and get the reference one instead
    assert scores == {"conv_single_step": 10, "conv_forward": 40, "pool_forward": 40, "conv_backward": 0,
                      "create_mask_from_window": 0, "distribute_value": 0, "pool_backward": 0}  # optional: ungraded
    assert all(t["status"] == "passed" for t in results(batch, "wrong_zero_pad")["tests"]
               if t["extra_data"]["function"] != "zero_pad")


def test_same_stem_from_two_folders_gets_two_reports(batch: Path) -> None:
    rights = sorted(p.name for p in batch.iterdir() if p.name.startswith("right"))
    assert len(rights) == 2 and all(results(batch, name)["score"] == 100 for name in rights)


def test_results_json_follows_gradescope_format(batch: Path) -> None:
    data = results(batch, "wrong_zero_pad")
    assert set(data) >= {"score", "execution_time", "output", "tests"}
    assert data["score"] == 90  # the optional functions are ungraded ([scoring] in assignment.toml)
    assert sum(test["score"] for test in data["tests"]) == pytest.approx(data["score"])
    for test in data["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "visibility", "output", "extra_data"}
        assert test["status"] in ("passed", "failed")
        assert set(test["extra_data"]) >= {"function", "kind", "outcome"}
        expected_visibility = "visible" if test["extra_data"]["kind"] == "public" else "after_published"
        assert test["visibility"] == expected_visibility
    public = next(t for t in data["tests"] if t["name"] == "zero_pad: zero_pad_test")
    assert public["extra_data"]["outcome"] == "wrong" and "expected (4, 9, 9, 2)" in public["output"]


def test_hidden_failures_say_what_and_with_which_parameters(batch: Path) -> None:
    hidden = [t for t in results(batch, "wrong_zero_pad")["tests"] if t["extra_data"]["kind"] == "hidden"
              and t["extra_data"]["function"] == "zero_pad"]
    failed = [t for t in hidden if t["status"] == "failed"]
    assert len(failed) == len(hidden) - 1  # padding the wrong axes by 0 changes nothing: that case passes
    assert all("pad = " in t["output"] and "wrong shape" in t["output"] for t in failed)
    assert not any("[" in t["output"] for t in failed), "hidden checks must not show values"


def test_gradebook_and_junit(batch: Path) -> None:
    rows = (batch / "grades.csv").read_text().splitlines()
    assert rows[0].startswith("submission,file,score,max_score,zero_pad,")
    assert len(rows) == 6
    suites = ET.parse(batch / "junit.xml").getroot().findall("testsuite")
    assert len(suites) == 5
    wrong = next(s for s in suites if s.get("name") == "wrong_zero_pad")
    failed = sum(t["status"] == "failed" for t in results(batch, "wrong_zero_pad")["tests"])
    assert int(wrong.get("failures")) == len(wrong.findall("testcase/failure")) == failed == 5
    import sqlite3

    with sqlite3.connect(batch / "grades.sqlite") as db:
        assert db.execute("SELECT score FROM submissions WHERE name = 'wrong_zero_pad'").fetchone() == (90,)
        assert db.execute("SELECT COUNT(*) FROM checks WHERE submission = 'wrong_zero_pad' AND outcome != 'passed'"
                          ).fetchone() == (5,)


def test_prints_a_summary_line_per_submission_and_a_table(batch: Path) -> None:
    stdout = (batch / "stdout.txt").read_text()
    assert "wrong_zero_pad: 90/100, 7/8 functions passed" in stdout
    assert "submission" in stdout and "zero_pad" in stdout


def test_grading_is_deterministic(tmp_path: Path, solution_cells: dict[str, str]) -> None:
    path = submission(tmp_path, "twice.ipynb", solution_cells, zero_pad=WRONG_ZERO_PAD)
    outputs = []
    for run in ("a", "b"):
        run_cli("grade", "cnn_step_by_step", path, "--out", tmp_path / run, "--sandbox", sandbox_mode(), check=True)
        data = results(tmp_path / run, "twice")
        data.pop("execution_time")
        for test in data["tests"]:
            test["extra_data"].pop("seconds")
        outputs.append(data)
    assert outputs[0] == outputs[1]


def test_fail_under_and_usage_errors(tmp_path: Path, solution_cells: dict[str, str]) -> None:
    path = submission(tmp_path, "s.ipynb", solution_cells, conv_forward="def conv_forward(*a):\n    return None\n")
    sandbox = ("--sandbox", sandbox_mode())
    assert run_cli("grade", "cnn_step_by_step", path, "--out", tmp_path / "o", "--fail-under", "95", *sandbox).returncode == 1
    assert run_cli("grade", "cnn_step_by_step", path, "--out", tmp_path / "o", "--fail-under", "50", *sandbox).returncode == 0
    missing = run_cli("grade", "cnn_step_by_step", tmp_path / "nope.ipynb", "--out", tmp_path / "o", *sandbox)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    (tmp_path / "dangling.ipynb").symlink_to(tmp_path / "nope.ipynb")  # exists as a link: graded, and refused
    dangling = run_cli("grade", "cnn_step_by_step", tmp_path / "dangling.ipynb", "--out", tmp_path / "d", *sandbox)
    assert dangling.returncode == 0 and "not a regular file (a symbolic link)" in results(tmp_path / "d", "dangling")["output"]
    unknown = run_cli("grade", "no_such_assignment", path, "--out", tmp_path / "o", *sandbox)
    assert unknown.returncode == 2 and "no assignment" in unknown.stderr
    assert run_cli("grade", "cnn_step_by_step", path, *sandbox).returncode == 2  # --out is required
    assert run_cli("grade", "cnn_step_by_step", path, "--out", tmp_path / "o", "--jobs", "0", *sandbox).returncode == 2


def test_without_bubblewrap_only_sandbox_none_grades(tmp_path: Path, solution_cells: dict[str, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = submission(tmp_path, "s.ipynb", solution_cells)
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on this PATH
    auto = run_cli("grade", "cnn_step_by_step", path, "--out", tmp_path / "o")
    refused = run_cli("grade", "cnn_step_by_step", path, "--out", tmp_path / "o2", "--sandbox", "bwrap")
    checked = run_cli("check", path, "--assignment", "cnn_step_by_step")
    unisolated = run_cli("grade", "cnn_step_by_step", path, "--out", tmp_path / "o3", "--sandbox", "none")
    assert auto.returncode == 2 and not (tmp_path / "o").exists()
    assert "apt-get install bubblewrap" in auto.stderr and "--sandbox none" in auto.stderr
    assert refused.returncode == 2 and "bubblewrap" in refused.stderr
    assert checked.returncode == 2 and "apt-get install bubblewrap" in checked.stderr
    assert unisolated.returncode == 0 and "not isolated" not in unisolated.stdout
    assert "--sandbox none was given" in unisolated.stderr and "hidden tests" in unisolated.stderr
    assert results(tmp_path / "o3", "s")["score"] == 100


def test_isolation_can_be_switched_off(tmp_path: Path, solution_cells: dict[str, str]) -> None:
    course = tmp_path / "course"
    shutil.copytree(ROOT / "solutions", course / "solutions")
    toml = course / "solutions" / "cnn_step_by_step" / "assignment.toml"
    toml.write_text(toml.read_text().replace("isolate = true", "isolate = false"))
    path = submission(tmp_path, "s.ipynb", solution_cells, zero_pad=WRONG_ZERO_PAD)
    run_cli("grade", "cnn_step_by_step", path, "--out", tmp_path / "o", "--sandbox", sandbox_mode(), cwd=course, check=True)
    scores = function_scores(results(tmp_path / "o", "s"))
    assert scores["zero_pad"] == 0 and scores["conv_forward"] == 0 and scores["pool_forward"] == 40


def test_check_for_students(tmp_path: Path, solution_cells: dict[str, str]) -> None:
    release = ROOT / "assignments" / "cnn_step_by_step" / "cnn_step_by_step.ipynb"
    stripped = run_cli("check", release, "--sandbox", sandbox_mode())
    assert stripped.returncode == 1
    assert "FAIL zero_pad_test: exception" in stripped.stdout and "NameError" in stripped.stdout
    assert "hidden" not in stripped.stdout.replace("grading adds hidden tests", "")
    done = submission(tmp_path, "mine.ipynb", solution_cells, zero_pad=WRONG_ZERO_PAD)
    partly = run_cli("check", done, "--assignment", "cnn_step_by_step", "--sandbox", sandbox_mode())
    assert partly.returncode == 1
    assert "FAIL zero_pad_test: wrong shape" in partly.stdout and "PASS conv_single_step_test" in partly.stdout
    # no reference on a student's machine, so conv_forward runs with the student's own (wrong) zero_pad
    assert "FAIL conv_forward_test" in partly.stdout
    assert "public tests: 5/8 passed" in partly.stdout


def test_correct_notebooks_in_jupyters_ways_get_full_marks(tmp_path: Path, solution_cells: dict[str, str]) -> None:
    """Correct code that runs in Jupyter because of something around it: IPython's ``display`` builtin, ``np`` from
    ``from public_tests import *``, a dictionary of pooling functions filled item by item, conv_forward made by a
    factory. Each lost points before (a red-team pass over real styles)."""
    zero_pad = solution_cells["zero_pad"].replace("    return X_pad", "    display(X_pad.shape)\n    return X_pad")
    assert zero_pad != solution_cells["zero_pad"]
    pool = ("POOLS = {}\nPOOLS['max'] = np.max\nPOOLS['average'] = np.mean\n" +
            solution_cells["pool_forward"].replace("np.max(", "POOLS['max'](").replace("np.mean(", "POOLS['average']("))
    assert "POOLS['max'](" in pool
    forward = ("def _make_conv_forward():\n" + "\n".join("    " + line for line in solution_cells["conv_forward"].splitlines())
               + "\n    return conv_forward\n\nconv_forward = _make_conv_forward()\ndel _make_conv_forward")
    variants = {
        "display": ["import numpy as np", *{**solution_cells, "zero_pad": zero_pad}.values()],
        "star_numpy": ["from public_tests import *", *solution_cells.values()],
        "pools": ["import numpy as np", *{**solution_cells, "pool_forward": pool}.values()],
        "factory": ["import numpy as np", *{**solution_cells, "conv_forward": forward}.values()],
    }
    paths = [write_notebook(tmp_path / f"{name}.ipynb", *cells) for name, cells in variants.items()]
    out = tmp_path / "out"
    result = run_cli("grade", "cnn_step_by_step", *paths, "--out", out, "--sandbox", sandbox_mode(), "--no-annotate")
    assert result.returncode == 0, result.stderr
    for name in variants:
        data = json.loads((out / name / "results.json").read_text())
        assert data["score"] == 100 and all(t["status"] == "passed" for t in data["tests"]), (name, data["output"][:2000])
