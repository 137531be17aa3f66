"""A batch goes on whatever happens to one submission, even a failure of the grader itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.config import load_assignment
from grader.grading.grade import not_graded
from grader.grading.sandbox import Worker
from grader.grading.suite import load_suite
from grader.model import Submission
from grader.running import batch
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


def test_output_names_are_clean_readable_and_unique_for_any_file_name() -> None:
    paths = [Path(os.fsdecode(b"a/caf\xe9.ipynb")), Path(os.fsdecode(b"a/caf\xe8.ipynb")), Path("a/new\nline.ipynb"),
             Path("a/grades.csv.ipynb"), Path("a/..ipynb"), Path("a/" + "long" * 100 + ".ipynb")]
    names = batch.output_names(paths)
    assert len(set(names)) == len(names)
    assert names[0].startswith("caf\ufffd-") and names[2].startswith("new\u2424line-")
    assert names[3].startswith("grades.csv-") and names[4].startswith("submission-")
    for name in names:
        assert name.isprintable() and not name.startswith(".") and len(name.encode()) < 255
        name.encode("utf-8")  # no lone surrogate


def test_no_file_name_takes_another_submissions_folder() -> None:
    """A file named like another's hashed folder name took that folder and its gradebook row (red-team finding);
    names differing only in letter case, invisible characters or a repeated path never share a folder either."""
    victim = Path("a/x.ipynb")
    planted = Path(f"c/x-{batch._digest(victim)}.ipynb")
    paths = [victim, Path("b/x.ipynb"), planted, Path("d/Y.ipynb"), Path("e/y.ipynb"), Path("f/z\u200b.ipynb"),
             Path("g/z.ipynb"), Path("h/w.ipynb"), Path("h/w.ipynb")]
    names = batch.output_names(paths)
    assert len({name.casefold() for name in names}) == len(names), names
    assert names[0] == f"x-{batch._digest(victim)}" and names[2] != names[0]
    assert names[5] != "z" and "\u200b" not in names[5]


def test_summary_line_is_one_clean_line() -> None:
    assignment = load_assignment("cnn_step_by_step", ROOT)
    report = not_graded(Path("x.ipynb"), assignment, load_suite(assignment, "public"), "bad\n\x1b[31m\ud800", 0.0)
    line = batch.summary_line("new\nline", report)
    assert "\n" not in line and "\x1b" not in line and line.startswith("new\u2424line: 0/100")


def test_a_failure_writing_one_submissions_reports_leaves_a_short_results_file(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assignment = load_assignment("cnn_step_by_step", ROOT)
    suite = load_suite(assignment, "public")
    reports = [not_graded(Path(f"{name}.ipynb"), assignment, suite, "", 0.0) for name in ("broken", "fine")]
    real = batch.write_reports

    def failing(report, folder, name, annotated=False):  # type: ignore[no-untyped-def]
        if name == "broken":
            real(report, folder, name, annotated)  # a half-done set of files, then the failure
            raise OSError("simulated: disk full")
        real(report, folder, name, annotated)

    monkeypatch.setattr(batch, "grade_stream", lambda *args, **kwargs: enumerate(reports))
    monkeypatch.setattr(batch, "write_reports", failing)
    out = tmp_path / "out"
    named = batch.grade_all(assignment, [Path("broken.ipynb"), Path("fine.ipynb")], out, "none", junit=out / "junit.xml",
                            progress=False)
    assert [name for name, _ in named] == ["broken", "fine"]
    broken = json.loads((out / "broken" / "results.json").read_text())
    assert "could not be written (OSError: simulated: disk full)" in broken["output"] and broken["score"] == 0
    assert json.loads((out / "fine" / "results.json").read_text())["tests"]
    for name in ("summary.html", "grades.csv", "grades.sqlite", "junit.xml"):
        assert (out / name).is_file(), name
    assert not list(out.rglob(".*"))


def test_the_reports_made_ready_while_the_sandbox_loads_cost_no_grade(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """One notebook: the feedback page's template and the views' writer are made ready while the sandbox runs its
    definitions (``meanwhile``), once; if that fails, the grade stands and the reports are still written."""
    import grader.reporting.report

    assignment = load_assignment("cnn_step_by_step", ROOT)
    real = batch.grade_submission
    seen: list[bool] = []

    def watched(path, assignment, suite, worker, meanwhile=None):  # type: ignore[no-untyped-def]
        def recorded(submission: Submission) -> None:
            seen.append(worker.child_alive)  # the definitions are on their way to the sandbox
            assert meanwhile is not None and "zero_pad" in submission.defined
            meanwhile(submission)

        return real(path, assignment, suite, worker, recorded)

    def broken() -> None:
        raise RuntimeError("simulated: templates missing")

    monkeypatch.setattr(batch, "grade_submission", watched)
    monkeypatch.setattr(grader.reporting.report, "warm_up", broken)
    named = batch.grade_all(assignment, [EXAMPLE], tmp_path / "out", sandbox_mode(), progress=False, annotate=False)
    assert seen == [True] and named[0][1].score == 100
    assert "100" in (tmp_path / "out" / EXAMPLE.stem / "feedback.html").read_text()


def test_a_grade_starts_without_the_garbage_collector_and_grades_with_it(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """``grader grade`` turns the collector off while it starts (its imports and suite live as long as it does) and
    back on, start-up frozen, before the first submission: a long batch's cyclic garbage is still collected."""
    import gc

    from grader import cli

    real = batch.grade_submission
    during: list[tuple[bool, int]] = []

    def watched(*args, **kwargs):  # type: ignore[no-untyped-def]
        during.append((gc.isenabled(), gc.get_threshold()[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(batch, "grade_submission", watched)
    monkeypatch.setattr(cli, "_prestart", lambda *args: None)  # nothing left running in this test's process
    monkeypatch.chdir(ROOT)
    threshold = gc.get_threshold()
    gc.unfreeze()  # what an earlier test froze is not this command's doing
    try:
        code = cli.main(["grade", "cnn_step_by_step", str(EXAMPLE), "--out", str(tmp_path / "out"), "--no-annotate",
                         "--sandbox", sandbox_mode()])
        assert (code, during, gc.get_freeze_count() > 0) == (0, [(True, batch.YOUNG_OBJECTS)], True)
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        gc.enable()


def test_the_command_loads_without_the_collector_and_runs_other_commands_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m grader`` (and the ``grader`` script, which imports the same module) turns the collector off before
    the command's modules load; every command but those that grade (which turn it on when grading starts) then runs
    with it on, what loading made frozen: a long audit's cyclic garbage is collected."""
    import gc

    from grader import cli

    loaded = subprocess.run([sys.executable, "-c", "import gc, grader.__main__; print(gc.isenabled())"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False"
    during: list[bool] = []
    monkeypatch.setattr(cli, "cmd_audit", lambda args: during.append(gc.isenabled()) or 0)
    gc.unfreeze()  # what an earlier test froze is not this command's doing
    gc.disable()
    try:
        assert cli.main(["audit", "cnn_step_by_step"]) == 0
        assert (during, gc.get_freeze_count() > 0) == ([True], True)
    finally:
        gc.unfreeze()
        gc.enable()


def test_calls_queued_ahead_change_no_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hidden checks' calls queued in the sandbox ahead of time (grade.first_calls, Proxy) give every check the same
    result as calls made one at a time: full marks, wrong answers, exceptions, a template left as it was."""
    import grader.grading.grade as grade

    assignment = load_assignment("cnn_step_by_step", ROOT)
    paths = [EXAMPLE, *(ROOT / "examples" / "submissions").glob("[bc]*.ipynb")]

    def outcomes() -> list[tuple[str, str, str, str, str]]:
        return [(c.name, c.outcome, c.failure, c.message, c.output)
                for report in batch.grade_paths(assignment, paths, sandbox_mode()) for c in report.checks]

    taken: list[bool] = []
    real_take = Worker.take_queued

    def take(worker: Worker) -> object:
        answer = real_take(worker)
        taken.append(answer is not None)
        return answer

    monkeypatch.setattr(Worker, "take_queued", take)
    queued = outcomes()
    assert sum(taken) > 100  # most hidden checks' calls were queued (and answered) ahead
    monkeypatch.setattr(grade, "first_calls", lambda checks: [None] * len(checks))
    taken.clear()
    assert queued == outcomes() and len(queued) > 100 and not any(taken)


def test_a_machine_out_of_processes_costs_the_annotated_views_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """No process can be forked for the views' writer (a machine out of PIDs: a thread bomb did it where nothing
    capped threads): the grade, the other reports and the rest of the batch stand, and the problem is said."""
    import grader.reporting.annotate

    def no_fork(*args: object, **kwargs: object) -> None:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(grader.reporting.annotate, "start_bounded", no_fork)
    monkeypatch.setattr(grader.reporting.annotate, "Ahead", no_fork)
    assignment = load_assignment("cnn_step_by_step", ROOT)
    named = batch.grade_all(assignment, [EXAMPLE], tmp_path / "out", sandbox_mode(), progress=False)
    assert named[0][1].score == 100
    folder = tmp_path / "out" / EXAMPLE.stem
    assert (folder / "feedback.html").is_file() and not (folder / "feedback.ipynb").exists()
    assert "no process could be started to write them (Resource temporarily unavailable)" in capsys.readouterr().out
