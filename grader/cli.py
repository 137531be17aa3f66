"""Command line: a thin skin that parses arguments and calls one library function per command."""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from grader import ONE_BLAS_THREAD, __version__
from grader.config import find_named_assignment, load_assignment
from grader.errors import GraderError, UsageError

for _name, _value in ONE_BLAS_THREAD.items():  # before anything imports NumPy
    os.environ.setdefault(_name, _value)

if TYPE_CHECKING:
    from grader.config import Assignment
    from grader.model import GradeReport


def cmd_generate(args: argparse.Namespace) -> int:
    from grader.authoring.generate import generate, release_differences

    assignment = load_assignment(args.assignment)
    if args.check:
        differences = release_differences(assignment, args.out)
        for line in differences:
            print(f"out of date: {line}")
        if differences:
            print(f"run `grader generate {assignment.name}` and commit the result", file=sys.stderr)
            return 1
        print(f"{assignment.name}: the release is up to date")
        return 0
    for path, changed in generate(assignment, args.out):
        print(f"{'wrote    ' if changed else 'unchanged'} {path}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from grader.authoring.validate import validate_master, validate_student

    assignment = load_assignment(args.assignment)
    failed = False
    for run in (validate_master, validate_student):
        result = run(assignment)
        print(f"{'ok  ' if result.ok else 'FAIL'} {result.notebook}")
        for problem in (*result.notes, *result.problems):
            print(f"     {problem}")
        failed |= not result.ok
    return 1 if failed else 0


def _print_table(named: list[tuple[str, GradeReport]]) -> None:
    from grader.reporting.report import fmt

    if not named:
        return
    functions = [f.name for f in named[0][1].functions]
    width = max(len(name) for name, _ in named)
    print()
    print(f"{'submission':<{width}}  {'score':>9}  " + "  ".join(f[:12].ljust(12) for f in functions))
    for name, report in named:
        cells = [("ok " if f.passed else "-- ") + (f"{fmt(f.score)}/{fmt(f.points)}" if f.points else "ungraded")
                 for f in report.functions]
        score = f"{fmt(report.score)}/{fmt(report.max_score)}"
        print(f"{name:<{width}}  {score:>9}  " + "  ".join(c.ljust(12) for c in cells))


def _sandbox(requested: str) -> str:
    """The sandbox mode to use. Student code runs unisolated only when ``--sandbox none`` says so (with a
    warning on stderr): ``auto`` without a usable bubblewrap refuses, as ``bwrap`` does."""
    from grader.grading.sandbox import resolve_mode

    mode = resolve_mode(requested)
    if mode == "none" and requested != "none":
        raise UsageError("bubblewrap (bwrap) is not installed or cannot create namespaces here, so student code "
                         "cannot be isolated: install it (apt-get install bubblewrap), or pass --sandbox none to run "
                         "it unisolated, as an ordinary process with resource limits only")
    if mode == "none":
        print("warning: --sandbox none was given: student code runs as an ordinary process with resource limits only; "
              "it can read your files (including hidden tests) and reach the network.", file=sys.stderr)
    return mode


def _prestart(assignment: Assignment, requested: str, count: int, jobs: int) -> None:
    """Start the sandbox (one job only) and bubblewrap's probe (``_sandbox`` takes its answer) before the grading
    machinery is imported, so that their start-ups overlap."""
    from grader.grading.sandbox import likely_mode, prestart, probe_ahead

    if requested != "none":
        probe_ahead()
    if (count == 1 or jobs == 1) and assignment.environment is None:
        prestart(likely_mode(requested), assignment.limits, assignment.course_files)


def cmd_grade(args: argparse.Namespace) -> int:
    gc.disable()  # until the grading starts: see batch.collect_from_here
    assignment = load_assignment(args.assignment)
    if not assignment.instructor:
        raise UsageError(f"{assignment.source_dir} is a student release: grading needs the instructor's solutions/ folder")
    missing = [str(p) for p in args.submissions if not os.path.lexists(p)]  # a link or FIFO is graded (and refused)
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    cluster = args.cluster or os.environ.get("GRADER_CLUSTER") or None
    if not cluster and args.submissions and args.out is not None:
        _prestart(assignment, args.sandbox, len(args.submissions), args.jobs)
        if len(args.submissions) == 1:
            from grader.grading.extract import extract_ahead

            extract_ahead(args.submissions[0], assignment.graded)
        import grader.running.batch  # noqa: F401  (NumPy and the rest, while the probe and the sandbox start)
    # on a cluster, bubblewrap is needed on the workers (each refuses without it), not here
    mode = ("none" if args.sandbox == "none" else "bwrap") if cluster else _sandbox(args.sandbox)
    if not args.submissions:  # the course form: what `grader collect` took in and the current tests have not graded
        from grader.course.course_cli import grade_collected

        if args.out or args.junit or args.fail_under is not None:
            raise UsageError("--out, --junit and --fail-under go with SUBMISSION files; without files, grade grades the "
                             "course's collected attempts into feedback/<assignment>/")
        return grade_collected(args, assignment, mode, cluster)
    if args.out is None:
        raise UsageError("--out DIR is needed when SUBMISSION files are given")
    from grader.running.batch import grade_all

    named = grade_all(assignment, args.submissions, args.out, mode, jobs=args.jobs, junit=args.junit, annotate=args.annotate,
                      cluster=cluster)
    _print_table(named)
    print(f"\nreports in {args.out}/ (summary.html, grades.csv, grades.sqlite, <submission>/feedback.html, results.json)")
    broken = [name for name, report in named if report.grader_errors]
    if broken:
        print(f"the grader failed on some checks of {len(broken)} submission(s) ({', '.join(broken[:5])}"
              f"{', ...' if len(broken) > 5 else ''}): fix the tests or the reference, then grade again", file=sys.stderr)
        return 3
    if args.fail_under is not None and any(report.score < args.fail_under for _, report in named):
        print(f"a score is below --fail-under {args.fail_under:g}", file=sys.stderr)
        return 1
    return 0


def _assignment_in_metadata(notebook: dict[str, Any]) -> str:
    """The assignment name the notebook's metadata claims (checked as a bare name by the caller)."""
    metadata = notebook.get("metadata")
    grader = metadata.get("grader") if isinstance(metadata, dict) else None
    name = grader.get("assignment") if isinstance(grader, dict) else None
    if not isinstance(name, str) or not name:
        raise UsageError("cannot tell which assignment this notebook belongs to: pass --assignment NAME")
    return name


def cmd_check(args: argparse.Namespace) -> int:
    gc.disable()  # until the grading starts: see batch.collect_from_here
    from grader.notebooks import notebook_json

    notebook = args.notebook
    name = args.assignment or _assignment_in_metadata(notebook_json(notebook))
    course = args.course if args.course is not None else Path.cwd()
    assignment = load_assignment(find_named_assignment(name, course))
    _prestart(assignment, args.sandbox, 1, 1)
    from grader.grading.check import check_text, student_chunks
    from grader.running.batch import grade_paths

    mode = _sandbox(args.sandbox)

    (report,) = grade_paths(assignment, [notebook], mode, suite="public")
    failing = sum(not f.passed for f in report.functions) > 1  # only then can one failure come from another
    print(check_text(report, student_chunks(notebook, assignment) if failing else ()))
    return 0 if all(c.passed for c in report.checks) else 1


def cmd_audit(args: argparse.Namespace) -> int:
    from grader.authoring.audit import run_audit, summarise, table, write_audit

    assignment = load_assignment(args.assignment)
    if not assignment.instructor:
        raise UsageError("the audit needs the instructor's solutions/ folder")
    if args.jobs < 1 or args.seeds < 1:
        raise UsageError("--jobs and --seeds must be at least 1")
    mode = _sandbox(args.sandbox)
    results = run_audit(assignment, mode, jobs=args.jobs, seeds=args.seeds)
    summary = summarise(assignment, results)
    print(table(summary))
    write_audit(assignment, results, args.out)
    print(f"\nwrote {args.out / 'audit.json'} and {args.out / 'audit.html'}")
    missed = sum(s.missed for s in summary)
    if missed:
        print(f"{missed} wrong mutant(s) pass every test: strengthen the hidden tests (see audit.html)", file=sys.stderr)
    return 1 if missed else 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every command's parser; with ``command`` one of this module's own, the env and course parsers are left out, since
    building them imports their modules (the course's gradebook, ~0.01 s of every ``grader check``)."""
    parser = _Parser(prog="grader", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__} (distribution sandgrade)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    generate = commands.add_parser("generate", help="write the student release of an assignment",
                                   description="Strip the solutions from the master notebook and write the student release.")
    generate.add_argument("assignment", help="a folder name under solutions/ or a path to one")
    generate.add_argument("--out", type=Path, help="output folder (default: assignments/<name>)")
    generate.add_argument("--check", action="store_true", help="exit 1 if the release on disk is out of date")
    generate.set_defaults(run=cmd_generate)

    validate = commands.add_parser("validate", help="run the master and student notebooks in a Jupyter kernel",
                                   description="Execute the master notebook (every public test must pass) and the "
                                               "student notebook (it must run to the end with every public test failing).")
    validate.add_argument("assignment", help="a folder name under solutions/ or a path to one")
    validate.set_defaults(run=cmd_validate)

    grade = commands.add_parser("grade", help="grade submitted notebooks",
                                description="Grade notebooks with the public and hidden tests in a sandbox and write "
                                            "results.json, feedback.html and feedback.md per submission plus grades.csv.")
    grade.add_argument("assignment", help="a folder name under solutions/ or a path to one")
    grade.add_argument("submissions", nargs="*", type=Path, metavar="SUBMISSION",
                       help="submitted .ipynb files (none: the course's collected attempts not yet graded by the "
                            "current tests, recorded in its gradebook as each finishes)")
    grade.add_argument("--out", type=Path, metavar="DIR", help="folder for the reports (needed with SUBMISSION files)")
    grade.add_argument("--jobs", type=int, default=1, metavar="N", help="submissions graded in parallel (default 1)")
    grade.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML, one testcase per check")
    grade.add_argument("--fail-under", type=float, metavar="SCORE", help="exit 1 if any score is below SCORE")
    grade.add_argument("--sandbox", default="auto", choices=["auto", "bwrap", "none"],
                       help="auto (default) and bwrap: bubblewrap, refusing to grade without it; none: process limits only")
    grade.add_argument("--cluster", metavar="ADDRESS",
                       help="grade on a Dask cluster: a scheduler's address (tcp://HOST:8786, tls://...) or 'local' for a "
                            "LocalCluster of --jobs workers (default: $GRADER_CLUSTER, else this machine)")
    grade.add_argument("--annotate", action=argparse.BooleanOptionalAction, default=True,
                       help="also write feedback.ipynb (the student's notebook with the feedback in place) and "
                            "feedback-notebook.html per submission (default: on)")
    grade.set_defaults(run=cmd_grade)

    check = commands.add_parser("check", help="run the public tests on your notebook",
                                description="Run the public tests against a notebook's functions (no kernel needed) "
                                            "and print what passed and what is wrong.")
    check.add_argument("notebook", type=Path, help="your .ipynb file")
    check.add_argument("--assignment", metavar="NAME",
                       help="the assignment's name (default: from the notebook's metadata); never a path")
    check.add_argument("--course", type=Path, metavar="DIR",
                       help="the course folder holding assignments/NAME (default: the current folder)")
    check.add_argument("--sandbox", default="auto", choices=["auto", "bwrap", "none"], help="as for grade")
    check.set_defaults(run=cmd_check)

    audit = commands.add_parser("audit", help="mutation-test the public and hidden tests of an assignment",
                                description="Grade mutants of the reference solutions (classic mistakes put in) "
                                            "and report which ones the public and hidden tests kill. Exits 1 if a "
                                            "mutant that is not equivalent survives.")
    audit.add_argument("assignment", help="a folder name under solutions/ or a path to one")
    audit.add_argument("--out", type=Path, default=Path("out/audit"), metavar="DIR",
                       help="folder for audit.json and audit.html (default out/audit)")
    audit.add_argument("--jobs", type=int, default=2, metavar="N", help="mutants graded in parallel (default 2)")
    audit.add_argument("--seeds", type=int, default=3, metavar="N",
                       help="seeds of hidden inputs each mutant is graded under; it must die under every one (default 3)")
    audit.add_argument("--sandbox", default="auto", choices=["auto", "bwrap", "none"], help="as for grade")
    audit.set_defaults(run=cmd_audit)

    if command in commands.choices:  # defined above: the env and course parsers are not needed
        return parser
    from grader.running.env_cli import add_env_parser

    add_env_parser(commands)
    from grader.course.course_cli import add_course_parsers

    add_course_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else argv
        args = build_parser(argv[0] if argv else None).parse_args(argv)
        if args.run not in (cmd_grade, cmd_check) and not gc.isenabled():  # see grader/__main__.py
            gc.freeze()
            gc.enable()
        return int(args.run(args))
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except GraderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def run() -> NoReturn:
    """The ``grader`` command: ``main``, then out without tearing the interpreter down object by object, ~0.03 s of a
    0.35 s grade. By then every report is written and closed and every child waited for; the exit handlers (temporary
    folders, coverage.py) still run. With threads still running (a Dask client), Python ends them as usual."""
    code = main()
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)
