"""Seconds per notebook on a cohort that looks like a real class, beside full-marks copies and the floor.

(a) floor: one plain Python process that imports NumPy, defines the eight reference functions from the master
    notebook and runs them through the public tests: what any grader must at least spend on one notebook; (a') what
    one grade must at least spend here with a sandbox: a Python that imports NumPy while bubblewrap starts the
    grader's sandbox (Python and NumPy inside) until it says it is ready, before any test runs;
(b) one submission end to end (``grader grade`` of one full-marks notebook, whole command, with the annotated
    notebook as by default, and with ``--no-annotate``), and ``grader check``;
(c) a batch of N full-marks copies, (c') N full-marks notebooks that each differ by a comment in a function (as real ones
    differ: each then meets hidden cases of its own seed, whose expected values identical copies share), and (d) a
    cohort of N notebooks built reproducibly (``--seed``) from the master's cells and the mistakes a class makes:
    most notebooks with 1 to 4 failing functions (wrong values, wrong shapes, float() of an array, a function still
    the template, None returned, an exception), some with a cell that does not parse, a few unreadable files and a
    few that time out; all ``--jobs 2``.
Wall clock of the whole command, median of ``--repeats`` runs, all in one run and in turns (each command once, then
each again) so that the ratios share the machine's load and its shifts of speed; beside it the CPU seconds of the
command and the processes it waited for (less sensitive to other people's work than the wall clock, though not
immune; the sandboxes' own time is not in it: bubblewrap's PID namespaces are killed, not waited for, so the kernel
adds their time to nobody's account, see bench_single.py). Goals (issue 14): (d) <= 1.5
x (c) per notebook, (b) <= 3 x (a). A timeout costs its limit by design (``call_seconds`` of CPU time, once per
timed-out function): the cohort line says how much waiting that is, and the cohort is timed again without the
notebooks that time out. Last, ``-X importtime`` totals of one grade and one check: the modules imported, independent
of the notebooks. Python's bytecode cache is on, as it is by default (PYTHONDONTWRITEBYTECODE is dropped for the
commands timed), and one untimed run of the floor and of a grade fills it (and Jinja's template cache) first.

    .venv/bin/python bench/bench_cohort.py [--batch 50] [--seed 14] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
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
FULL_MARKS = ROOT / "examples" / "submissions" / "alice_full_marks.ipynb"
REPEATS = 3
FUNCTIONS = ["zero_pad", "conv_single_step", "conv_forward", "pool_forward", "conv_backward",
             "create_mask_from_window", "distribute_value", "pool_backward"]
# How a function goes wrong: each turns the master's cell into a student's wrong one.
WRONG_VALUES = "\n\n_right_{f} = {f}\n\ndef {f}(*args, **kwargs):\n    out = _right_{f}(*args, **kwargs)\n" \
               "    first = out[0] if isinstance(out, tuple) else out\n    if hasattr(first, 'shape'):\n" \
               "        first *= 1.5\n    return out\n"
MISTAKES = {
    "values": lambda f, cell: cell + WRONG_VALUES.format(f=f),
    "shape": lambda f, cell: cell + f"\n\n_right_{f} = {f}\n\ndef {f}(*args, **kwargs):\n    return np.zeros((2, 2))\n",
    "exception": lambda f, cell: cell + f"\n\ndef {f}(*args, **kwargs):\n    return float(np.ones((1, 1, 1, 8)))\n",
    "template": lambda f, cell: f"import numpy as np\ndef {f}(*args, **kwargs):\n    return undefined_result\n",
    "none": lambda f, cell: f"import numpy as np\ndef {f}(*args, **kwargs):\n    pass\n",
    "syntax": lambda f, cell: cell.replace("def ", "def def ", 1),
    "timeout": lambda f, cell: f"import numpy as np\ndef {f}(*args, **kwargs):\n    while True:\n        pass\n",
}


def cells_of(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def graded_cells(notebook: dict) -> dict[str, int]:
    """Function → index of the cell that defines it (``# GRADED FUNCTION: name``)."""
    found = {}
    for index, cell in enumerate(notebook["cells"]):
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and source.startswith("# GRADED FUNCTION:"):
            found[source.split("\n", 1)[0].split(":", 1)[1].strip()] = index
    return found


def cohort(folder: Path, count: int, seed: int) -> list[Path]:
    """``count`` notebooks: the full-marks example with mistakes put in, drawn from ``seed``."""
    rng = random.Random(seed)
    base = cells_of(FULL_MARKS)
    where = graded_cells(base)
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        path = folder / f"student_{i:03d}.ipynb"
        roll = rng.random()
        if roll < 0.04:  # unreadable: an upload cut short
            path.write_text(json.dumps(base)[: rng.randrange(200, 5000)], encoding="utf-8")
            paths.append(path)
            continue
        notebook = json.loads(json.dumps(base))
        kinds = ["values"] * 4 + ["shape", "exception", "template", "template", "none", "syntax"]
        if roll > 0.97:
            kinds = ["timeout"]
        failing = rng.sample(FUNCTIONS, 0 if roll < 0.12 else 1 if kinds == ["timeout"] else rng.randint(1, 4))
        for function in failing:
            cell = notebook["cells"][where[function]]
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = MISTAKES[rng.choice(kinds)](function, source)
        path.write_text(json.dumps(notebook), encoding="utf-8")
        paths.append(path)
    return paths


def signed(path: Path, number: int) -> Path:
    """The full-marks notebook with a comment of its own inside zero_pad, as every real notebook differs: its hidden
    cases then come from a seed of its own (grader/grading/seeds.py: a hash of the code the sandbox runs, which keeps
    what is inside a function), and the grader computes their expected values again, where identical copies share
    one seed and reuse the first copy's."""
    notebook = cells_of(FULL_MARKS)
    cell = notebook["cells"][graded_cells(notebook)["zero_pad"]]
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    head, body = source.split("def zero_pad(X, pad):", 1)  # Windows line ends too, as this example has
    cell["source"] = f"{head}def zero_pad(X, pad):\n    # student {number}{body}"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


#: As Python runs by default: the grader's bytecode is cached (an installed package has it from the start; a session
#: that sets PYTHONDONTWRITEBYTECODE would pay for compiling every grader module, ~0.07 s, on every command).
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def run_once(cmd: list[str], before=lambda: None) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Wall clock and CPU seconds (the command and everything it waited for) of one run."""
    before()
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False, env=ENV)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime


def in_turns(commands: dict[str, tuple[list[str], Callable[[], object]]]) -> dict[str, tuple[float, float]]:
    """Median wall clock and CPU seconds of ``REPEATS`` runs of each command (name → (command, what to do before
    it)), the commands taking turns: this machine's speed shifts by up to 2x for seconds at a time (as the other
    core's load does), and runs of one command after another would each meet a different machine."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(REPEATS):
        for name, (cmd, before) in commands.items():
            runs[name].append(run_once(cmd, before))
    return {name: (statistics.median(w for w, _ in done), statistics.median(c for _, c in done))
            for name, done in runs.items()}


def import_seconds(args: list[str]) -> float:
    """Seconds of imports (``-X importtime``, top-level modules) of one ``grader`` command."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "grader", *args], cwd=ROOT, capture_output=True,
                          text=True, check=False, env=ENV)
    total = 0
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[1].strip().isdigit() and \
                not parts[2].startswith("  "):
            total += int(parts[1])
    return total / 1e6


def _times_out(results: Path) -> bool:
    return results.is_file() and any(t.get("extra_data", {}).get("outcome") == "timeout"
                                     for t in json.loads(results.read_text())["tests"])


def timeouts(out: Path) -> int:
    """How many functions timed out in the graded folder (each cost ``call_seconds`` of CPU time)."""
    count = 0
    for results in out.glob("*/results.json"):
        seen = {t["extra_data"]["function"] for t in json.loads(results.read_text())["tests"]
                if t.get("extra_data", {}).get("outcome") == "timeout"}
        count += len(seen)
    return count


#: What one grade must at least spend with a sandbox on this machine: a Python that imports NumPy (the trusted side
#: compares arrays) while bubblewrap starts the grader's own sandbox (Python and NumPy inside) until it says ready.
SANDBOX_FLOOR = """
import sys
sys.path.insert(0, {root!r})
from grader.config import load_assignment
from grader.grading.sandbox import Worker
assignment = load_assignment({assignment!r})
worker = Worker("bwrap", assignment.limits, assignment.course_files)
worker.start()
import numpy
worker._await_ready()
worker.close()
"""

FLOOR = """
import json, sys
import numpy as np
sys.path.insert(0, {folder!r})
notebook = json.load(open({master!r}))
namespace = {{"np": np}}
for cell in notebook["cells"]:
    source = "".join(cell["source"])
    if cell["cell_type"] == "code" and source.startswith("# GRADED FUNCTION:"):
        exec(source, namespace)
import public_tests
for name in {functions!r}:
    getattr(public_tests, name + "_test")(namespace[name])
print({done!r})
"""
#: What the floor prints once every reference passed its public test: a floor that stopped early would be no floor.
FLOOR_DONE = "floor: the eight references passed their public tests"


def floor_command(env: dict[str, str]) -> list[str]:
    """The floor's command, run once (untimed: it fills the bytecode cache) to see that it gets through every test."""
    code = FLOOR.format(folder=str(SOLUTION), master=str(SOLUTION / f"{ASSIGNMENT}.ipynb"), functions=FUNCTIONS,
                        done=FLOOR_DONE)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False, env=env)
    if FLOOR_DONE not in done.stdout:
        raise SystemExit(f"the floor stopped before its last test ({done.returncode}): {done.stderr[-2000:]}")
    return [sys.executable, "-c", code]


def main() -> None:
    global REPEATS
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--keep-env", action="store_true",
                        help="run the commands in this environment as it is (PYTHONDONTWRITEBYTECODE included, if set: "
                             "it stops Python writing bytecode, not reading what an earlier run wrote)")
    args = parser.parse_args()
    REPEATS = args.repeats
    if args.keep_env:
        ENV.update(os.environ)
    grader = str(Path(sys.executable).parent / "grader")
    floor_cmd = floor_command(ENV)
    call_seconds = float(tomllib.loads((SOLUTION / "assignment.toml").read_text())["limits"]["call_seconds"])
    with tempfile.TemporaryDirectory(prefix="bench-cohort-") as tmp:
        work = Path(tmp)
        out = work / "out"
        reset = lambda: shutil.rmtree(out, ignore_errors=True)
        one = [grader, "grade", ASSIGNMENT, str(FULL_MARKS), "--out", str(out)]
        subprocess.run(one, cwd=ROOT, capture_output=True, check=False, env=ENV)  # bytecode and templates cached once
        check_args = ["check", str(FULL_MARKS), "--assignment", ASSIGNMENT]
        copies = work / "copies"
        copies.mkdir()
        full = [shutil.copy(FULL_MARKS, copies / f"student_{i:03d}.ipynb") for i in range(args.batch)]
        distinct = [signed(copies / f"signed_{i:03d}.ipynb", i) for i in range(args.batch)]
        mixed = cohort(work / "cohort", args.batch, args.seed)
        batch_of = lambda paths: [grader, "grade", ASSIGNMENT, *map(str, paths), "--out", str(out), "--jobs", "2"]
        run_once(batch_of(mixed), reset)  # once, untimed: which notebooks time out, and what the cohort scores
        scores = [json.loads(p.read_text())["score"] for p in out.glob("*/results.json")]
        waited = timeouts(out) * call_seconds
        spinning = [path for path in mixed if _times_out(out / path.stem / "results.json")]
        calm = [path for path in mixed if path not in spinning]
        timed = in_turns({
            "floor": (floor_cmd, lambda: None),
            "sandbox floor": ([sys.executable, "-c", SANDBOX_FLOOR.format(root=str(ROOT), assignment=ASSIGNMENT)],
                              lambda: None),
            "single": (one, reset), "bare": ([*one, "--no-annotate"], reset), "check": ([grader, *check_args], lambda: None),
            "batch": (batch_of(full), reset), "own": (batch_of(distinct), reset), "real": (batch_of(mixed), reset),
            "quiet": (batch_of(calm), reset),
        })
        floor, sandbox_floor, single, bare, check = (timed[k] for k in ("floor", "sandbox floor", "single", "bare", "check"))
        batch, own, real, quiet = (timed[k] for k in ("batch", "own", "real", "quiet"))
        imports = {"grade": import_seconds(one[1:]), "grade --no-annotate": import_seconds([*one[1:], "--no-annotate"]),
                   "check": import_seconds(check_args)}
    n = args.batch
    print(f"{'':<38}{'wall s':>8}{'per nb':>8}{'cpu s':>8}{'ratio':>8}")

    def row(name: str, timing: tuple[float, float], count: int = 1, ratio: str = "") -> None:
        print(f"{name:<38}{timing[0]:>8.2f}{timing[0] / count:>8.3f}{timing[1]:>8.2f}{ratio}")

    row("(a) floor (NumPy + 8 references)", floor)
    row("(a') NumPy here + a sandbox ready", sandbox_floor, ratio=f"{sandbox_floor[0] / floor[0]:>7.1f}x of (a)")
    row("(b) grader grade, one notebook", single, ratio=f"{single[0] / floor[0]:>7.1f}x of (a), goal <= 3")
    row("(b) grader grade --no-annotate, one", bare, ratio=f"{bare[0] / floor[0]:>7.1f}x of (a)")
    row("(b) grader check, one notebook", check, ratio=f"{check[0] / floor[0]:>7.1f}x of (a), goal <= 3")
    row("(c) full-marks batch, --jobs 2", batch, n)
    row("(c') full marks, each its own notebook", own, n, ratio=f"{own[0] / batch[0]:>7.2f}x of (c)")
    row("(d) cohort, --jobs 2", real, n, ratio=f"{real[0] / batch[0]:>7.2f}x of (c), goal <= 1.5; "
                                              f"{real[0] / own[0]:.2f}x of (c')")
    row(f"(d) cohort without its {len(spinning)} timing out", quiet, len(calm),
        ratio=f"{quiet[0] / len(calm) / (batch[0] / n):>7.2f}x of (c); {quiet[0] / len(calm) / (own[0] / n):.2f}x of (c')")
    print(f"cohort of {n} (seed {args.seed}): mean score {statistics.fmean(scores):.1f}, "
          f"{sum(s == 100 for s in scores)} at 100, {sum(s == 0 for s in scores)} at 0; {waited / call_seconds:.0f} "
          f"function(s) timed out, {waited:g} s of computing by design (~{waited / 2:.1f} s of wall clock with 2 jobs); "
          f"median of {REPEATS} runs, the commands taking turns; bytecode cache {'off' if ENV.get('PYTHONDONTWRITEBYTECODE') else 'on'}")
    print("imports (-X importtime, top-level modules): " + ", ".join(f"{k} {v:.3f} s" for k, v in imports.items()))


if __name__ == "__main__":
    main()
