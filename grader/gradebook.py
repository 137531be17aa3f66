"""Many reports → grades.csv and a SQLite gradebook (one row per submission, one per check)."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from grader.model import GradeReport
from grader.report import write_atomic

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    name TEXT PRIMARY KEY, assignment TEXT, path TEXT, score REAL, max_score REAL, error TEXT, seconds REAL,
    graded_at TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE IF NOT EXISTS checks (
    submission TEXT REFERENCES submissions(name) ON DELETE CASCADE, function TEXT, name TEXT, kind TEXT,
    outcome TEXT, failure TEXT, params TEXT, PRIMARY KEY (submission, name));
"""


def grades_csv(named: Sequence[tuple[str, GradeReport]]) -> str:
    functions = [f.name for f in named[0][1].functions] if named else []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", "file", "score", "max_score", *functions, "error"])
    for name, report in named:
        by_name = {f.name: f.score for f in report.functions}
        writer.writerow([name, report.submission, report.score, report.max_score, *(by_name.get(f, 0) for f in functions),
                         report.error])
    return buffer.getvalue()


def write_gradebook(named: Sequence[tuple[str, GradeReport]], out_dir: Path) -> None:
    write_atomic(out_dir / "grades.csv", grades_csv(named))
    with sqlite3.connect(out_dir / "grades.sqlite") as db:
        db.executescript(SCHEMA)
        for name, report in named:
            db.execute("DELETE FROM checks WHERE submission = ?", (name,))
            db.execute("INSERT OR REPLACE INTO submissions (name, assignment, path, score, max_score, error, seconds) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (name, report.assignment, report.submission, report.score, report.max_score, report.error,
                        report.execution_time))
            db.executemany("INSERT INTO checks VALUES (?, ?, ?, ?, ?, ?, ?)",
                           [(name, c.function, c.name, c.kind, c.outcome, c.failure, c.params) for c in report.checks])
    db.close()
