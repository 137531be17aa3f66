"""Seconds per submission: this grader against nbgrader's ``autograde``, on the same notebooks.

Both grade copies of one correct submission (examples/submissions/alice_full_marks.ipynb) of the CNN
assignment: (a) one notebook, (b) a batch of N (``--batch``, default 50), ours with ``--jobs 2``, nbgrader
one notebook after the other in a fresh kernel each (it has no parallel option). A timing is the wall
clock of the whole command, start-up included, median of 3 runs. Also shown: our in-process time per
submission, the median ``execution_time`` of the results.json files.

nbgrader runs from its own virtual environment, bench/.venv-nbgrader, created on first use (python3 -m
venv; pip install nbgrader, plus ipykernel, numpy and matplotlib for its kernel). Its course is built in
a temporary folder from the master notebook: our solution markers become ``### BEGIN SOLUTION`` /
``### END SOLUTION`` in autograded-answer cells, each ``<fn>_test(<fn>)`` cell an autograder test worth
the function's points; each student's copy is the generated release with alice's function cells put in.
Every nbgrader timing starts from a fresh gradebook and runs ``autograde --force``.

Run it with the interpreter of the virtual environment where grader is installed: ours is timed with
the ``grader`` command beside that interpreter. From anywhere:

    .venv/bin/python bench/bench_grade.py                  # or: make bench (a few minutes)
    .venv/bin/python bench/bench_grade.py --skip-nbgrader  # ours only, seconds
    .venv/bin/python bench/bench_grade.py --batch 100
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "cnn_step_by_step"
SOLUTION = ROOT / "solutions" / ASSIGNMENT
RELEASE = ROOT / "assignments" / ASSIGNMENT
SUBMISSION = ROOT / "examples" / "submissions" / "alice_full_marks.ipynb"
NBGRADER_VENV = ROOT / "bench" / ".venv-nbgrader"
NBGRADER_PACKAGES = ["nbgrader==0.9.6", "ipykernel", "numpy", "matplotlib"]
NB_NAME = f"{ASSIGNMENT}.ipynb"
NB_ASSIGNMENT = "cnn"  # the assignment's name in the nbgrader course
REPEATS = 3
MARKERS = {"# YOUR CODE STARTS HERE": "### BEGIN SOLUTION", "# YOUR CODE ENDS HERE": "### END SOLUTION"}


def run(cmd: list[str], cwd: Path) -> None:
    """Run a command with its folder first on PATH, as in an activated venv (nbgrader runs `alembic`); exit on failure."""
    env = os.environ | {"PATH": os.pathsep.join([str(Path(cmd[0]).parent), os.environ.get("PATH", "")])}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode cached, as Python runs by default (and as an install has it)
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")


def timed(cmd: list[str], cwd: Path, before: Callable[[], object] = lambda: None) -> float:
    """Median wall-clock seconds of REPEATS runs of cmd; ``before`` resets the state before each run."""
    times = []
    for _ in range(REPEATS):
        before()
        start = time.perf_counter()
        run(cmd, cwd)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ensure_nbgrader_venv() -> Path:
    """Create bench/.venv-nbgrader with nbgrader in it unless it is there; return its bin folder."""
    bin_dir = NBGRADER_VENV / "bin"
    if (bin_dir / "nbgrader").exists():
        return bin_dir
    print(f"creating {NBGRADER_VENV} and installing {' '.join(NBGRADER_PACKAGES)} (first run only, under a minute)", flush=True)
    run([shutil.which("python3") or sys.executable, "-m", "venv", str(NBGRADER_VENV)], ROOT)
    run([str(bin_dir / "pip"), "install", "--quiet", *NBGRADER_PACKAGES], ROOT)
    return bin_dir


def read_notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def write_notebook(nb: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def graded_function(cell: dict) -> str | None:
    """The function a ``# GRADED FUNCTION: name`` cell defines, else None."""
    first = source(cell).split("\n", 1)[0]
    return first.split(":", 1)[1].strip() if cell["cell_type"] == "code" and first.startswith("# GRADED FUNCTION:") else None


def nbgrader_metadata(grade_id: str, *, solution: bool, points: int = 0) -> dict:
    """nbgrader's cell metadata: an autograded answer (solution) or an autograder test worth points."""
    meta = {"grade": not solution, "grade_id": grade_id, "locked": not solution, "schema_version": 3, "solution": solution}
    return meta | ({} if solution else {"points": points})


def to_nbgrader_source(master: dict, points: dict[str, int]) -> dict:
    """The master notebook in nbgrader's format; instructor-only cells are dropped, as in our release."""
    nb = copy.deepcopy(master)
    nb["cells"] = [c for c in nb["cells"] if "instructor-only" not in c.get("metadata", {}).get("tags", [])]
    tests = {f"{name}_test({name})": name for name in points}
    for cell in nb["cells"]:
        text = source(cell)
        if name := graded_function(cell):
            for ours, theirs in MARKERS.items():
                text = text.replace(ours, theirs)
            cell["metadata"]["nbgrader"] = nbgrader_metadata(name, solution=True)
        elif cell["cell_type"] == "code" and (name := tests.get(text.strip(), "")):
            cell["metadata"]["nbgrader"] = nbgrader_metadata(f"test_{name}", solution=False, points=points[name])
        cell["source"] = text
    return nb


def fill_in(release: dict, submission: dict) -> dict:
    """The nbgrader release notebook with its solution cells replaced by the submission's function cells."""
    answers = {graded_function(c): source(c) for c in submission["cells"] if graded_function(c)}
    nb = copy.deepcopy(release)
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            cell["source"] = answers[cell["metadata"]["nbgrader"]["grade_id"]]
    return nb


def graded_functions() -> list[dict]:
    """The [[functions]] tables of assignment.toml: name, points, optional."""
    return tomllib.loads((SOLUTION / "assignment.toml").read_text(encoding="utf-8"))["functions"]


def our_max_score() -> int:
    """Our maximum: the required functions' points (optional ones are bonus, capped at this)."""
    return sum(f["points"] for f in graded_functions() if not f.get("optional"))


def build_nbgrader_course(course: Path, students: list[str], bin_dir: Path) -> Path:
    """Course folder with source, release and submitted/<student>/; returns the pristine gradebook copy."""
    course.mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\n", encoding="utf-8")
    source_dir = course / "source" / NB_ASSIGNMENT
    points = {f["name"]: f["points"] for f in graded_functions()}
    write_notebook(to_nbgrader_source(read_notebook(SOLUTION / NB_NAME), points), source_dir / NB_NAME)
    for name in ("public_tests.py", "grader_checks.py", "conv_backward_dZ.npy"):
        shutil.copy(RELEASE / name, source_dir / name)
    run([str(bin_dir / "nbgrader"), "generate_assignment", NB_ASSIGNMENT, "--force"], course)
    release_dir = course / "release" / NB_ASSIGNMENT
    student_nb = fill_in(read_notebook(release_dir / NB_NAME), read_notebook(SUBMISSION))
    for student in students:
        shutil.copytree(release_dir, course / "submitted" / student / NB_ASSIGNMENT)
        write_notebook(student_nb, course / "submitted" / student / NB_ASSIGNMENT / NB_NAME)
    shutil.copy(course / "gradebook.db", course / "gradebook.pristine.db")
    return course / "gradebook.pristine.db"


def time_nbgrader(course: Path, pristine: Path, bin_dir: Path, student: str | None) -> float:
    """Median seconds of ``nbgrader autograde`` (one student or all), each run on a fresh gradebook."""
    cmd = [str(bin_dir / "nbgrader"), "autograde", NB_ASSIGNMENT, "--force", *(["--student", student] if student else [])]
    return timed(cmd, course, lambda: shutil.copy(pristine, course / "gradebook.db"))


def nbgrader_lowest_score(course: Path) -> str:
    """Lowest 'score/max' over the students in the gradebook (nbgrader has no bonus: optional functions count in max)."""
    with sqlite3.connect(course / "gradebook.db") as db:
        got, top = db.execute(
            "SELECT SUM(g.auto_score) AS got, SUM(c.max_score) FROM grade g JOIN grade_cells c ON g.cell_id = c.id"
            " JOIN submitted_notebook n ON g.notebook_id = n.id JOIN submitted_assignment a ON n.assignment_id = a.id"
            " GROUP BY a.student_id ORDER BY got LIMIT 1"
        ).fetchone()
    return f"{got:g}/{top:g}"


def nbgrader_timings(course: Path, count: int) -> tuple[float, float]:
    """Seconds of nbgrader autograde for one student and for all of them, printed as they come."""
    bin_dir = ensure_nbgrader_venv()
    students = [f"student_{i:03d}" for i in range(count)]
    pristine = build_nbgrader_course(course, students, bin_dir)
    print(f"nbgrader: {bin_dir / 'nbgrader'} ({NBGRADER_PACKAGES[0]}), one notebook at a time, each in a new kernel;")
    print("  no bonus points in nbgrader: the optional functions count in its maximum")
    single = time_nbgrader(course, pristine, bin_dir, students[0])
    print(f"  single: {single:.2f} s, score {nbgrader_lowest_score(course)}", flush=True)
    batch = time_nbgrader(course, pristine, bin_dir, None)
    print(f"  batch:  {batch:.2f} s for {count}, lowest score {nbgrader_lowest_score(course)}", flush=True)
    return single, batch


def make_copies(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    return [Path(shutil.copy(SUBMISSION, folder / f"student_{i:03d}.ipynb")) for i in range(count)]


def time_ours(grader: Path, notebooks: list[Path], out: Path, jobs: int) -> tuple[float, float, float]:
    """Median seconds of ``grader grade``, median execution_time and lowest score of the results.json files."""
    # --no-annotate: nbgrader's autograde writes no feedback notebook either (ours costs about 0.1 s more per notebook)
    cmd = [str(grader), "grade", ASSIGNMENT, *map(str, notebooks), "--out", str(out), "--jobs", str(jobs), "--no-annotate"]
    seconds = timed(cmd, ROOT, lambda: shutil.rmtree(out, ignore_errors=True))
    results = [json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*/results.json")]
    if len(results) != len(notebooks):
        sys.exit(f"expected {len(notebooks)} results.json in {out}, found {len(results)}")
    return seconds, statistics.median(r["execution_time"] for r in results), min(r["score"] for r in results)


def our_timings(grader: Path, notebooks: list[Path], work: Path) -> tuple[float, float]:
    """Seconds of ``grader grade`` for one notebook and for all of them (--jobs 2), printed as they come."""
    sandbox = "bubblewrap" if shutil.which("bwrap") else "none: no bwrap, process limits only"
    print(f"ours: {grader} (interpreter {sys.executable}), sandbox {sandbox}")
    top, count = our_max_score(), len(notebooks)
    single, single_in, single_score = time_ours(grader, notebooks[:1], work / "out-single", jobs=1)
    print(f"  single: {single:.2f} s, score {single_score:g}/{top}, in-process (execution_time) {single_in:.3f} s", flush=True)
    batch, batch_in, low = time_ours(grader, notebooks, work / "out-batch", jobs=2)
    print(f"  batch:  {batch:.2f} s for {count}, --jobs 2, lowest score {low:g}/{top}, in-process median {batch_in:.3f} s", flush=True)
    return single, batch


def print_table(rows: list[tuple[str, int, float, float | None]]) -> None:
    print(f"\n{'':<22}{'notebooks':>10}{'ours s/notebook':>17}{'nbgrader s/notebook':>21}{'ratio':>8}")
    for label, count, ours, theirs in rows:
        nbg = f"{'skipped':>21}" if theirs is None else f"{theirs / count:>21.3f}"
        ratio = f"{'-':>8}" if theirs is None else f"{theirs / ours:>7.1f}x"
        print(f"{label:<22}{count:>10}{ours / count:>17.3f}{nbg}{ratio}")
    print("ratio = nbgrader / ours, wall clock of the whole command (start-up included), median of", REPEATS, "runs.")
    print("Batch: ours with --jobs 2; nbgrader autograde has no parallel option, so it grades one notebook at a time.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--batch", type=int, default=50, help="notebooks in the batch (at least 50; default 50)")
    parser.add_argument("--skip-nbgrader", action="store_true", help="time our grader only")
    args = parser.parse_args()
    if args.batch < 50:
        parser.error("--batch must be at least 50")
    grader = Path(sys.executable).parent / "grader"
    if not grader.exists():
        sys.exit(f"no grader command beside {sys.executable}: run this with the venv where grader is installed")
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        work = Path(tmp)
        ours = our_timings(grader, make_copies(work / "submissions", args.batch), work)
        theirs = (None, None) if args.skip_nbgrader else nbgrader_timings(work / "course", args.batch)
    print_table([("(a) single", 1, ours[0], theirs[0]), ("(b) batch", args.batch, ours[1], theirs[1])])


if __name__ == "__main__":
    main()
