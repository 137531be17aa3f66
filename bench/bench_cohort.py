"""Seconds per notebook on a cohort that looks like a real class, beside full-marks copies and the floor.

(a) floor: one plain Python process that imports NumPy, defines the eight reference functions from the master
    notebook and runs them through the public tests: what any grader must at least spend on one notebook;
(b) one submission end to end (``grader grade`` of one full-marks notebook, whole command), and ``grader check``;
(c) a batch of N full-marks copies and (d) a cohort of N notebooks built reproducibly (``--seed``) from the
    master's cells and the mistakes a class makes: most notebooks with 1 to 4 failing functions (wrong values,
    wrong shapes, float() of an array, a function still the template, None returned, an exception), some
    with a cell that does not parse, a few unreadable files and a few that time out; both ``--jobs 2``.
Wall clock of the whole command, median of 3 runs. Goals (issue 14): (d) <= 1.5 x (c) per notebook, (b) <= 3 x (a).

    .venv/bin/python bench/bench_cohort.py [--batch 50] [--seed 14]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def timed(cmd: list[str], before=lambda: None) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(REPEATS):
        before()
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


FLOOR = """
import json, sys
import numpy as np
sys.path.insert(0, {folder!r})
notebook = json.load(open({master!r}))
namespace = {{}}
for cell in notebook["cells"]:
    source = "".join(cell["source"])
    if cell["cell_type"] == "code" and source.startswith(("# GRADED FUNCTION:", "import")):
        exec(source, namespace)
import public_tests
for name in {functions!r}:
    getattr(public_tests, name + "_test")(namespace[name])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    grader = str(Path(sys.executable).parent / "grader")
    floor_code = FLOOR.format(folder=str(SOLUTION), master=str(SOLUTION / f"{ASSIGNMENT}.ipynb"), functions=FUNCTIONS)
    with tempfile.TemporaryDirectory(prefix="bench-cohort-") as tmp:
        work = Path(tmp)
        floor = timed([sys.executable, "-c", floor_code])
        out = work / "out"
        reset = lambda: shutil.rmtree(out, ignore_errors=True)
        single = timed([grader, "grade", ASSIGNMENT, str(FULL_MARKS), "--out", str(out)], reset)
        check = timed([grader, "check", str(FULL_MARKS), "--assignment", ASSIGNMENT])
        copies = work / "copies"
        copies.mkdir()
        full = [shutil.copy(FULL_MARKS, copies / f"student_{i:03d}.ipynb") for i in range(args.batch)]
        batch = timed([grader, "grade", ASSIGNMENT, *map(str, full), "--out", str(out), "--jobs", "2"], reset)
        mixed = cohort(work / "cohort", args.batch, args.seed)
        real = timed([grader, "grade", ASSIGNMENT, *map(str, mixed), "--out", str(out), "--jobs", "2"], reset)
        scores = [json.loads(p.read_text())["score"] for p in out.glob("*/results.json")]
    n = args.batch
    print(f"{'':<34}{'seconds':>10}{'per notebook':>14}{'ratio':>8}")
    print(f"{'(a) floor (NumPy + 8 references)':<34}{floor:>10.2f}{floor:>14.3f}")
    print(f"{'(b) grader grade, one notebook':<34}{single:>10.2f}{single:>14.3f}{single / floor:>7.1f}x  of (a), goal <= 3")
    print(f"{'(b) grader check, one notebook':<34}{check:>10.2f}{check:>14.3f}{check / floor:>7.1f}x  of (a), goal <= 3")
    print(f"{'(c) full-marks batch, --jobs 2':<34}{batch:>10.2f}{batch / n:>14.3f}")
    print(f"{'(d) cohort, --jobs 2':<34}{real:>10.2f}{real / n:>14.3f}{real / batch:>7.1f}x  of (c), goal <= 1.5")
    print(f"cohort of {n} (seed {args.seed}): mean score {statistics.fmean(scores):.1f}, "
          f"{sum(s == 100 for s in scores)} at 100, {sum(s == 0 for s in scores)} at 0; median of {REPEATS} runs")


if __name__ == "__main__":
    main()
