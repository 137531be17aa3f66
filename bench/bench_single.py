"""One submission end to end, beside the floor: wall and CPU seconds, repeats interleaved (issue 14).

Times (a) the floor of bench_cohort.py (one plain Python process that imports NumPy and runs the eight reference
functions through the public tests), (b) ``grader grade`` of the full-marks example, with and without
``--no-annotate``, and ``grader check`` of it. The commands take turns (floor, grade, grade --no-annotate, check, floor,
...; every other turn in the reverse order, since two copies of one tree timed in a fixed order differed by 4%), so
that a change in the machine's load hits every one alike; the median of ``--repeats`` turns is shown, wall
clock and CPU seconds, and the wall ratio to the floor. The CPU seconds are those of the processes the command waited
for: the sandbox's own (Python and NumPy inside bubblewrap, ~0.13 s here) are not among them, since its PID namespace
is killed rather than waited for and the kernel adds that time to nobody's account. The row ``check --sandbox none``
runs the worker as an ordinary child, whose time is counted: the whole CPU cost of a check.

``--against DIR`` times a second copy of the grader's source (for example ``git archive COMMIT | tar -x -C DIR``) in
the same turns, run with this interpreter, ``-P`` and ``PYTHONPATH=DIR`` (without ``-P``, ``-m grader`` would put the
current folder, this checkout, first on sys.path and time this tree twice), in DIR, so that it grades with its own
assignments and solutions (today's hidden tests may need today's grader): a before/after in one run. Bytecode is cached as by
default (PYTHONDONTWRITEBYTECODE dropped) and one untimed run of each command fills the caches first.

    .venv/bin/python bench/bench_single.py [--repeats 7] [--against /tmp/base ...]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cohort import ASSIGNMENT, FULL_MARKS, ROOT, floor_command

#: Python without the current folder first on sys.path (3.11's -P), so that PYTHONPATH decides which tree runs.
PYTHON = [sys.executable, "-P"] if sys.version_info >= (3, 11) else [sys.executable]
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, children included) of one command."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, check=False, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return wall, after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--against", type=Path, metavar="DIR", action="append", default=[],
                        help="another source tree of the grader to time beside this one (may be repeated)")
    args = parser.parse_args()
    if args.against and len(PYTHON) == 1:
        parser.error("--against needs Python 3.11 or later (-P)")
    trees = {"": (ENV, ROOT)}
    for tree in args.against:
        env = {**ENV, "PYTHONPATH": str(tree.resolve())}
        found = subprocess.run([*PYTHON, "-c", "import grader; print(grader.__file__)"], cwd=ROOT, env=env,
                               capture_output=True, text=True, check=True).stdout.strip()
        if not found.startswith(str(tree.resolve()) + "/"):
            raise SystemExit(f"--against {tree}: Python imports the grader from {found}, not from that tree")
        trees[f"{tree.name} "] = (env, tree.resolve())
    with tempfile.TemporaryDirectory(prefix="bench-single-") as tmp:
        out = Path(tmp) / "out"
        grade = [*PYTHON, "-m", "grader", "grade", ASSIGNMENT, str(FULL_MARKS), "--out", str(out)]
        check = [*PYTHON, "-m", "grader", "check", str(FULL_MARKS), "--assignment", ASSIGNMENT]
        commands: dict[str, tuple[list[str], dict[str, str], Path]] = {
            "(a) floor": (floor_command(ENV), ENV, ROOT)}
        for tag, (env, cwd) in trees.items():
            commands[f"{tag}(b) grade"] = (grade, env, cwd)
            commands[f"{tag}(b) grade --no-annotate"] = ([*grade, "--no-annotate"], env, cwd)
            commands[f"{tag}(b) check"] = (check, env, cwd)
            commands[f"{tag}(b) check --sandbox none"] = ([*check, "--sandbox", "none"], env, cwd)
        for command in commands.values():  # bytecode and Jinja's template cache
            run(*command)
            shutil.rmtree(out, ignore_errors=True)
        timings: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for turn in range(args.repeats):
            names = list(commands) if turn % 2 == 0 else list(reversed(commands))  # no command always runs just after another
            for name in names:
                timings[name].append(run(*commands[name]))
                shutil.rmtree(out, ignore_errors=True)
    floor = statistics.median(w for w, _ in timings["(a) floor"])
    print(f"{'':<34}{'wall s':>8}{'cpu s':>8}{'x floor':>9}")
    for name, got in timings.items():
        wall, cpu = statistics.median(w for w, _ in got), statistics.median(c for _, c in got)
        print(f"{name:<34}{wall:>8.3f}{cpu:>8.3f}{wall / floor:>8.1f}x")
    print(f"median of {args.repeats} interleaved turns; load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
