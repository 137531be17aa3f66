"""A batch goes on whatever happens to one submission, even a failure of the grader itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import batch
from grader.config import load_assignment
from tests.conftest import ROOT, sandbox_mode

EXAMPLE = ROOT / "examples" / "submissions" / "alice_full_marks.ipynb"


def test_a_grader_failure_costs_one_submission_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = batch.grade_submission
    poisoned = tmp_path / "poisoned.ipynb"
    poisoned.write_bytes(EXAMPLE.read_bytes())

    def flaky(path, *args):  # type: ignore[no-untyped-def]
        if Path(path).name == "poisoned.ipynb":
            raise RuntimeError("simulated bug")
        return real(path, *args)

    monkeypatch.setattr(batch, "grade_submission", flaky)
    assignment = load_assignment("cnn_step_by_step", ROOT)
    named = batch.grade_all(assignment, [poisoned, EXAMPLE], tmp_path / "out", sandbox_mode(), progress=False)
    (_, failed), (_, fine) = named
    assert "The grader failed on this submission (RuntimeError: simulated bug)" in failed.error
    assert failed.score == 0 and len(failed.functions) == 8
    assert fine.score == 100
    assert (tmp_path / "out" / "poisoned" / "results.json").is_file()


def test_output_names_are_unique_and_stable() -> None:
    paths = [Path("a/x.ipynb"), Path("b/x.ipynb"), Path("c/y.ipynb")]
    names = batch.output_names(paths)
    assert len(set(names)) == 3 and names[2] == "y" and names == batch.output_names(paths)
    assert all(n.startswith("x-") for n in names[:2])
