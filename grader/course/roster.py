"""The roster CSV → students, refused as a whole (with the line) on a duplicate id, a missing column or bad bytes.

An import that stops half-way would leave a roster no one wrote, so every line is checked before anything is stored.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from grader.course.records import Student
from grader.errors import UsageError
from grader.text import clean_line

REQUIRED = ("id", "name")
OPTIONAL = ("email", "lms_id", "section", "sis_id", "login")
ROSTER_LIMIT = 20_000_000  # bytes: far above any class


def decode(data: bytes, path: Path) -> str:
    """UTF-8 (with or without the BOM spreadsheets write); anything else names the first bad line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise UsageError(f"{path}, line {line}: not UTF-8 (byte {data[error.start]:#04x}): save the file as "
                         "'CSV UTF-8' and import it again") from None


def read_roster(path: Path) -> list[Student]:
    """The students of a roster CSV with a header row (id and name required; email, lms_id, section, sis_id and
    login optional; other columns are ignored)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(ROSTER_LIMIT + 1)
    except OSError as error:
        raise UsageError(f"cannot read the roster {path}: {error.strerror}") from None
    if len(data) > ROSTER_LIMIT:
        raise UsageError(f"{path} is larger than {ROSTER_LIMIT // 1_000_000} MB: is it really a roster?")
    reader = csv.DictReader(io.StringIO(decode(data, path), newline=""))
    header = [(name or "").strip().lower() for name in reader.fieldnames or ()]
    missing = [column for column in REQUIRED if column not in header]
    if missing:
        raise UsageError(f"{path}, line 1: the header must name the columns {', '.join(REQUIRED)} "
                         f"(missing: {', '.join(missing)}; found: {', '.join(header) or 'nothing'})")
    reader.fieldnames = header
    students: list[Student] = []
    first_line: dict[str, int] = {}
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as error:
            raise UsageError(f"{path}, line {reader.line_num}: {error}") from None
        line = reader.line_num
        if None in row:
            raise UsageError(f"{path}, line {line}: more cells than the header has columns")
        values = {key: clean_line(row.get(key) or "", 200).strip() for key in (*REQUIRED, *OPTIONAL)}
        if not any(values.values()):
            continue
        if not values["id"] or not values["name"]:
            raise UsageError(f"{path}, line {line}: every student needs an id and a name")
        if "/" in values["id"] or values["id"] in (".", "..") or values["id"].startswith("."):
            raise UsageError(f"{path}, line {line}: the id {values['id']!r} cannot name a folder (no '/', no leading '.')")
        if values["id"] in first_line:
            raise UsageError(f"{path}, line {line}: the id {values['id']!r} is already on line "
                             f"{first_line[values['id']]}; each student once, please")
        first_line[values["id"]] = line
        students.append(Student(**values))
    for column in ("lms_id", "login", "email"):
        seen: dict[str, str] = {}
        for student in students:
            value = getattr(student, column)
            if value and value in seen:
                raise UsageError(f"{path}: students {seen[value]!r} and {student.id!r} have the same {column} {value!r}")
            seen[value] = student.id
    if not students:
        raise UsageError(f"{path} lists no students")
    return students
