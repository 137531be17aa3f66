"""``--sandbox none`` as root with GRADER_WORKER_USER (Gradescope's container): student code runs as that user.

It then cannot write what root owns (the grader's code, the results) nor read what only root may (the bundled hidden
tests, the course key). The worker needs an interpreter that user can run: this machine's own Python lies under
/root, so the worker runs conftest's ``python_for_anyone`` (/usr/bin/python3 with NumPy, built once per session).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.config import Limits
from grader.errors import UsageError
from grader.grading.sandbox import Worker, worker_user
from grader.model import Chunk, Submission
from grader.running.environments import Environment, EnvironmentSpec

NOBODY = 65534
LIMITS = Limits(call_seconds=10, cpu_seconds=30, memory_mb=512, output_kb=4)
PROBE = """
import os

def probe(secret, owned):
    found = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups()}
    try:
        with open(secret) as f:
            found["secret"] = f.read()
    except OSError as error:
        found["secret"] = type(error).__name__
    try:
        with open(owned, "a") as f:
            f.write("changed by the student")
        found["owned"] = "written"
    except OSError as error:
        found["owned"] = type(error).__name__
    return found
"""

@pytest.fixture(scope="module")
def reachable(python_for_anyone: Path) -> Iterator[tuple[Environment, Path]]:
    """The NumPy environment every user can run, and a folder of root's beside it for the 'hidden' files."""
    venv = python_for_anyone.parent.parent
    environment = Environment(venv, EnvironmentSpec(("numpy",)), "3", "/usr", (), ())
    secrets = Path(tempfile.mkdtemp(prefix="grader-secrets-", dir=venv.parent))
    secrets.chmod(0o755)
    yield environment, secrets
    shutil.rmtree(secrets)


def probe_as(environment: Environment, secrets: Path, monkeypatch: pytest.MonkeyPatch, user: str) -> dict:
    secret = secrets / "hidden_tests.py"
    secret.write_text("EXPECTED = 42\n")
    secret.chmod(0o600)
    owned = secrets / "results.json"
    owned.write_text("{}")
    owned.chmod(0o644)
    if user:
        monkeypatch.setenv("GRADER_WORKER_USER", user)
    else:
        monkeypatch.delenv("GRADER_WORKER_USER", raising=False)
    worker = Worker("none", LIMITS, environment=environment)
    try:
        submission = Submission("x.ipynb", (Chunk(1, 1, "def", ("probe",), PROBE),))
        loaded = worker.load(submission, ["probe"])
        assert loaded.defined == ("probe",), loaded
        outcome = worker.call("probe", (str(secret), str(owned)), {})
        assert outcome.status == "returned", outcome
        return {**outcome.value, "owned_after": owned.read_text()}
    finally:
        worker.close()


def test_student_code_runs_as_the_named_user_and_cannot_touch_roots_files(
        reachable: tuple[Environment, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    found = probe_as(*reachable, monkeypatch, "nobody")
    assert (found["uid"], found["gid"], found["groups"]) == (NOBODY, NOBODY, [])
    assert found["secret"] == "PermissionError"
    assert found["owned"] == "PermissionError" and found["owned_after"] == "{}"


def test_without_the_switch_the_same_code_reads_and_writes_them(
        reachable: tuple[Environment, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """What the switch prevents: as root (the guarantee broken) the probe reads the secret and writes the file."""
    found = probe_as(*reachable, monkeypatch, "")
    assert found["uid"] == 0 and found["secret"] == "EXPECTED = 42\n"
    assert found["owned"] == "written" and found["owned_after"].endswith("changed by the student")


def test_course_files_stay_readable_to_the_switched_worker_and_no_submission_can_change_them(
        reachable: tuple[Environment, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    environment, _ = reachable
    helper = tmp_path / "helper.py"  # tmp_path is root's own (0700): the worker gets a copy, which stays root's
    helper.write_text("VALUE = 41\n")
    monkeypatch.setenv("GRADER_WORKER_USER", "nobody")
    worker = Worker("none", LIMITS, (helper,), environment=environment)
    code = ("import helper, os\n\ndef f():\n    try:\n        open(helper.__file__, 'a').write('VALUE = 0')\n"
            "    except OSError as error:\n        return helper.VALUE + 1, type(error).__name__\n"
            "    return helper.VALUE + 1, 'written'\n")
    try:
        for _ in range(2):  # the worker wipes its home after each submission: it must own it to do so
            loaded = worker.load(Submission("x.ipynb", (Chunk(1, 1, "def", ("f",), code),)), ["f"])
            assert (loaded.failure, loaded.defined) == ("", ("f",))
            assert tuple(worker.call("f", (), {}).value) == (42, "PermissionError")
            worker.end()
        assert worker.scratch is not None
        scratch = Path(worker.scratch.name)
        assert os.stat(scratch / "home").st_uid == NOBODY
        assert os.stat(scratch / "course").st_uid == 0 and os.stat(scratch / "course" / "helper.py").st_uid == 0
        assert stat.S_IMODE(os.stat(scratch).st_mode) == 0o711
    finally:
        worker.close()


@pytest.mark.parametrize(("user", "euid", "says"), [
    ("no-such-user-here", 0, "no such user"),
    ("root", 0, "is root"),
    ("nobody", 1000, "needs the grader to run as root"),
])
def test_a_switch_that_cannot_be_honoured_is_refused(monkeypatch: pytest.MonkeyPatch, user: str, euid: int,
                                                     says: str) -> None:
    monkeypatch.setenv("GRADER_WORKER_USER", user)
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    with pytest.raises(UsageError, match=says):
        worker_user()
