"""An assignment's configuration: frozen dataclasses read once from its ``assignment.toml``."""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from grader.errors import UsageError
from grader.running.environments import EnvironmentSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Function:
    name: str
    points: float
    optional: bool = False
    #: graded functions this one calls: the only references it may get when isolated (None: found from the
    #: reference's own code)
    depends: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Limits:
    call_seconds: float = 10.0
    cpu_seconds: int = 30
    #: Wall clock all of one submission's calls may take together: calls that sleep just short of their own limit
    #: use no CPU time, and without this one notebook would hold a worker for minutes.
    submission_seconds: float = 60.0
    memory_mb: int = 1024
    output_kb: int = 4


#: Caches and tool folders that may sit in an instructor's folder: never part of what an assignment is.
NOT_COURSE_FILES = frozenset({"__pycache__", ".ipynb_checkpoints", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache"})


def user_cache(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/grader/...`` (``~/.cache`` by default): what the grader builds once and keeps."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "grader", *parts)


def files_below(folder: Path) -> list[Path]:
    """The files below ``folder``, sorted, caches and tool folders left out: what suite versions hash and what
    bundles (the cluster's, Gradescope's) carry, so that all of them agree on what the assignment is."""
    return [path for path in sorted(folder.rglob("*"))
            if path.is_file() and not NOT_COURSE_FILES.intersection(path.relative_to(folder).parts)
            and path.suffix != ".pyc"]


#: How optional functions count (``[scoring] optional`` in assignment.toml): ``ungraded`` (practice only, no points),
#: ``extra-credit-capped`` (their points make up for required ones, the total never above the maximum) or
#: ``extra-credit`` (their points add to the total, which may exceed the maximum).
OPTIONAL_POLICIES = ("ungraded", "extra-credit-capped", "extra-credit")


#: Which of a student's attempts counts (``[submission] counts``).
COUNTING_RULES = ("best", "last", "last_before_deadline")


@dataclass(frozen=True)
class LatePenalty:
    """Points off for lateness: ``points`` per started ``per`` (day or hour) after the deadline, at most ``cap``
    points. A submission at most ``grace_minutes`` late counts as on time; past the grace, lateness runs from the
    deadline itself."""

    per: str = "day"
    points: float = 0.0
    cap: float = math.inf
    grace_minutes: float = 0.0

    @property
    def unit_seconds(self) -> int:
        return 3600 if self.per == "hour" else 86400


@dataclass(frozen=True)
class SubmissionPolicy:
    """``[submission]`` in assignment.toml: when it is due, what lateness costs, which attempt counts."""

    deadline: datetime | None = None  # always with a time zone
    late_penalty: LatePenalty = LatePenalty()
    counts: str = "best"  # one of COUNTING_RULES
    max_attempts: int | None = None  # attempts after this many (in the order received) are kept but never count


def parse_instant(text: str, what: str) -> datetime:
    """An ISO 8601 date and time that must name its time zone: a deadline without one means a different instant on
    every machine (and an hour off twice a year), so it is refused rather than guessed."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as error:
        raise UsageError(f"{what}: {text!r} is not an ISO 8601 date and time (e.g. 2026-10-01T23:59:00+02:00)") from error
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise UsageError(f"{what}: {text!r} has no time zone: write it with an offset, e.g. "
                         f"{moment.isoformat()}+02:00 or {moment.isoformat()}Z for UTC")
    return moment


def _submission_policy(table: dict[str, Any], where: str) -> SubmissionPolicy:
    table = dict(table)
    raw_deadline = table.pop("deadline", None)
    if isinstance(raw_deadline, datetime):  # TOML's own date-time literal
        if raw_deadline.tzinfo is None:
            raise UsageError(f"{where}: [submission] deadline {raw_deadline.isoformat()} has no time zone: add an "
                             "offset, e.g. 2026-10-01T23:59:00+02:00")
        deadline: datetime | None = raw_deadline
    elif isinstance(raw_deadline, str):
        deadline = parse_instant(raw_deadline, f"{where}: [submission] deadline")
    elif raw_deadline is None:
        deadline = None
    else:
        raise UsageError(f"{where}: [submission] deadline must be a date and time with a time zone")
    penalty_table = dict(table.pop("late_penalty", {}))
    per = penalty_table.pop("per", "day")
    if per not in ("day", "hour"):
        raise UsageError(f"{where}: [submission] late_penalty per must be \"day\" or \"hour\", not {per!r}")
    try:
        penalty = LatePenalty(per=per, points=float(penalty_table.pop("points", 0.0)),
                              cap=float(penalty_table.pop("cap", math.inf)),
                              grace_minutes=float(penalty_table.pop("grace_minutes", 0.0)))
    except (TypeError, ValueError) as error:
        raise UsageError(f"{where}: [submission] late_penalty: points, cap and grace_minutes are numbers") from error
    if penalty_table:
        raise UsageError(f"{where}: [submission] late_penalty has unknown keys {sorted(penalty_table)} "
                         "(it takes per, points, cap, grace_minutes)")
    if not (math.isfinite(penalty.points) and math.isfinite(penalty.grace_minutes)) or math.isnan(penalty.cap) \
            or min(penalty.points, penalty.cap, penalty.grace_minutes) < 0:
        raise UsageError(f"{where}: [submission] late_penalty values cannot be negative or nan (points and "
                         "grace_minutes finite; cap may be inf)")
    counts = table.pop("counts", "best")
    if counts not in COUNTING_RULES:
        raise UsageError(f"{where}: [submission] counts must be one of {', '.join(COUNTING_RULES)}, not {counts!r}")
    max_attempts = table.pop("max_attempts", None)
    if max_attempts is not None and (not isinstance(max_attempts, int) or isinstance(max_attempts, bool)
                                     or max_attempts < 1):
        raise UsageError(f"{where}: [submission] max_attempts must be a whole number of at least 1")
    if table:
        raise UsageError(f"{where}: [submission] has unknown keys {sorted(table)} "
                         "(it takes deadline, late_penalty, counts, max_attempts)")
    if deadline is None and penalty.points:
        raise UsageError(f"{where}: [submission] has a late_penalty but no deadline")
    return SubmissionPolicy(deadline=deadline, late_penalty=penalty, counts=counts, max_attempts=max_attempts)


@dataclass(frozen=True)
class Assignment:
    """Where an assignment's files are and how it is graded."""

    name: str
    source_dir: Path  # solutions/<name>: instructor-only
    release_dir: Path  # assignments/<name>: what students get
    title: str
    version: str
    notebook: str
    functions: tuple[Function, ...]
    release_files: tuple[str, ...] = ()
    public_tests: str = "public_tests.py"
    hidden_tests: str = "hidden_tests.py"
    mistakes: str = "mistakes.py"  # the catalogue of known mistakes (optional)
    isolate: bool = True
    allowed_imports: tuple[str, ...] = ()
    limits: Limits = Limits()
    environment: EnvironmentSpec | None = None  # [environment]: what student code runs with (None: the grader's)
    optional_scoring: str = "extra-credit-capped"  # one of OPTIONAL_POLICIES
    submission: SubmissionPolicy = SubmissionPolicy()  # [submission]: deadline, late penalty, counting attempt

    @property
    def instructor(self) -> bool:
        """False for a student release (assignments/<name>): no master notebook, no hidden tests."""
        return self.source_dir != self.release_dir

    @property
    def master_notebook(self) -> Path:
        return self.source_dir / self.notebook

    @property
    def student_notebook(self) -> Path:
        return self.release_dir / self.notebook

    @property
    def graded(self) -> tuple[str, ...]:
        """The graded functions' names, in order."""
        return tuple(f.name for f in self.functions)

    @property
    def max_score(self) -> float:
        return sum(f.points for f in self.functions if not f.optional)

    @property
    def test_modules(self) -> frozenset[str]:
        """Modules of the public tests: the sandbox never has them (the checks run in the grader)."""
        return frozenset({Path(self.public_tests).stem, "grader_checks"})

    @property
    def course_files(self) -> tuple[Path, ...]:
        """Released files student code may use as it does in Jupyter (helper modules, data): everything shipped
        beside the notebook but the public tests. Always the instructor's copies, never the student's."""
        return tuple(self.source_dir / name for name in self.release_files if Path(name).stem not in self.test_modules)

    @property
    def helper_modules(self) -> frozenset[str]:
        return frozenset(path.stem for path in self.course_files if path.suffix == ".py")

    def allows_import(self, modules: tuple[str, ...]) -> bool:
        allowed = {*self.allowed_imports, *self.helper_modules, "__future__"}  # how the code compiles, nothing to run
        return not self.allowed_imports or set(modules) <= allowed


def find_assignment(spec: str | Path, course_dir: Path | None = None) -> Path:
    """Resolve ASSIGNMENT: a path to a folder with assignment.toml, or a folder name under ``solutions/``
    (the instructor's copy) or else ``assignments/`` (a student's release)."""
    course_dir = Path.cwd() if course_dir is None else course_dir
    for candidate in (Path(spec), course_dir / "solutions" / str(spec), course_dir / "assignments" / str(spec)):
        if (candidate / "assignment.toml").is_file():
            return candidate.resolve()
    raise UsageError(f"no assignment {str(spec)!r}: expected {course_dir / 'solutions' / str(spec) / 'assignment.toml'}")


#: An assignment's name as ``grader check`` accepts it: a folder name, never a path.
ASSIGNMENT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def find_named_assignment(name: str, course_dir: Path) -> Path:
    """The folder of assignment ``name`` under ``course_dir``: the student release ``assignments/NAME``, else the
    instructor's ``solutions/NAME`` (an instructor checkout). Only a bare name is accepted, because the name may
    come from a student's notebook and the assignment's files are then run in the trusted process."""
    if not ASSIGNMENT_NAME.fullmatch(name) or ".." in name:
        shown = name if len(name) <= 80 else name[:77] + "..."
        raise UsageError(f"{shown!r} is not an assignment name (letters, digits, '_', '.' and '-', not a path): "
                         "pass --assignment NAME, and --course DIR for the course folder that has assignments/NAME")
    for folder in ("assignments", "solutions"):
        candidate = course_dir / folder / name
        if (candidate / "assignment.toml").is_file():
            return candidate.resolve()
    raise UsageError(f"no assignment {name!r} in the course folder {course_dir}: expected "
                     f"{course_dir / 'assignments' / name / 'assignment.toml'} (pass --course DIR to look elsewhere)")


def load_assignment(spec: str | Path, course_dir: Path | None = None) -> Assignment:
    source_dir = find_assignment(spec, course_dir)
    try:
        data = tomllib.loads((source_dir / "assignment.toml").read_text(encoding="utf-8"))
        functions = tuple(Function(**{**entry, **({"depends": tuple(entry["depends"])} if "depends" in entry else {})})
                          for entry in data.pop("functions"))
        limits = Limits(**data.pop("limits", {}))
        scoring = data.pop("scoring", {})
        optional_scoring = scoring.pop("optional", "extra-credit-capped")
        if optional_scoring not in OPTIONAL_POLICIES or scoring:
            raise TypeError(f"[scoring] takes only optional = one of {', '.join(map(repr, OPTIONAL_POLICIES))}")
        release_dir = source_dir.parent.parent / "assignments" / source_dir.name
        environment = EnvironmentSpec.parse(data.pop("environment")) if "environment" in data else None
        submission = _submission_policy(data.pop("submission", {}), str(source_dir / "assignment.toml"))
        return Assignment(
            name=source_dir.name,
            source_dir=source_dir,
            release_dir=release_dir,
            functions=functions,
            limits=limits,
            environment=environment,
            release_files=tuple(data.pop("release_files", ())),
            allowed_imports=tuple(data.pop("allowed_imports", ())),
            optional_scoring=optional_scoring,
            submission=submission,
            **data,
        )
    except (tomllib.TOMLDecodeError, TypeError, KeyError) as error:
        raise UsageError(f"{source_dir / 'assignment.toml'}: {error}") from error
