"""The course's command line: ``roster import``, ``collect``, ``regrade``, ``status``, ``export``, and ``grade
ASSIGNMENT`` without files. Thin: each command opens the gradebook and calls one library function."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from grader.config import Assignment, load_assignment
from grader.course.gradebook import Gradebook, gradebook_path
from grader.errors import UsageError
from grader.text import clean_line

EXPORT_FORMATS = ("canvas", "moodle", "csv", "gradescope")


def course_root(args: argparse.Namespace) -> Path:
    """``--course DIR`` or the current folder: the folder holding ``solutions/``."""
    root = Path(args.course) if getattr(args, "course", None) else Path.cwd()
    if not (root / "solutions").is_dir():
        raise UsageError(f"{root} is not a course folder (it has no solutions/): pass --course DIR")
    return root.resolve()


def open_gradebook(course: Path, args: argparse.Namespace) -> Gradebook:
    return Gradebook(gradebook_path(course, getattr(args, "gradebook", None)), root=course)


def _instructor_assignment(name: str, course: Path) -> Assignment:
    assignment = load_assignment(name, course)
    if not assignment.instructor:
        raise UsageError(f"{assignment.source_dir} is a student release: the course commands need solutions/{name}")
    return assignment


def cmd_roster_import(args: argparse.Namespace) -> int:
    from grader.course.roster import read_roster

    course = course_root(args)
    students = read_roster(args.file)
    with open_gradebook(course, args) as gradebook:
        added, updated = gradebook.put_students(students)
        total = len(gradebook.students())
    print(f"{args.file}: {added} student(s) added, {updated} updated; the roster has {total}")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from grader.course.collect import collect

    course = course_root(args)
    assignment = _instructor_assignment(args.assignment, course)
    with open_gradebook(course, args) as gradebook:
        result = collect(gradebook, course, assignment.name, list(args.sources), assignment.submission.deadline,
                         assignment.notebook)
    for student, source in result.added:
        print(clean_line(f"new attempt  {student:<16} {source}", 400))
    for student, source in result.known:
        print(clean_line(f"already in   {student:<16} {source}", 400))
    for source, why in result.problems:
        print(clean_line(f"NOT TAKEN    {source}: {why}", 600))
    print(f"\n{len(result.added)} new attempt(s), {len(result.known)} already collected, "
          f"{len(result.problems)} problem(s)" + (" (listed above: nothing was taken from them)" if result.problems else ""))
    return 1 if result.problems else 0


def grade_collected(args: argparse.Namespace, assignment: Assignment, mode: str, cluster: str | None = None) -> int:
    """``grader grade ASSIGNMENT`` without files: grade what is collected and not yet graded by the current tests."""
    from grader.course.course_grade import grade_course

    course = assignment.source_dir.parent.parent
    with open_gradebook(course, args) as gradebook:
        run = grade_course(gradebook, course, assignment, mode, jobs=args.jobs, annotate=args.annotate,
                           cluster=cluster, log=lambda line: print(line, flush=True))
        _write_course_summary(gradebook, course, assignment, run.suite)
    broken = [row.student for row, report in run.graded if report.grader_errors]
    if run.graded:
        print(f"\n{len(run.graded)} attempt(s) graded now, {run.already} graded before; feedback in "
              f"{course / 'feedback' / assignment.name}/")
    if broken:
        print(f"the grader failed on some checks of {len(broken)} attempt(s) ({', '.join(sorted(set(broken))[:5])}): "
              "they are not recorded and stay to be graded; fix the tests, the reference or the machine, then run "
              f"`grader grade {assignment.name}` again", file=sys.stderr)
        return 3
    return 0


def _write_course_summary(gradebook: Gradebook, course: Path, assignment: Assignment, suite: str) -> None:
    """summary.html of the counting attempts, with the roster (a failure here never costs a grade)."""
    from grader.course.summary_roster import write_course_summary

    try:
        write_course_summary(gradebook, course, assignment, suite)
    except Exception as error:  # the grades are recorded; the page is a convenience
        print(clean_line(f"summary.html could not be written ({type(error).__name__}: {error})", 400), file=sys.stderr)


def cmd_regrade(args: argparse.Namespace) -> int:
    from grader.cli import _sandbox
    from grader.course.course_grade import deadline_zone
    from grader.course.regrade import change_line, regrade, write_changes

    course = course_root(args)
    assignment = _instructor_assignment(args.assignment, course)
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    cluster = args.cluster or os.environ.get("GRADER_CLUSTER") or None
    # as for grade: on a cluster, bubblewrap is needed on the workers (each refuses without it), not here
    mode = ("none" if args.sandbox == "none" else "bwrap") if cluster else _sandbox(args.sandbox)
    with open_gradebook(course, args) as gradebook:
        run = regrade(gradebook, course, assignment, mode, jobs=args.jobs, dry_run=args.dry_run,
                      annotate=args.annotate, cluster=cluster)
        if not args.dry_run:
            _write_course_summary(gradebook, course, assignment, run.suite)
    changes = run.changes
    changed = [c for c in changes if c.changed]
    for c in changes:
        print(clean_line(change_line(c), 300))
        for check in c.checks:
            print(clean_line(f"    {check}", 300))
    if not changes and not run.broken:
        print("every counting attempt is already graded with the current tests: nothing to regrade")
        return 0
    if changes:
        print(f"\n{len(changes)} student(s) regraded, {len(changed)} changed"
              + (" (dry run: nothing recorded)" if args.dry_run else ""))
    if not args.dry_run and changes:
        path = write_changes(changes, course / "feedback" / assignment.name, zone=deadline_zone(assignment))
        print(f"wrote {path}")
    if run.broken:
        print(f"the grader failed on some checks of {len(run.broken)} student(s) ({', '.join(run.broken[:5])}): their "
              "old grades stand and nothing was recorded for them; fix the tests, the reference or the machine, then "
              f"run `grader regrade {assignment.name}` again", file=sys.stderr)
        return 3
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from grader.course.course_grade import read_extensions, standings, suite_version
    from grader.course.status import status_text

    course = course_root(args)
    with open_gradebook(course, args) as gradebook:
        extensions = read_extensions(course, gradebook)
        if args.assignment:
            names = [args.assignment]
        else:
            names = sorted({row[0] for row in gradebook.db.execute("SELECT DISTINCT assignment FROM attempts")})
            if not names:
                print(f"{len(gradebook.students())} student(s) on the roster; nothing collected yet")
                return 0
        for number, name in enumerate(names):
            assignment = _instructor_assignment(name, course)
            suite = suite_version(assignment)
            found = standings(gradebook, assignment, suite, extensions)
            lms_late = frozenset(row.id for row in gradebook.attempts(name) if row.lms_late)
            text = status_text(assignment, found, len(gradebook.pending(name, suite)), lms_late)
            print(("\n" if number else "") + text, end="")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from grader.course.course_grade import counting_sources, read_extensions, standings, suite_version

    course = course_root(args)
    assignment = _instructor_assignment(args.assignment, course)
    out = args.out or course / "export" / assignment.name
    if args.to == "gradescope":
        return _export_gradescope(assignment, out)
    from grader.course import export

    column = ""
    if args.to == "canvas":
        if not args.canvas_id:
            raise UsageError("--to canvas needs --canvas-id ID, the number at the end of the assignment's Canvas "
                             "address (.../assignments/ID): Canvas matches the grade column by it")
        column = export.canvas_column(assignment.title, args.canvas_id)
    with open_gradebook(course, args) as gradebook:
        found = standings(gradebook, assignment, suite_version(assignment), read_extensions(course, gradebook))
        sources = counting_sources(gradebook, assignment.name, found)
    paths = export.write_export(args.to, [s.grade for s in found], out, column=column,
                                points_possible=assignment.max_score, sources=sources)
    for path in paths:
        print(f"wrote {path}")
        missing = export.graded_but_skipped(path) if path.name.endswith("-feedback-skipped.txt") else 0
        if missing:
            print(f"{missing} student(s) with a grade have no feedback file in the zip: {path.name} says why",
                  file=sys.stderr)
    if not any(s.grade.score is not None for s in found):
        print(f"no student has a grade on {assignment.name} yet (`grader status {assignment.name}` says why): every "
              "grade in the file is empty", file=sys.stderr)
    return 0


def _export_gradescope(assignment: Assignment, out: Path) -> int:
    from grader.course import gradescope

    written = gradescope.build_autograder(assignment, out)
    print(f"wrote {written}")
    return 0


def _course_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course", type=Path, metavar="DIR", help="the course folder, holding solutions/ "
                                                                  "(default: the current folder)")
    parser.add_argument("--gradebook", type=Path, metavar="FILE",
                        help="the course gradebook (default: $GRADER_GRADEBOOK, else DIR/gradebook.sqlite)")


def _grading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="attempts graded in parallel (default 1)")
    parser.add_argument("--sandbox", default="auto", choices=["auto", "bwrap", "none"], help="as for grade")
    parser.add_argument("--annotate", action=argparse.BooleanOptionalAction, default=True,
                        help="also write the annotated notebook per attempt (default: on)")


def add_course_parsers(commands: Any) -> None:
    """Register the course commands on the main parser's subcommands."""
    roster = commands.add_parser("roster", help="the course's students",
                                 description="Import the roster the course gradebook matches submissions against.")
    verbs = roster.add_subparsers(dest="roster_command", required=True, parser_class=type(roster))
    importing = verbs.add_parser("import", help="add or update students from a CSV file",
                                 description="Read a roster CSV (UTF-8; columns id, name, and optionally email, "
                                             "lms_id, section, sis_id, login) into the course gradebook. A duplicate "
                                             "id or a line that is not UTF-8 refuses the whole file, naming the line.")
    importing.add_argument("file", type=Path, help="the roster CSV")
    _course_options(importing)
    importing.set_defaults(run=cmd_roster_import)

    collect = commands.add_parser("collect", help="take submissions into the course as attempts",
                                  description="Copy the notebooks of folders (<student>.ipynb or <student>/...), "
                                              "GitHub Classroom folders, Canvas and Moodle downloads (zip) into the "
                                              "course as attempts. Everything not taken is listed with why (exit 1).")
    collect.add_argument("assignment", help="a folder name under solutions/")
    collect.add_argument("sources", nargs="+", type=Path, metavar="SOURCE",
                         help="a folder, a <student>.ipynb, or an LMS download (.zip)")
    _course_options(collect)
    collect.set_defaults(run=cmd_collect)

    regrade = commands.add_parser("regrade", help="grade the counting attempts again after the tests changed",
                                  description="Grade each student's counting attempt (under counts = \"best\", "
                                              "every attempt that may count) with the current tests, keep the old "
                                              "grades, and print and write (regrade-<time>.csv) the change per "
                                              "student: old → new grade after the late penalty, which checks "
                                              "changed, and which attempt counts when that changed.")
    regrade.add_argument("assignment", help="a folder name under solutions/")
    regrade.add_argument("--dry-run", action="store_true", help="show the changes without recording anything")
    regrade.add_argument("--cluster", metavar="ADDRESS", help="as for grade: a Dask scheduler's address or 'local' "
                                                              "(default: $GRADER_CLUSTER, else this machine)")
    _grading_options(regrade)
    _course_options(regrade)
    regrade.set_defaults(run=cmd_regrade)

    status = commands.add_parser("status", help="who submitted, who is late, who has not, score distribution",
                                 description="Print, per assignment, each student's attempts, counting score and "
                                             "lateness, who is missing, and the distribution of counting scores.")
    status.add_argument("assignment", nargs="?", help="one assignment (default: every assignment collected)")
    _course_options(status)
    status.set_defaults(run=cmd_status)

    export = commands.add_parser("export", help="write the grades file an LMS imports, or Gradescope's autograder",
                                 description="Write the counting grades for Canvas, Moodle or as plain CSV, with a zip "
                                             "of feedback pages named for the LMS; or Gradescope's autograder.zip.")
    export.add_argument("assignment", help="a folder name under solutions/")
    export.add_argument("--to", required=True, choices=EXPORT_FORMATS, help="the format")
    export.add_argument("--out", type=Path, metavar="DIR", help="where to write (default: export/<assignment>)")
    export.add_argument("--canvas-id", metavar="ID", help="the assignment's Canvas id (for --to canvas)")
    _course_options(export)
    export.set_defaults(run=cmd_export)
