"""What the annotated views (feedback.ipynb and feedback-notebook.html, grader/reporting/annotate.py) cost per notebook.

Two measures, on the readable example submissions of both assignments (examples/submissions/):

(a) in process, per example (median of ``--repeats``): reading the notebook and placing the feedback (the
    grader's own extraction), building the annotated notebook, rendering the page (nbconvert's lab template through
    grader/reporting/notebook_page.py) cold and after the release's cells were rendered (as a batch renders every
    page), and the real path, ``write_annotated_bounded`` (a forked child with a deadline, both files written);
(b) the whole command, wall clock: ``grader grade --jobs 2`` on a batch of copies of the CNN examples
    (``--batch``, default 30), with ``--annotate`` and with ``--no-annotate``, median of 3 runs each; the
    difference divided by the batch size is what annotation adds per notebook in a class.

It prints figures; it asserts nothing. From anywhere:

    .venv/bin/python bench/bench_annotate.py
    .venv/bin/python bench/bench_annotate.py --batch 60 --repeats 5
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.config import load_assignment  # noqa: E402
from grader.grading.sandbox import resolve_mode  # noqa: E402
from grader.notebooks import read_nodes  # noqa: E402
from grader.reporting import annotate, notebook_page  # noqa: E402
from grader.running.batch import grade_paths  # noqa: E402

EXAMPLES = {"cnn_step_by_step": ["alice_full_marks", "bob_partly_right", "carol_broken"],
            "optimization_methods": ["amara_full_marks", "ben_partly_right", "chloe_broken"]}


def example(assignment: str, name: str) -> Path:
    folder = ROOT / "examples" / "submissions"
    return (folder if assignment == "cnn_step_by_step" else folder / assignment) / f"{name}.ipynb"


def median_seconds(step: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def remembering(cells: dict[tuple[str, str], str]) -> Callable[[], None]:
    """Before each repeat, the page memo as it was (notebook_page's: each page is rendered in a child forked from the
    batch, so what one page adds is never there for the next)."""

    def reset() -> None:
        notebook_page._memo_table.clear()
        notebook_page._memo_table.update(cells)
        notebook_page._memo_size = sum(len(text) + len(html) for (_, text), html in cells.items())

    return reset


def in_process(repeats: int, mode: str, scratch: Path) -> None:
    started = time.perf_counter()
    annotate.warm_up()
    print(f"warm-up (Markdown, highlighting and allow-list imported, templates compiled, once per batch): "
          f"{time.perf_counter() - started:.2f} s; then the release's cells, once per assignment:")
    cold = remembering(dict(notebook_page._memo_table))
    print(f"{'submission':<22} {'cells':>5} {'place':>7} {'annotate':>9} {'render':>8} {'after release':>14} "
          f"{'written':>8} {'ipynb KB':>9} {'html KB':>8}")
    for assignment_name, names in EXAMPLES.items():
        assignment = load_assignment(assignment_name, ROOT)
        cold()
        started = time.perf_counter()
        annotate.warm_up(assignment.student_notebook)
        print(f"  {assignment_name}: {time.perf_counter() - started:.2f} s")
        released = remembering(dict(notebook_page._memo_table))
        paths = [example(assignment_name, name) for name in names]
        for path, report in zip(paths, grade_paths(assignment, paths, mode)):
            notebook = read_nodes(path)
            place = median_seconds(lambda: annotate.find_places(read_nodes(path)), repeats)  # noqa: B023
            places = annotate.find_places(notebook)
            build = median_seconds(lambda: annotate.annotate(notebook, report, places), repeats)  # noqa: B023
            annotated = annotate.annotate(notebook, report, places)
            render = median_seconds(lambda: (cold(), annotate.render_page(annotated, "Feedback")), repeats)  # noqa: B023
            known = median_seconds(lambda: (released(), annotate.render_page(annotated, "Feedback")), repeats)  # noqa: B023
            folder = scratch / path.stem
            released()
            written = median_seconds(lambda: annotate.write_annotated_bounded(
                report, path, folder, release=assignment.student_notebook), repeats)  # noqa: B023
            sizes = [(folder / name).stat().st_size / 1024 for name in (annotate.NOTEBOOK_FILE, annotate.PAGE_FILE)]
            print(f"{path.stem:<22} {len(notebook.cells):>5} {place * 1000:>5.0f}ms {build * 1000:>7.0f}ms "
                  f"{render * 1000:>6.0f}ms {known * 1000:>12.0f}ms {written * 1000:>6.0f}ms {sizes[0]:>9.0f} "
                  f"{sizes[1]:>8.0f}")


def batch(size: int, mode: str, scratch: Path) -> None:
    grader = Path(sys.executable).with_name("grader")
    copies = scratch / "copies"
    copies.mkdir()
    names = EXAMPLES["cnn_step_by_step"]
    for index in range(size):
        shutil.copy(example("cnn_step_by_step", names[index % len(names)]), copies / f"s{index:03d}.ipynb")
    submissions = sorted(copies.glob("*.ipynb"))
    timings = {}
    for switch in ("--no-annotate", "--annotate"):
        def run(switch: str = switch) -> None:
            out = scratch / "out"
            shutil.rmtree(out, ignore_errors=True)
            subprocess.run([str(grader), "grade", "cnn_step_by_step", *map(str, submissions), "--out", str(out), "--jobs",
                            "2", "--sandbox", mode, switch], cwd=ROOT, check=True, capture_output=True)

        timings[switch] = median_seconds(run, 3)
    off, on = timings["--no-annotate"], timings["--annotate"]
    print(f"\nbatch of {size} (CNN examples, --jobs 2, median of 3, wall clock of the command):")
    print(f"  --no-annotate  {off:6.2f} s  ({off / size:.3f} s/notebook)")
    print(f"  --annotate     {on:6.2f} s  ({on / size:.3f} s/notebook)")
    print(f"  annotation adds {(on - off) / size:.3f} s per notebook ({100 * (on - off) / off:.0f}% of grading)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=30, help="notebooks in the batch of (b) (default 30)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of each step in (a) (default 5)")
    args = parser.parse_args()
    mode = resolve_mode("auto")
    print(f"sandbox: {mode}\n")
    with tempfile.TemporaryDirectory() as scratch:
        in_process(args.repeats, mode, Path(scratch))
        batch(args.batch, mode, Path(scratch))


if __name__ == "__main__":
    main()
