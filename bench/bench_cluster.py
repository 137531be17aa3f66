"""Notebooks per second on a Dask cluster (1 and 2 workers) against local ``--jobs 1`` and ``--jobs 2``, and what
Dask adds per task (issue 11).

Two sets: the mixed one, copies of the CNN examples (full marks, partly right, broken, an unreadable file),
``--copies`` of each (default 5, so 20 notebooks), where the broken one waits for a call's timeout (about 5 s of
wall clock, little CPU); and a CPU-bound one, ``--fast`` copies (default 20) of the examples that never wait (60
notebooks). Everything is timed in this process through the library (``batch.grade_all`` without annotation, the
reports written as in a real run), wall clock:

- local ``--jobs 1`` and ``--jobs 2``: start-up of the jobs included (that is what a run costs);
- a cluster of one, then two ``dask worker --nworkers 1 --nthreads 1`` processes beside a ``dask scheduler`` on
  127.0.0.1: the first run pays the course plugin and each worker's helper and sandbox start (cold), the second
  finds them warm (the steady state of a long-lived cluster);
- Dask's own cost: the round trip of a trivial task one after the other, tasks per second for 2,000 trivial tasks
  in flight, and, for warm graded tasks submitted one at a time, the wall time of each against the grading time the
  report measured inside the helper;
- the client's share: writing one submission's reports (results.json, feedback.html, feedback.md), and with the
  annotated notebook, which ``grader grade`` writes on the client by default.

    .venv/bin/python bench/bench_cluster.py               # a few minutes on 2 cores
    .venv/bin/python bench/bench_cluster.py --copies 10 --fast 40
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples" / "submissions").glob("*.ipynb"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """A scheduler and ``workers`` single-threaded workers as processes on 127.0.0.1."""

    def __init__(self, workers: int) -> None:
        from distributed import Client

        self.address = f"tcp://127.0.0.1:{free_port()}"
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
        dask = [sys.executable, "-m", "dask"]
        self.processes = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port",
                                            self.address.rsplit(":", 1)[1], "--no-dashboard"], **quiet)]  # type: ignore[call-overload]
        self.processes += [subprocess.Popen([*dask, "worker", self.address, "--nworkers", "1", "--nthreads", "1",
                                             "--host", "127.0.0.1", "--no-dashboard"], **quiet)  # type: ignore[call-overload]
                           for _ in range(workers)]
        with Client(self.address, timeout="30s") as client:
            client.wait_for_workers(workers, timeout=60)

    def close(self) -> None:
        for process in reversed(self.processes):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def copies_of(examples: list[Path], folder: Path, copies: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for copy in range(copies):
        for example in examples:
            target = folder / f"{example.stem}_{copy:03d}.ipynb"
            shutil.copyfile(example, target)
            paths.append(target)
    return paths


def timed_batch(paths: list[Path], out: Path, jobs: int = 1, cluster: str | None = None) -> float:
    from grader.config import load_assignment
    from grader.running.batch import grade_all

    assignment = load_assignment("cnn_step_by_step", ROOT)
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    grade_all(assignment, paths, out, "bwrap", jobs=jobs, progress=False, annotate=False, cluster=cluster)
    return time.perf_counter() - started


def dask_overhead(address: str, paths: list[Path]) -> dict[str, float]:
    """Trivial task round trip and throughput; warm graded tasks: wall time against the grading inside."""
    from distributed import Client

    from grader.config import load_assignment
    from grader.running.cluster import CoursePlugin, course_bundle, grade_task

    assignment = load_assignment("cnn_step_by_step", ROOT)
    bundle = course_bundle(assignment)
    with Client(address) as client:
        client.register_plugin(CoursePlugin(bundle), name=f"grader-course-{bundle.version[:20]}")
        trips = []
        for _ in range(100):
            started = time.perf_counter()
            client.submit(abs, -1, pure=False).result()
            trips.append(time.perf_counter() - started)
        started = time.perf_counter()
        client.gather(client.map(abs, range(-2000, 0), pure=False))
        rate = 2000 / (time.perf_counter() - started)
        walls, inside = [], []
        for path in [p for p in paths if "dave" not in p.name][:12]:  # readable ones: dave's is refused on the client
            data = path.read_bytes()
            started = time.perf_counter()
            report = client.submit(grade_task, assignment.name, bundle.version, "all", path.name, data, pure=False).result()
            walls.append(time.perf_counter() - started)
            inside.append(report["execution_time"])
    return {"trivial_ms": 1000 * statistics.median(trips), "trivial_per_s": rate,
            "graded_wall_ms": 1000 * statistics.median(walls), "graded_inside_ms": 1000 * statistics.median(inside)}


def client_writing(folder: Path) -> tuple[float, float]:
    """Seconds to write one submission's reports on the client: without and with the annotated notebook."""
    from grader.config import load_assignment
    from grader.running.batch import grade_paths, write_or_explain, write_submission_reports

    assignment = load_assignment("cnn_step_by_step", ROOT)
    source = ROOT / "examples" / "submissions" / "bob_partly_right.ipynb"
    (report,) = grade_paths(assignment, [source], "bwrap")
    plain, annotated = [], []
    for index in range(5):
        started = time.perf_counter()
        write_or_explain(report, folder / f"plain{index}", "bob")
        plain.append(time.perf_counter() - started)
        started = time.perf_counter()
        write_submission_reports(report, source, folder / f"annotated{index}", "bob", True, assignment.student_notebook)
        annotated.append(time.perf_counter() - started)
    return statistics.median(plain), statistics.median(annotated)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=5, help="copies of each example in the mixed set (default 5)")
    parser.add_argument("--fast", type=int, default=20, help="copies of each example that never waits (default 20)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as temporary:
        folder = Path(temporary)
        sets = {"mixed": copies_of(EXAMPLES, folder / "mixed", args.copies),
                "cpu-bound": copies_of([p for p in EXAMPLES if "carol" not in p.name], folder / "fast", args.fast)}
        for name, paths in sets.items():
            print(f"{name}: {len(paths)} notebooks ({', '.join(sorted({p.stem.rsplit('_', 1)[0] for p in paths}))})")
        print(f"\n{'how':<34} " + " ".join(f"{name + ' s':>12} {'nb/s':>6}" for name in sets))

        def row(label: str, **where: object) -> None:
            cells = []
            for paths in sets.values():
                seconds = timed_batch(paths, folder / "out", **where)  # type: ignore[arg-type]
                cells.append(f"{seconds:>12.2f} {len(paths) / seconds:>6.1f}")
            print(f"{label:<34} " + " ".join(cells), flush=True)

        for jobs in (1, 2):
            row(f"local --jobs {jobs}", jobs=jobs)
        overhead: dict[str, float] = {}
        for workers in (1, 2):
            cluster = Cluster(workers)
            try:
                row(f"dask, {workers} worker{'s' if workers > 1 else ''}, cold", cluster=cluster.address)
                row(f"dask, {workers} worker{'s' if workers > 1 else ''}, warm", cluster=cluster.address)
                if workers == 1:
                    overhead = dask_overhead(cluster.address, sets["cpu-bound"])
            finally:
                cluster.close()
        plain, annotated = client_writing(folder / "writing")
        print(f"\nDask, one worker: trivial task round trip {overhead['trivial_ms']:.1f} ms; "
              f"{overhead['trivial_per_s']:.0f} trivial tasks/s with 2,000 in flight")
        print(f"a warm graded task, one at a time: {overhead['graded_wall_ms']:.0f} ms wall, of which "
              f"{overhead['graded_inside_ms']:.0f} ms grading inside the helper "
              f"(+{overhead['graded_wall_ms'] - overhead['graded_inside_ms']:.0f} ms Dask, pipes and report transfer)")
        print(f"client, per submission: reports {1000 * plain:.0f} ms; with the annotated notebook {1000 * annotated:.0f} ms")


if __name__ == "__main__":
    main()
