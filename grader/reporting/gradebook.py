"""Many reports → grades.csv and a SQLite gradebook (one row per submission, one per check)."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from grader.model import GradeReport
from grader.reporting.report import SHOWN_LIMIT, write_atomic
from grader.text import clean_line, clean_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    name TEXT PRIMARY KEY, assignment TEXT, path TEXT, score REAL, max_score REAL, error TEXT, seconds REAL,
    graded_at TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE IF NOT EXISTS checks (
    submission TEXT REFERENCES submissions(name) ON DELETE CASCADE, function TEXT, name TEXT, kind TEXT,
    outcome TEXT, failure TEXT, params TEXT, PRIMARY KEY (submission, name));
"""

CSV_CELL_LIMIT = 1000
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell no spreadsheet runs: text is one clean line, quoted with ' when it would start a formula.

    Numbers stay numbers (a negative score is a number, never text with a quote)."""
    if not isinstance(value, str):
        return value
    text = clean_line(value, CSV_CELL_LIMIT)
    runs = value.startswith(FORMULA_STARTS) or text.lstrip().startswith(FORMULA_STARTS)  # some spreadsheets trim first
    return "'" + text if runs else text


def grades_csv(named: Sequence[tuple[str, GradeReport]]) -> str:
    functions = [f.name for f in named[0][1].functions] if named else []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    rows: list[list[Any]] = [["submission", "file", "score", "max_score", *functions, "error"]]
    for name, report in named:
        by_name = {f.name: f.score for f in report.functions}
        rows.append([name, report.submission, report.score, report.max_score, *(by_name.get(f, 0) for f in functions),
                     report.error])
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def _sql(values: Iterable[Any]) -> tuple[Any, ...]:
    """Parameters SQLite can store: text valid UTF-8 (a lone surrogate would raise) and capped."""
    return tuple(clean_text(v, SHOWN_LIMIT) if isinstance(v, str) else v for v in values)


def write_gradebook(named: Sequence[tuple[str, GradeReport]], out_dir: Path) -> None:
    """grades.csv, and the batch's rows in grades.sqlite in one transaction with its schema: a reader sees the old
    gradebook or the new one, and the disk is synced once per batch (~2 ms each time, half of writing the file)."""
    write_atomic(out_dir / "grades.csv", grades_csv(named))
    with sqlite3.connect(out_dir / "grades.sqlite") as db:
        db.executescript("BEGIN;" + SCHEMA)  # the script's own transaction stays open for the rows below
        for name, report in named:
            db.execute("DELETE FROM checks WHERE submission = ?", _sql((name,)))
            db.execute("INSERT OR REPLACE INTO submissions (name, assignment, path, score, max_score, error, seconds) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       _sql((name, report.assignment, report.submission, report.score, report.max_score, report.error,
                             report.execution_time)))
            db.executemany("INSERT INTO checks VALUES (?, ?, ?, ?, ?, ?, ?)",
                           [_sql((name, c.function, c.name, c.kind, c.outcome, c.failure, c.params)) for c in report.checks])
    db.close()
