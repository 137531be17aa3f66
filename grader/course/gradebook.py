"""The course gradebook: one SQLite file per course holding the roster, every attempt and every grading of it.

Nothing is overwritten: a new grading is a new row, so a regrade keeps the old grades. The schema grows only by
numbered migrations recorded in ``schema_migrations``, so a gradebook started on one release opens on the next (and
one written by a newer release is refused rather than misread). WAL lets ``status`` read while ``grade`` writes;
``course_lock`` keeps two graders of one course from grading the same attempt twice (``UNIQUE (attempt, suite)`` is
the second line of defence).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from grader.course.records import Student
from grader.errors import UsageError
from grader.model import GradeReport
from grader.text import clean_text

GRADEBOOK = "gradebook.sqlite"
TEXT_LIMIT = 4000  # characters of one stored message or parameter set

#: Each migration is a list of statements, applied once, in order, in one transaction. Never edit a released one:
#: add the next number.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: roster, attempts, gradings and per-check outcomes
        """CREATE TABLE students (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL DEFAULT '',
            lms_id TEXT NOT NULL DEFAULT '', section TEXT NOT NULL DEFAULT '', sis_id TEXT NOT NULL DEFAULT '',
            login TEXT NOT NULL DEFAULT '')""",
        """CREATE TABLE attempts (id INTEGER PRIMARY KEY, assignment TEXT NOT NULL,
            student TEXT NOT NULL REFERENCES students(id), sha256 TEXT NOT NULL, source TEXT NOT NULL,
            stored TEXT NOT NULL, received_at TEXT NOT NULL, received_from TEXT NOT NULL, collected_at TEXT NOT NULL,
            UNIQUE (assignment, student, sha256))""",
        """CREATE TABLE gradings (id INTEGER PRIMARY KEY, attempt INTEGER NOT NULL REFERENCES attempts(id),
            suite TEXT NOT NULL, graded_at TEXT NOT NULL, score REAL NOT NULL, max_score REAL NOT NULL,
            error TEXT NOT NULL DEFAULT '', report_dir TEXT NOT NULL DEFAULT '', UNIQUE (attempt, suite))""",
        """CREATE TABLE outcomes (grading INTEGER NOT NULL REFERENCES gradings(id), function TEXT NOT NULL,
            name TEXT NOT NULL, kind TEXT NOT NULL, outcome TEXT NOT NULL, failure TEXT NOT NULL DEFAULT '',
            params TEXT NOT NULL DEFAULT '', PRIMARY KEY (grading, name))""",
    ),
    (  # 2: the LMS's own late flag, why a grading was made, per-function scores
        "ALTER TABLE attempts ADD COLUMN lms_late INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE gradings ADD COLUMN purpose TEXT NOT NULL DEFAULT 'grade'",
        """CREATE TABLE function_scores (grading INTEGER NOT NULL REFERENCES gradings(id), function TEXT NOT NULL,
            points REAL NOT NULL, score REAL NOT NULL, checks INTEGER NOT NULL, passed_checks INTEGER NOT NULL,
            PRIMARY KEY (grading, function))""",
        "CREATE INDEX attempts_by_assignment ON attempts (assignment, student)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def now() -> datetime:
    return datetime.now(timezone.utc)


def stamp(moment: datetime) -> str:
    """An instant as stored: ISO 8601 in UTC, so text order is time order."""
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _text(value: str) -> str:
    return clean_text(value, TEXT_LIMIT)


@dataclass(frozen=True)
class AttemptRow:
    id: int
    assignment: str
    student: str
    sha256: str
    source: str  # where it came from (file, or archive and entry)
    stored: Path  # the copy in the course
    received_at: datetime
    received_from: str  # which clock the time came from
    lms_late: bool = False


@dataclass(frozen=True)
class GradingRow:
    id: int
    attempt: int
    suite: str
    graded_at: datetime
    score: float
    max_score: float
    error: str
    report_dir: str
    purpose: str


class Gradebook:
    """An open course gradebook (migrated to this release's schema on opening)."""

    def __init__(self, path: Path, root: Path | None = None) -> None:
        self.path = Path(path)
        # Files of the course are recorded relative to its root, so a course moved or cloned elsewhere still opens.
        self.root = Path(root) if root is not None else self.path.parent
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA busy_timeout=60000")
            migrate(self.db, self.path)
        except sqlite3.DatabaseError as error:
            self.db.close()
            raise UsageError(f"{self.path} is not a readable gradebook ({error})") from error

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _relative(self, path: Path | str) -> str:
        path = Path(path)
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    def _absolute(self, stored: str) -> Path:
        return self.root / stored if stored and not Path(stored).is_absolute() else Path(stored)

    # The roster.
    def put_students(self, students: Iterable[Student]) -> tuple[int, int]:
        """Add new students and update known ones (their id never changes). Returns (added, updated)."""
        added = updated = 0
        with self.transaction() as db:
            for s in students:
                known = db.execute("SELECT 1 FROM students WHERE id = ?", (s.id,)).fetchone()
                db.execute("INSERT INTO students (id, name, email, lms_id, section, sis_id, login) VALUES (?,?,?,?,?,?,?) "
                           "ON CONFLICT (id) DO UPDATE SET name=excluded.name, email=excluded.email, "
                           "lms_id=excluded.lms_id, section=excluded.section, sis_id=excluded.sis_id, login=excluded.login",
                           (s.id, s.name, s.email, s.lms_id, s.section, s.sis_id, s.login))
                added += known is None
                updated += known is not None
        return added, updated

    def students(self, only: str | None = None) -> list[Student]:
        """The roster in id order (or only student ``only``: one indexed read when grading one attempt)."""
        where, values = ("WHERE id = ?", (only,)) if only is not None else ("", ())
        rows = self.db.execute(f"SELECT id, name, email, lms_id, section, sis_id, login FROM students {where} ORDER BY id",
                               values)
        return [Student(*row) for row in rows]

    # Attempts.
    def add_attempt(self, assignment: str, student: str, sha256: str, source: str, stored: Path, received_at: datetime,
                    received_from: str, lms_late: bool = False) -> tuple[int, bool]:
        """Record an attempt; the same notebook again from the same student is the same attempt. Returns (id, new)."""
        with self.transaction() as db:
            known = db.execute("SELECT id FROM attempts WHERE assignment = ? AND student = ? AND sha256 = ?",
                               (assignment, student, sha256)).fetchone()
            if known:
                return int(known[0]), False
            cursor = db.execute(
                "INSERT INTO attempts (assignment, student, sha256, source, stored, received_at, received_from, "
                "collected_at, lms_late) VALUES (?,?,?,?,?,?,?,?,?)",
                (assignment, student, sha256, _text(source), self._relative(stored), stamp(received_at), received_from,
                 stamp(now()), int(lms_late)))
            return int(cursor.lastrowid or 0), True

    def attempts(self, assignment: str, student: str | None = None) -> list[AttemptRow]:
        """The assignment's attempts in the order received (or only ``student``'s)."""
        where, values = (" AND student = ?", (assignment, student)) if student is not None else ("", (assignment,))
        rows = self.db.execute("SELECT id, assignment, student, sha256, source, stored, received_at, received_from, "
                               f"lms_late FROM attempts WHERE assignment = ?{where} ORDER BY received_at, id", values)
        return [AttemptRow(r[0], r[1], r[2], r[3], r[4], self._absolute(r[5]), datetime.fromisoformat(r[6]), r[7],
                           bool(r[8]))
                for r in rows]

    def collected_number(self, row: AttemptRow) -> int:
        """Which of its student's attempts on the assignment this is, in the order collected (1 for the first)."""
        return int(self.db.execute("SELECT COUNT(*) FROM attempts WHERE assignment = ? AND student = ? AND id <= ?",
                                   (row.assignment, row.student, row.id)).fetchone()[0])

    def pending(self, assignment: str, suite: str) -> list[AttemptRow]:
        """Attempts with no grading by ``suite`` yet: what ``grader grade ASSIGNMENT`` still has to do."""
        done = {row[0] for row in self.db.execute("SELECT attempt FROM gradings WHERE suite = ?", (suite,))}
        return [a for a in self.attempts(assignment) if a.id not in done]

    # Gradings.
    def record_grading(self, attempt: int, suite: str, report: GradeReport, report_dir: Path | str,
                       purpose: str = "grade") -> int | None:
        """Add one grading with its outcomes in one transaction. None if ``suite`` already graded this attempt
        (another grader got there first): the existing row stands."""
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO gradings (attempt, suite, graded_at, score, max_score, error, report_dir, purpose) "
                "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (attempt, suite) DO NOTHING",
                (attempt, suite, stamp(now()), report.score, report.max_score, _text(report.error),
                 self._relative(report_dir) if str(report_dir) else "",
                 purpose))
            if not cursor.rowcount:
                return None
            grading = int(cursor.lastrowid or 0)
            db.executemany("INSERT OR IGNORE INTO outcomes VALUES (?,?,?,?,?,?,?)",
                           [(grading, _text(c.function), _text(c.name), c.kind, c.outcome, c.failure, _text(c.params))
                            for c in report.checks])
            db.executemany("INSERT OR IGNORE INTO function_scores VALUES (?,?,?,?,?,?)",
                           [(grading, f.name, f.points, f.score, f.checks, f.passed_checks) for f in report.functions])
        return grading

    def gradings(self, attempt: int) -> list[GradingRow]:
        """Every grading of an attempt, oldest first."""
        rows = self.db.execute("SELECT id, attempt, suite, graded_at, score, max_score, error, report_dir, purpose "
                               "FROM gradings WHERE attempt = ? ORDER BY id", (attempt,))
        return [GradingRow(r[0], r[1], r[2], datetime.fromisoformat(r[3]), r[4], r[5], r[6],
                           str(self._absolute(r[7])) if r[7] else "", r[8]) for r in rows]

    def current_grading(self, attempt: int, suite: str) -> GradingRow | None:
        """The grading by ``suite`` if there is one, else the latest: what the attempt's score is today."""
        found = self.gradings(attempt)
        by_suite = [g for g in found if g.suite == suite]
        chosen = by_suite or found
        return chosen[-1] if chosen else None

    def outcomes(self, grading: int) -> dict[str, str]:
        """Check name → outcome for one grading."""
        return dict(self.db.execute("SELECT name, outcome FROM outcomes WHERE grading = ?", (grading,)).fetchall())


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the schema up to SCHEMA_VERSION, one recorded migration at a time (concurrent openers take turns)."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            (version,) = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
            if version > SCHEMA_VERSION:
                raise UsageError(f"{path} was written by a newer release of the grader (schema {version}; this one "
                                 f"knows up to {SCHEMA_VERSION}): upgrade the grader to open it")
            if version == SCHEMA_VERSION:
                db.execute("COMMIT")
                return
            for statement in MIGRATIONS[version]:
                db.execute(statement)
            db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version + 1, stamp(now())))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def gradebook_path(course: Path, explicit: Path | None = None) -> Path:
    """``--gradebook``, else $GRADER_GRADEBOOK, else gradebook.sqlite at the course root."""
    if explicit is not None:
        return explicit
    if os.environ.get("GRADER_GRADEBOOK"):
        return Path(os.environ["GRADER_GRADEBOOK"])
    return course / GRADEBOOK


@contextmanager
def course_lock(gradebook: Path, wait: bool = True) -> Iterator[None]:
    """Hold the course's grading lock (a file beside the gradebook, released by the kernel if we die). A second
    grader waits for it and then finds the attempts already graded, or with ``wait=False`` refuses."""
    lock_path = gradebook.with_name(gradebook.name + ".lock")
    with open(lock_path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read(200).strip() or "another process"
            if not wait:
                raise UsageError(f"another grader is grading this course ({holder}); try again when it is done") from None
            print(f"waiting for the other grader of this course to finish ({holder}) ...", file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "since": stamp(now())}))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
