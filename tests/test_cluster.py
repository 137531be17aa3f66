"""Grading on a real Dask cluster (issue 11): a scheduler and two workers started as processes on 127.0.0.1, graded
through the CLI with ``--cluster``, compared with local grading; a worker killed mid-batch, a worker without
bubblewrap, a scheduler that is not there, ``--cluster local``, and student code that tries the Dask ports."""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, run_cli, sandbox_mode, write_notebook
from tests.test_hostile import BAD_FILES, HOSTILE
from tests.test_sandbox_guarantees import inside_report, outcomes

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.skipif(sandbox_mode() != "bwrap", reason="a cluster grades only in bubblewrap")

EXAMPLES = ROOT / "examples" / "submissions"
# Hostile submissions that end quickly (the ones that wait for a timeout are test_hostile's business; the memory bomb's
# report can differ from run to run on a loaded machine, locally as well).
FAST_HOSTILE = ("raises", "system_exit", "os_exit", "kills_its_parent", "huge_allocation", "reads_hidden_tests",
                "writes_outside", "reaches_network", "monkeypatches_numpy", "lying_equality", "ndarray_subclass",
                "modifies_input", "fork_bomb", "floods_output")
TIMING = {"execution_time", "duration", "seconds"}
# Slow once: the first call of zero_pad sleeps, so a worker is surely busy with it when it is killed.
SLOW_ZERO_PAD = ("import time\nimport numpy as np\n_slept = []\ndef zero_pad(X, pad):\n    if not _slept:\n"
                 "        _slept.append(1)\n        time.sleep(1)\n    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))\n")


# Connects to the scheduler's and each worker's port on 127.0.0.1; returns the right padding if any answered, else
# says from inside why each attempt failed.
REACHES_DASK = '''
import json, socket
import numpy as np
def zero_pad(X, pad):
    refused, reached = {{}}, []
    for port in {ports!r}:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as client:
                client.sendall(b"hello dask")
            reached.append(port)
        except OSError as error:
            refused[f"port {{port}}"] = f"{{type(error).__name__}}: {{error}}"
    if reached:
        return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    raise ValueError("REPORT" + json.dumps(refused) + "END")
'''


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dask(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "dask", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, preexec_fn=ended_with_the_tests)


def ended_with_the_tests() -> None:
    """In the scheduler or worker, before it starts: SIGTERM when the test run ends however it ends (a killed run
    left them running, a core busy for an hour). PR_SET_PDEATHSIG; the nanny stops its own worker."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def client_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}


class Cluster:
    """`dask scheduler` and `dask worker` processes on 127.0.0.1, stopped at the end."""

    def __init__(self, workers: int, tls: tuple[str, ...] = (), security: Any = None) -> None:
        self.address = f"{'tls' if tls else 'tcp'}://127.0.0.1:{free_port()}"
        self.security = security
        self.processes = [dask("scheduler", "--host", "127.0.0.1", "--port", self.address.rsplit(":", 1)[1],
                               "--no-dashboard", *(("--protocol", "tls", *tls) if tls else ()))]
        for _ in range(workers):
            self.processes.append(dask("worker", self.address, "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1",
                                       "--no-dashboard", *tls))
        with self.client() as client:
            client.wait_for_workers(workers, timeout=60)

    def client(self) -> Any:
        return distributed.Client(self.address, timeout="20s", security=self.security)

    def workers(self) -> dict[str, Any]:
        with self.client() as client:
            return dict(client.scheduler_info(n_workers=-1)["workers"])

    def close(self) -> None:
        for process in reversed(self.processes):
            stop(process)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    started = Cluster(workers=2)
    try:
        yield started
    finally:
        started.close()


def without_timings(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: without_timings(v) for k, v in data.items() if k not in TIMING}
    if isinstance(data, list):
        return [without_timings(v) for v in data]
    return data


def table(stdout: str) -> str:
    """The grade table the CLI prints at the end (the log lines before it come in completion order)."""
    return stdout[stdout.index("\nsubmission "):stdout.index("\nreports in")]


def all_results(out: Path) -> dict[str, Any]:
    return {p.parent.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("*/results.json"))}


def hostile_set(folder: Path, solution_cells: dict[str, str], cluster: Cluster) -> list[Path]:
    """The fast hostile submissions, the unreadable files, a link to the master notebook, a FIFO, and one that
    tries every Dask port (scheduler and workers) from inside the sandbox."""
    paths = []
    for name in FAST_HOSTILE:
        function, source, extra = HOSTILE[name]
        cells = ["import numpy as np", *(source if f == function else code for f, code in solution_cells.items())]
        paths.append(write_notebook(folder / f"{name}.ipynb", *cells, *([extra] if extra else [])))
    for name, content in BAD_FILES.items():
        (folder / f"{name}.ipynb").write_bytes(content)
        paths.append(folder / f"{name}.ipynb")
    (folder / "link_to_master.ipynb").symlink_to(ROOT / "solutions" / "cnn_step_by_step" / "cnn_step_by_step.ipynb")
    os.mkfifo(folder / "fifo.ipynb")
    paths += [folder / "link_to_master.ipynb", folder / "fifo.ipynb"]
    ports = [int(a.rsplit(":", 1)[1]) for a in [cluster.address, *cluster.workers()]]
    spy = REACHES_DASK.format(ports=ports)
    cells = ["import numpy as np", *(spy if f == "zero_pad" else code for f, code in solution_cells.items())]
    paths.append(write_notebook(folder / "reaches_dask.ipynb", *cells))
    return paths


@pytest.fixture(scope="module")
def graded(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory, solution_cells: dict[str, str]) -> dict[str, Any]:
    """Every example and hostile submission graded on the cluster and locally (``--jobs 2``), per assignment."""
    folder = tmp_path_factory.mktemp("cluster")
    cnn = [*sorted(EXAMPLES.glob("*.ipynb")), *hostile_set(folder / "hostile", solution_cells, cluster)]
    runs = {"cnn_step_by_step": cnn, "optimization_methods": sorted((EXAMPLES / "optimization_methods").glob("*.ipynb"))}
    found: dict[str, Any] = {}
    for assignment, paths in runs.items():
        for where, extra in (("cluster", ["--cluster", cluster.address]), ("local", ["--jobs", "2"])):
            out = folder / f"{assignment}-{where}"
            result = run_cli("grade", assignment, *paths, "--out", out, "--no-annotate", "--junit", out / "junit.xml", *extra)
            found[f"{assignment}-{where}"] = {"result": result, "out": out, "results": all_results(out), "count": len(paths)}
    return found


@pytest.mark.parametrize("course", ["cnn_step_by_step", "optimization_methods"])
def test_the_cluster_grades_exactly_as_local_jobs_do(graded: dict[str, Any], course: str) -> None:
    on_cluster, here = graded[f"{course}-cluster"], graded[f"{course}-local"]
    assert on_cluster["result"].returncode == here["result"].returncode == 0, on_cluster["result"].stderr
    assert len(on_cluster["results"]) == on_cluster["count"]
    assert set(on_cluster["results"]) == set(here["results"])
    for name, data in on_cluster["results"].items():
        assert without_timings(data) == without_timings(here["results"][name]), name
    for written in ("grades.csv", "summary.html", "junit.xml"):
        assert (on_cluster["out"] / written).is_file()
    assert (on_cluster["out"] / "grades.csv").read_text() == (here["out"] / "grades.csv").read_text()
    assert table(on_cluster["result"].stdout) == table(here["result"].stdout)


def test_student_code_on_a_worker_reaches_no_dask_port(graded: dict[str, Any]) -> None:
    """Fails if the sandbox shared the worker's network: the scheduler and workers listen on 127.0.0.1."""
    data = graded["cnn_step_by_step-cluster"]["results"]["reaches_dask"]
    assert outcomes(data, "zero_pad") == {"error"}  # it returns the right padding if any connection succeeded
    tried = inside_report(data, "zero_pad")
    assert len([k for k in tried if k.startswith("port ")]) == 3, tried


def test_hostile_and_unreadable_submissions_are_contained_on_the_cluster(graded: dict[str, Any]) -> None:
    results = graded["cnn_step_by_step-cluster"]["results"]
    assert results["link_to_master"]["score"] == 0 and "symbolic link" in results["link_to_master"]["output"]
    assert "FIFO" in results["fifo"]["output"]
    assert results["alice_full_marks"]["score"] == 100
    for name in ("reads_hidden_tests", "writes_outside", "reaches_network"):
        assert outcomes(results[name], "zero_pad") != {"passed"}, name


def test_a_worker_killed_mid_batch_loses_nothing(cluster: Cluster, tmp_path: Path, solution_cells: dict[str, str]) -> None:
    cells = dict(solution_cells, zero_pad=SLOW_ZERO_PAD)
    paths = [write_notebook(tmp_path / f"slow_{i}.ipynb", "import numpy as np", *cells.values()) for i in range(4)]
    paths.append(EXAMPLES / "alice_full_marks.ipynb")
    out = tmp_path / "out"
    grading = subprocess.Popen([sys.executable, "-m", "grader", "grade", "cnn_step_by_step", *map(str, paths), "--out",
                                str(out), "--no-annotate", "--cluster", cluster.address], cwd=ROOT, env=client_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    with cluster.client() as client:
        deadline = time.monotonic() + 60
        while killed is None and time.monotonic() < deadline and grading.poll() is None:
            busy = [address for address, keys in client.processing().items() if keys]
            if busy:
                time.sleep(0.5)  # inside the slow first call by now (1 s asleep: within 5 x call_seconds)
                if client.processing().get(busy[0]):
                    killed = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                    os.kill(killed, signal.SIGKILL)
            time.sleep(0.1)
    _, stderr = grading.communicate(timeout=240)
    assert killed is not None, "no worker was busy to be killed"
    assert grading.returncode == 0, stderr
    results = all_results(out)
    assert len(results) == len(paths)
    assert all(data["score"] == 100 for data in results.values()), {n: d["score"] for n, d in results.items()}
    with cluster.client() as client:
        client.wait_for_workers(2, timeout=60)  # the nanny started the killed worker again, for the tests after


def test_a_worker_without_bubblewrap_refuses_to_grade(tmp_path: Path) -> None:
    """Workers whose PATH has no bwrap (a LocalCluster inherits the client's): an error, nothing graded unsandboxed."""
    env = {**client_env(), "PATH": str(Path(sys.executable).parent)}
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "grader", "grade", "cnn_step_by_step",
                             str(EXAMPLES / "alice_full_marks.ipynb"), "--out", str(out), "--cluster", "local"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 1, result.stderr
    assert "refuses to grade" in result.stderr and "bubblewrap" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not list(out.glob("*/results.json"))


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path: Path) -> None:
    env = {**client_env(), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    address = f"tcp://127.0.0.1:{free_port()}"
    result = subprocess.run([sys.executable, "-m", "grader", "grade", "cnn_step_by_step",
                             str(EXAMPLES / "alice_full_marks.ipynb"), "--out", str(tmp_path / "out"), "--cluster", address],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot reach the Dask scheduler at {address}"), result.stderr
    assert "Traceback" not in result.stderr


def test_grader_cluster_names_the_scheduler_and_sandbox_none_is_refused(tmp_path: Path) -> None:
    env = {**client_env(), "GRADER_CLUSTER": f"tcp://127.0.0.1:{free_port()}", "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    command = [sys.executable, "-m", "grader", "grade", "cnn_step_by_step", str(EXAMPLES / "alice_full_marks.ipynb"),
               "--out", str(tmp_path / "out")]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "cannot reach the Dask scheduler" in result.stderr, result.stderr
    result = subprocess.run([*command, "--sandbox", "none"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "only in bubblewrap" in result.stderr, result.stderr


def test_local_cluster_grades_and_gives_up_on_a_submission_that_kills_workers(tmp_path: Path,
                                                                           solution_cells: dict[str, str]) -> None:
    """``--cluster local`` with no second chance (allowed-failures 0): once the quick submission is graded, every
    worker is killed while the slow one is still being graded; it is reported as a crash, the batch completes."""
    cells = dict(solution_cells, zero_pad=SLOW_ZERO_PAD)
    slow = write_notebook(tmp_path / "slow.ipynb", "import numpy as np", *cells.values())
    out = tmp_path / "out"
    env = {**client_env(), "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    grading = subprocess.Popen([sys.executable, "-m", "grader", "grade", "cnn_step_by_step", str(slow),
                                str(EXAMPLES / "alice_full_marks.ipynb"), "--out", str(out), "--no-annotate",
                                "--cluster", "local", "--jobs", "2"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed: list[int] = []
    deadline = time.monotonic() + 90
    while not killed and time.monotonic() < deadline and grading.poll() is None:
        if (out / "alice_full_marks" / "results.json").exists():
            killed = sorted({parent_of(helper) for helper in helpers_under(grading.pid)})
            for worker in killed:
                os.kill(worker, signal.SIGKILL)
        time.sleep(0.05)
    _, stderr = grading.communicate(timeout=240)
    assert killed, stderr
    assert grading.returncode == 0, stderr
    results = all_results(out)
    assert results["alice_full_marks"]["score"] == 100
    assert results["slow"]["score"] == 0
    assert {t["extra_data"]["outcome"] for t in results["slow"]["tests"]} == {"crash"}
    assert "stopped the grading machine" in results["slow"]["output"]


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def helpers_under(ancestor: int) -> list[int]:
    """Grading helpers (python -m grader.running.cluster) descending from ``ancestor``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            pid = int(entry.name)
            if b"grader.running.cluster" not in command:
                continue
            walk = pid
            while walk > 1 and walk != ancestor:
                walk = parent_of(walk)
        except (OSError, ValueError, IndexError):
            continue
        if walk == ancestor:
            found.append(pid)
    return found


def certificate(folder: Path, name: str) -> tuple[Path, Path, Path]:
    """(CA, certificate, key): a CA of its own named ``name`` and one certificate it signed, valid for a day."""
    folder.mkdir(parents=True)
    ca, ca_key, cert, key, request = (folder / n for n in ("ca.pem", "ca.key", "node.pem", "node.key", "node.csr"))
    quiet = {"check": True, "capture_output": True}
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-subj",
                    f"/CN={name} CA", "-days", "1"], **quiet)  # type: ignore[call-overload]
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request, "-subj",
                    f"/CN={name}"], **quiet)  # type: ignore[call-overload]
    subprocess.run(["openssl", "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
                    "-days", "1"], **quiet)  # type: ignore[call-overload]
    return ca, cert, key


def tls_env(ca: Path, cert: Path, key: Path) -> dict[str, str]:
    """Dask's own configuration, as the README tells a course to set it for `grader grade --cluster tls://...`."""
    return {**client_env(), "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(ca), "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(cert),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(key), "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
            "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"}


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl makes the test certificates")
def test_with_tls_only_holders_of_the_course_certificates_take_part(tmp_path: Path) -> None:
    """Fails if the scheduler accepted a client whose certificate another CA signed."""
    course = certificate(tmp_path / "course", "course")
    stranger = certificate(tmp_path / "stranger", "stranger")
    ca, cert, key = course
    security = distributed.security.Security(tls_ca_file=str(ca), tls_client_cert=str(cert), tls_client_key=str(key),
                                             require_encryption=True)
    started = Cluster(workers=1, tls=("--tls-ca-file", str(ca), "--tls-cert", str(cert), "--tls-key", str(key)),
                      security=security)
    try:
        command = [sys.executable, "-m", "grader", "grade", "cnn_step_by_step", str(EXAMPLES / "alice_full_marks.ipynb"),
                   "--no-annotate", "--cluster", started.address]
        result = subprocess.run([*command, "--out", str(tmp_path / "course-out")], cwd=ROOT, env=tls_env(*course),
                                capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr
        assert json.loads((tmp_path / "course-out" / "alice_full_marks" / "results.json").read_text())["score"] == 100
        for name, env in (("stranger", tls_env(*stranger)), ("plain", {**client_env(), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"})):
            result = subprocess.run([*command, "--out", str(tmp_path / name)], cwd=ROOT, env=env, capture_output=True,
                                    text=True, timeout=180)
            assert result.returncode == 1 and "cannot reach the Dask scheduler" in result.stderr, (name, result.stderr)
            assert not (tmp_path / name / "alice_full_marks").exists()
    finally:
        started.close()


def test_a_lost_scheduler_stops_the_batch_with_a_clear_error(tmp_path: Path, solution_cells: dict[str, str]) -> None:
    cells = dict(solution_cells, zero_pad=SLOW_ZERO_PAD)
    paths = [write_notebook(tmp_path / f"slow_{i}.ipynb", "import numpy as np", *cells.values()) for i in range(3)]
    started = Cluster(workers=1)
    try:
        grading = subprocess.Popen([sys.executable, "-m", "grader", "grade", "cnn_step_by_step", *map(str, paths), "--out",
                                    str(tmp_path / "out"), "--no-annotate", "--cluster", started.address], cwd=ROOT,
                                   env=client_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with started.client() as client:
            deadline = time.monotonic() + 60
            while not any(client.processing().values()) and time.monotonic() < deadline:
                time.sleep(0.1)
        os.killpg(started.processes[0].pid, signal.SIGKILL)  # the scheduler, mid-batch
        _, stderr = grading.communicate(timeout=120)
    finally:
        started.close()
    assert grading.returncode == 1, stderr
    assert stderr.startswith("error: the grading on the Dask cluster stopped") and "Traceback" not in stderr, stderr


def test_a_worker_with_another_grader_or_other_instructor_files_refuses(cluster: Cluster) -> None:
    """The suite version the client sends must be what the worker computes from the files it received and its own
    grader: here the client claims another one, as a client with another grader would."""
    from grader.config import load_assignment
    from grader.running.cluster import CoursePlugin, SandboxRefused, course_bundle, grade_task

    bundle = course_bundle(load_assignment("cnn_step_by_step", ROOT))
    claimed = dataclasses.replace(bundle, version="0" * 64)
    with cluster.client() as client:
        client.register_plugin(CoursePlugin(claimed), name="grader-course-test-claimed")
        future = client.submit(grade_task, bundle.name, claimed.version, "all", "alice.ipynb",
                               (EXAMPLES / "alice_full_marks.ipynb").read_bytes(), pure=False)
        with pytest.raises(SandboxRefused, match="another version of the grader"):
            future.result(timeout=120)


def test_a_worker_reproduces_the_suite_version_from_the_bundle_even_with_a_linked_file(tmp_path: Path) -> None:
    """Workers check the bundle against the client's suite version; an instructor file that is a link (data shared
    between assignments) must travel as its content, or every task is refused as 'another version'."""
    from grader.authoring.reference_check import suite_version
    from grader.config import load_assignment
    from grader.running.cluster import course_bundle, unpack
    from tests.test_course_term import make_course

    course = make_course(tmp_path / "course")
    (tmp_path / "shared.npy").write_bytes(b"shared data")
    (course / "solutions" / "toy" / "data.npy").symlink_to(tmp_path / "shared.npy")
    bundle = course_bundle(load_assignment("toy", course))
    assert bundle.files["toy/data.npy"] == b"shared data"
    solutions = unpack(bundle)
    try:
        assert suite_version(load_assignment(solutions / "toy")) == bundle.version
    finally:
        shutil.rmtree(solutions.parent)


def test_a_course_graded_on_the_cluster_is_recorded_and_resumed(tmp_path: Path) -> None:
    """`grader grade ASSIGNMENT --cluster` without files grades the collected attempts into the course gradebook; run
    again (as after a client that died), it grades nothing already graded and reaches no cluster."""
    from tests.test_course_term import DOUBLE_BUG, RIGHT, ROSTER, db_rows, make_course, notebook_bytes, write_zip

    course = make_course(tmp_path)
    (course / "roster.csv").write_text(ROSTER)
    canvas = write_zip(course / "canvas.zip", [
        ("archeralice_101_9001_toy.ipynb", notebook_bytes(*RIGHT), (2026, 10, 1, 20, 0, 0)),
        ("bakerbob_102_9002_toy.ipynb", notebook_bytes(DOUBLE_BUG, RIGHT[1]), (2026, 10, 1, 21, 0, 0))])
    for step in (("roster", "import", course / "roster.csv"), ("collect", "toy", canvas)):
        run_cli(*step, cwd=course, check=True)
    first = run_cli("grade", "toy", "--no-annotate", "--cluster", "local", cwd=course)
    assert first.returncode == 0, first.stderr
    local = make_course(tmp_path / "local")
    (local / "roster.csv").write_text(ROSTER)
    for step in (("roster", "import", local / "roster.csv"), ("collect", "toy", canvas),
                 ("grade", "toy", "--no-annotate", "--sandbox", "bwrap")):
        run_cli(*step, cwd=local, check=True)
    query = "SELECT attempt, suite, score FROM gradings ORDER BY attempt"
    assert db_rows(course, query) == db_rows(local, query)
    assert sorted(score for _, _, score in db_rows(course, query)) == [4.0, 10.0]  # bob's double fails a hidden case
    again = run_cli("grade", "toy", "--no-annotate", "--cluster", "tcp://127.0.0.1:9", cwd=course)
    assert again.returncode == 0, again.stderr
    assert "nothing to grade: all 2 collected attempt(s) are graded" in again.stdout
    assert "graded now" not in again.stdout
    assert len(db_rows(course, query)) == 2
    # a test fix regraded on the cluster: the same change as local grading reports, recorded as a regrade
    from tests.test_course_term import HIDDEN_FIXED

    for folder in (course, local):
        (folder / "solutions" / "toy" / "hidden_tests.py").write_text(HIDDEN_FIXED)
    fixed = run_cli("regrade", "toy", "--no-annotate", "--cluster", "local", cwd=course)
    assert fixed.returncode == 0, fixed.stderr
    assert "square hidden #2: absent → passed" in fixed.stdout and "2 student(s) regraded" in fixed.stdout
    run_cli("regrade", "toy", "--no-annotate", "--sandbox", "bwrap", cwd=local, check=True)
    assert db_rows(course, query) == db_rows(local, query) and len(db_rows(course, query)) == 4
