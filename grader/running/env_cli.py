"""``grader env build|list|prune|compare``: the command line of pinned environments (grader.running.environments)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from grader.config import load_assignment
from grader.errors import UsageError


def cmd_build(args: argparse.Namespace) -> int:
    from grader.running.environments import build

    assignment = load_assignment(args.assignment)
    if assignment.environment is None:
        print(f"{assignment.name} has no [environment]: its student code runs with the grader's own packages")
        return 0
    specs = [assignment.environment, *([assignment.environment.with_kernel()] if args.kernel else [])]
    for spec in specs:
        environment = build(spec, log=lambda line: print(line, file=sys.stderr, flush=True))
        print(f"{environment.path}  {spec}  (Python {environment.python_version}, "
              f"numpy {dict(environment.packages).get('numpy', '?')})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from grader.running.environments import cache_root, installed

    found = list(installed())
    for environment in found:
        print(f"{environment.path.name}  Python {environment.python_version}  {' '.join(environment.spec.requirements)}")
    print(f"{len(found)} environment(s) in {cache_root()}")
    return 0


def _course_keys(course: Path) -> set[str]:
    """The keys of every environment an assignment of the course folder uses (with its kernel's)."""
    keys = set()
    for folder in ("solutions", "assignments"):
        for toml in sorted((course / folder).glob("*/assignment.toml")):
            spec = load_assignment(toml.parent).environment
            if spec is not None:
                keys |= {spec.key, spec.with_kernel().key}
    return keys


def cmd_prune(args: argparse.Namespace) -> int:
    from grader.running.environments import cache_root, prune

    keep = set() if args.all else _course_keys(args.course or Path.cwd())
    removed = prune(keep)
    for path in removed:
        print(f"removed {path}")
    print(f"{len(removed)} removed, {len(keep)} kept for the course's assignments, from {cache_root()}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from grader.cli import _sandbox
    from grader.running.env_compare import compare_environments, parse_other, table

    assignment = load_assignment(args.assignment)
    if not assignment.instructor:
        raise UsageError(f"{assignment.source_dir} is a student release: grading needs the instructor's solutions/ folder")
    missing = [str(p) for p in args.submissions if not os.path.lexists(p)]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    other = parse_other(args.other)
    found = compare_environments(assignment, args.submissions, other, _sandbox(args.sandbox), jobs=args.jobs)
    print(table(assignment, other, found, len(args.submissions)))
    if args.json:
        rows: list[dict[str, Any]] = [change.__dict__ for change in found]
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


def add_env_parser(commands: Any) -> None:
    """Register ``env`` and its subcommands on the main parser's subcommands."""
    env = commands.add_parser("env", help="build, list and prune the pinned environments student code runs with",
                              description="Pinned environments ([environment] in assignment.toml): student code runs "
                                          "with that virtual environment's interpreter and packages.")
    verbs = env.add_subparsers(dest="env_command", required=True, parser_class=type(env))
    build = verbs.add_parser("build", help="build an assignment's environment (once; cached)",
                             description="Create the assignment's virtual environment with pip, once, under the user's "
                                         "cache folder.")
    build.add_argument("assignment", help="a folder name under solutions/ or a path to one")
    build.add_argument("--kernel", action="store_true", help="also the environment with ipykernel that validate uses")
    build.set_defaults(run=cmd_build)
    listing = verbs.add_parser("list", help="list the built environments", description="List the built environments.")
    listing.set_defaults(run=cmd_list)
    prune = verbs.add_parser("prune", help="remove environments no assignment of the course uses",
                             description="Remove the built environments that no assignment of the course folder uses, "
                                         "and what failed builds left behind.")
    prune.add_argument("--course", type=Path, metavar="DIR", help="the course folder (default: the current folder)")
    prune.add_argument("--all", action="store_true", help="remove every environment")
    prune.set_defaults(run=cmd_prune)
    compare = verbs.add_parser("compare", help="grade notebooks in two environments and show which verdicts change",
                               description="Grade the submissions in the assignment's environment and in OTHER "
                                           "(pinned requirements such as 'numpy==2.2.6', or 'grader' for the grader's "
                                           "own), then list every function whose verdict changes, with the known "
                                           "mistake that explains it.")
    compare.add_argument("assignment", help="a folder name under solutions/ or a path to one")
    compare.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION", help="submitted .ipynb files")
    compare.add_argument("--with", dest="other", required=True, metavar="OTHER",
                         help="the other environment: 'numpy==2.2.6 ...' or 'grader'")
    compare.add_argument("--json", type=Path, metavar="FILE", help="also write the changes as JSON")
    compare.add_argument("--jobs", type=int, default=1, metavar="N", help="submissions graded in parallel (default 1)")
    compare.add_argument("--sandbox", default="auto", choices=["auto", "bwrap", "none"], help="as for grade")
    compare.set_defaults(run=cmd_compare)
