"""Final grades → the files an LMS imports: Canvas's gradebook CSV, Moodle's grading worksheet, a plain CSV, and a
zip of feedback pages named so the LMS's bulk feedback upload matches each page to its student.

Pure functions over ``FinalGrade`` records (the late penalty is already in ``score``); ``write_export`` is the one
entry point ``grader export`` calls. Every text cell goes through ``csv_cell`` (no spreadsheet formula can start
from a student's name). A student with no submission gets an empty grade, never 0: both LMSs read an empty cell
as "no grade", and a 0 is for the instructor to decide (a missing-work policy is theirs, not the grader's).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from grader.course.records import FinalGrade, Student
from grader.errors import UsageError
from grader.reporting.gradebook import csv_cell
from grader.reporting.report import write_atomic
from grader.text import clean_line

TARGETS = ("canvas", "moodle", "csv")

# --- Canvas ---------------------------------------------------------------------------------------------------------
# The layout Canvas's own gradebook export writes and its import reads (Canvas source, lib/gradebook_exporter.rb
# and app/models/gradebook_importer.rb in instructure/canvas-lms; the guide "How do I import grades in the
# Gradebook?" at community.canvaslms.com describes the same columns): a header row Student, ID, SIS User ID,
# SIS Login ID, Section, then one column per assignment titled "<title> (<assignment id>)"; a second row whose
# first cell is "    Points Possible" (four spaces, as exported; the importer looks for "Points Possible" in it)
# and whose assignment cell holds the points; then one row per student. Canvas writes numbers rounded to two
# decimals ("10.00") and compares imported scores at that precision; comma-separated, "\n" line ends, no byte-order
# mark (Canvas adds one only when a user turns that preference on; its importer accepts both). Students are matched
# on ID (the Canvas user id), then SIS User ID, then SIS Login ID, then the name.
CANVAS_HEADER = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_ROW = "    Points Possible"
CANVAS_COLUMN = re.compile(r"\A(.*\S)\s\((\d+)\)\Z")  # Canvas's Assignment.title_and_id

# --- Moodle ---------------------------------------------------------------------------------------------------------
# The offline grading worksheet as Moodle's assignment module downloads it (mod/assign/gradingtable.php in
# moodle/moodle, with "Offline grading worksheet" and "Feedback comments" on, no teams, no marking workflow, email
# shown) and as its importer reads it (mod/assign/feedback/offline/importgradeslib.php: it finds the columns
# "Identifier", "Grade" and "Last modified (grade)" by name, and a student by the number after "Participant ").
# The file is written by Spout's CSV writer: a UTF-8 byte-order mark, then PHP's fputcsv, which quotes every field
# holding a space, comma, quote, backslash, tab or line break, and ends lines with "\n". Grades and the maximum use
# the grade item's two decimals; a date is Moodle's userdate ("Tuesday, 1 December 2026, 8:30 PM"), "-" when none.
MOODLE_HEADER = ("Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
                 "Last modified (submission)", "Last modified (grade)", "Feedback comments")
MOODLE_PARTICIPANT = "Participant "
UTF8_BOM = "\ufeff"
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")

# --- Feedback zips --------------------------------------------------------------------------------------------------
# Moodle ("Upload multiple feedback files in a zip", mod/assign/feedback/file/importziplib.php) splits each folder
# name on "_" and reads <anything>_<participant id>_<plugin type>_<plugin name>[_]: the folder layout of its own
# "Download all submissions", <Full name>_<participant id>_assignsubmission_file_/. The name part is only for people,
# so underscores in it are replaced (they would shift the participant id).
# Canvas ("Re-upload submissions" on the assignment page, Assignment#infer_comment_context_from_filename) takes the
# first two all-digit "_"-separated parts of a file name as the user id and the id of the file the student handed in,
# and attaches the file as a comment to that submission: the file must be named after the Canvas download of the
# counting attempt, <name>[_LATE]_<user id>_<file id>_<original name>. Those two numbers come from the name of the
# downloaded file (``sources``); a student without it is listed as skipped.
FEEDBACK_NAME = "feedback.html"
# The rendered annotated notebook beside it (when it was written), which feedback.html links to by this name.
FEEDBACK_FILES = (FEEDBACK_NAME, "feedback-notebook.html")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so the same feedback gives the same zip


def _finite(value: float, what: str, student: Student) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise UsageError(f"{what} of {clean_line(student.name or student.id, 80)} is {value!r}, not a finite number")
    return float(value)


def _decimals(value: float, places: int = 2) -> Decimal:
    """``value`` rounded half up to ``places`` decimals, as Canvas (Ruby's number_to_rounded) and Moodle
    (format_float) print it; a Decimal so that csv_cell leaves it alone and it is written exactly so."""
    rounded = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return rounded.copy_abs() if rounded.is_zero() else rounded


def _plain(value: float) -> Decimal:
    """A number for the plain CSV: up to six decimals, trailing zeros dropped (8.5, not 8.500000)."""
    text = format(_decimals(value, 6), "f").rstrip("0").rstrip(".")
    return Decimal(text or "0")


def _csv(rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def canvas_column(title: str, assignment_id: str | int) -> str:
    """The assignment column's header as Canvas names it: ``Title (12345)``, the id from the assignment's URL."""
    return f"{clean_line(title, 200).strip()} ({assignment_id})"


def canvas_csv(grades: Sequence[FinalGrade], column: str, points_possible: float) -> str:
    """Canvas's gradebook import CSV for one assignment (see the layout above).

    ``column`` must end with the Canvas assignment id in parentheses: without it Canvas matches the column by title
    or makes a new assignment, so an export to the wrong course or a renamed assignment would go astray silently."""
    if not CANVAS_COLUMN.match(column) or column != clean_line(column, 300):
        raise UsageError(f"the Canvas column {clean_line(column, 80)!r} must be the assignment's title followed by its "
                         "Canvas id in parentheses, e.g. 'Convolutions (12345)' (the id is the number in the "
                         "assignment's URL)")
    if not math.isfinite(points_possible) or points_possible < 0:
        raise UsageError(f"points possible must be a number of at least 0, not {points_possible!r}")
    rows: list[list[Any]] = [[*CANVAS_HEADER, column], [CANVAS_POINTS_ROW, None, None, None, None, _decimals(points_possible)]]
    for grade in grades:
        student = grade.student
        score = None if grade.score is None else _decimals(_finite(grade.score, "the score", student))
        rows.append([student.name, student.lms_id or None, student.sis_id or None, student.login or None,
                     student.section or None, score])
    return _csv(rows)


def _php_field(value: str) -> str:
    """One field as PHP's fputcsv writes it (delimiter ',', enclosure '"', escape '\\')."""
    if not any(c in value for c in ',"\\\n\r\t '):
        return value
    out = ['"']
    escaped = False
    for char in value:
        if char == "\\":
            escaped = True
        elif not escaped and char == '"':
            out.append('"')
        else:
            escaped = False
        out.append(char)
    out.append('"')
    return "".join(out)


def moodle_date(moment: datetime | None) -> str:
    """Moodle's userdate in English (strftimedaydatetime, leading zeros of day and hour dropped), "-" for none.
    The time is shown in ``moment``'s own time zone (a naive one is taken as UTC)."""
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    hour = moment.hour % 12 or 12
    return (f"{_DAYS[moment.weekday()]}, {moment.day} {_MONTHS[moment.month - 1]} {moment.year}, "
            f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}")


def _comment(grade: FinalGrade) -> str:
    """The feedback comment: numbers and our own words only (Moodle stores it as HTML, so no student text)."""
    if grade.score is None:
        return ""
    parts = [f"Score {_plain(grade.score)}/{_plain(grade.max_score)}."]
    if grade.penalty:
        parts.append(f"Late by {grade.late_seconds / 3600:.1f} h: {_plain(grade.penalty)} points off "
                     f"(before the penalty {_plain(grade.raw_score if grade.raw_score is not None else grade.score)}).")
    if grade.attempts > 1:
        parts.append(f"{grade.attempts} attempts.")
    parts.append("The full feedback is in the feedback file.")
    return " ".join(parts)


def moodle_csv(grades: Sequence[FinalGrade], max_grade: float, graded_at: datetime | None = None) -> str:
    """Moodle's offline grading worksheet (see the layout above), ready for "Upload grading worksheet".

    Every student needs the Moodle participant id (the roster's ``lms_id``, the number in "Participant N" and in
    the download's folder names): it is the only key the importer reads, so a student without it is refused here
    rather than dropped there. ``graded_at`` fills "Last modified (grade)" (default: now); Moodle skips a row whose
    grade was changed in Moodle after that time unless the instructor ticks its override."""
    if not math.isfinite(max_grade) or max_grade < 0:
        raise UsageError(f"the maximum grade must be a number of at least 0, not {max_grade!r}")
    missing = [clean_line(g.student.name or g.student.id, 80) for g in grades if not g.student.lms_id.isdigit()]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise UsageError(f"{len(missing)} student(s) have no Moodle participant id (the roster's lms_id, a number): "
                         f"{shown}; Moodle's worksheet import can match a row only by it")
    graded = moodle_date(graded_at or datetime.now(timezone.utc))
    lines = [",".join(_php_field(h) for h in MOODLE_HEADER)]
    for grade in grades:
        student = grade.student
        submitted = grade.score is not None
        score = "" if grade.score is None else str(_decimals(_finite(grade.score, "the score", student)))
        row = [MOODLE_PARTICIPANT + student.lms_id, csv_cell(student.name), csv_cell(student.email),
               "Submitted for grading" if submitted else "No submission", score, str(_decimals(max_grade)), "Yes",
               moodle_date(grade.received_at) if submitted else "-", graded if submitted else "-", _comment(grade)]
        lines.append(",".join(_php_field(cell) for cell in row))
    return UTF8_BOM + "".join(line + "\n" for line in lines)


PLAIN_HEADER = ("student_id", "name", "email", "section", "lms_id", "score", "max_score", "raw_score", "penalty",
                "late_hours", "attempts", "received_at")


def plain_csv(grades: Sequence[FinalGrade]) -> str:
    """One row per student, every figure of the grade, for a spreadsheet or another system: UTF-8, no BOM, "\\n"."""
    rows: list[list[Any]] = [list(PLAIN_HEADER)]
    for grade in grades:
        student = grade.student
        submitted = grade.score is not None
        rows.append([student.id, student.name, student.email, student.section, student.lms_id,
                     _plain(_finite(grade.score, "the score", student)) if grade.score is not None else None,
                     _plain(_finite(grade.max_score, "the maximum", student)),
                     _plain(grade.raw_score) if submitted and grade.raw_score is not None else None,
                     _plain(grade.penalty) if submitted else None,
                     _plain(grade.late_seconds / 3600) if submitted else None,
                     grade.attempts,
                     grade.received_at.isoformat() if grade.received_at else None])
    return _csv(rows)


@dataclass(frozen=True)
class FeedbackZip:
    """What went into a feedback zip, and who did not (with why), so that nobody is left out unnoticed."""

    path: Path | None  # None when no student had a feedback page to send
    added: tuple[str, ...]  # student ids
    skipped: tuple[tuple[str, str], ...]  # (student id, reason)


def _ascii_name(name: str) -> str:
    """Letters and digits of the name without accents, lower case (Canvas's download uses such a prefix)."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    kept = "".join(c for c in folded.lower() if c.isalnum())
    return kept if kept and not kept.isdigit() else "student"


def _moodle_folder(student: Student) -> str:
    name = clean_line(student.name or "student", 100).replace("_", "-").replace("/", "-").replace("\\", "-").strip(". ")
    return f"{name or 'student'}_{student.lms_id}_assignsubmission_file_"


def canvas_ids(source: str) -> tuple[str, str] | None:
    """(user id, file id) from where an attempt came from (``download.zip:entry``, as collect records it): the name of
    its entry at the top of Canvas's "Download submissions" zip, read as Canvas reads a re-uploaded file (the first
    two parts made only of digits); None when there are not two. Below the top (in a zip the student handed in) the
    names are the student's own, and never read here."""
    parts = re.split(r"\.zip:", source, maxsplit=1, flags=re.IGNORECASE)
    top = parts[1].split("/", 1)[0] if len(parts) == 2 else Path(source).name
    numbers = [part for part in top.split("_") if part.isdigit()]
    return (numbers[0], numbers[1]) if len(numbers) >= 2 else None


NO_GRADE = "no graded submission"  # why a student has no feedback file that needs no one's attention


def graded_but_skipped(skipped_file: Path) -> int:
    """How many students listed in ``<lms>-feedback-skipped.txt`` have a grade: their feedback will be missing."""
    lines = skipped_file.read_text(encoding="utf-8").splitlines() if skipped_file.is_file() else []
    return sum(1 for line in lines if line.rsplit("\t", 1)[-1] != NO_GRADE)


def _zip_prefix(grade: FinalGrade, lms: str, sources: Mapping[str, str]) -> tuple[str, str]:
    """(what the names of the student's files in the zip start with, "") or ("", why the student is skipped)."""
    student = grade.student
    if grade.score is None or grade.feedback is None:
        return "", NO_GRADE
    if lms == "moodle":
        if not student.lms_id.isdigit():
            return "", "no Moodle participant id (roster lms_id)"
        return f"{_moodle_folder(student)}/", ""
    source = sources.get(student.id, "")
    ids = canvas_ids(source) if source else None
    if ids is None:
        return "", "no Canvas download file name for the counting attempt (user id and file id come from it)"
    user_id, file_id = ids
    if student.lms_id and student.lms_id != user_id:
        return "", f"the Canvas user id in the download name ({user_id}) is not the roster's ({student.lms_id})"
    return f"{_ascii_name(student.name)}_{user_id}_{file_id}_", ""


def feedback_zip(grades: Sequence[FinalGrade], lms: str, dest: Path, sources: Mapping[str, str] | None = None) -> FeedbackZip:
    """A zip of each student's feedback page (and the rendered annotated notebook beside it, if any) named for
    ``lms``'s bulk upload (see the naming rules above).

    ``sources`` maps a student id to the name of the counting attempt's file as the LMS's download named it (needed
    for Canvas only). Written to a temporary file and renamed, so ``dest`` is never half-written; nothing is written
    when no student has a page."""
    if lms not in ("canvas", "moodle"):
        raise UsageError(f"feedback files can be zipped for canvas or moodle, not {lms!r}")
    entries: list[tuple[str, FinalGrade]] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for grade in grades:
        prefix, why = _zip_prefix(grade, lms, sources or {})
        if prefix and prefix in seen:
            prefix, why = "", "another student's feedback has the same file name (duplicate LMS ids in the roster?)"
        if prefix and grade.feedback is not None and not grade.feedback.is_file():
            prefix, why = "", f"its feedback page {grade.feedback} is missing"
        if prefix:
            seen.add(prefix)
            entries.append((prefix, grade))
        else:
            skipped.append((grade.student.id, why))
    if not entries:
        dest.unlink(missing_ok=True)  # an earlier export's zip must not be uploaded as this one's
        return FeedbackZip(None, (), tuple(skipped))
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            for prefix, grade in entries:
                assert grade.feedback is not None
                for name in FEEDBACK_FILES:
                    page = grade.feedback if name == FEEDBACK_NAME else grade.feedback.with_name(name)
                    if name != FEEDBACK_NAME and not page.is_file():
                        continue
                    info = zipfile.ZipInfo(prefix + name, ZIP_TIME)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    archive.writestr(info, page.read_bytes())
        os.replace(temporary, dest)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return FeedbackZip(dest, tuple(g.student.id for _, g in entries), tuple(skipped))


def _write(path: Path, text: str) -> Path:
    write_atomic(path, text)
    return path


def write_export(to: str, grades: Sequence[FinalGrade], out_dir: Path, *, column: str = "", points_possible: float | None = None,
                 graded_at: datetime | None = None, sources: Mapping[str, str] | None = None) -> list[Path]:
    """Write the files for ``to`` (canvas, moodle or csv) into ``out_dir`` and return their paths.

    canvas: ``canvas.csv`` (needs ``column``, "Title (Canvas id)") and ``canvas-feedback.zip``; moodle:
    ``moodle.csv`` and ``moodle-feedback.zip``; csv: ``grades.csv``. ``points_possible`` defaults to the grades'
    maximum. Students whose feedback page could not be zipped are listed, with why, in
    ``<lms>-feedback-skipped.txt``, also returned, so none is left out unnoticed."""
    if to not in TARGETS:
        raise UsageError(f"an export is one of {', '.join(TARGETS)} (gradescope is build_autograder), not {to!r}")
    maxima = {g.max_score for g in grades}
    if points_possible is None:
        if len(maxima) > 1:
            raise UsageError(f"the grades have different maximum scores ({', '.join(map(str, sorted(maxima)))}): "
                             "give the points possible")
        points_possible = maxima.pop() if maxima else 0.0
    if to == "csv":
        return [_write(out_dir / "grades.csv", plain_csv(grades))]
    if to == "canvas":
        written = [_write(out_dir / "canvas.csv", canvas_csv(grades, column, points_possible))]
    else:
        written = [_write(out_dir / "moodle.csv", moodle_csv(grades, points_possible, graded_at))]
    zipped = feedback_zip(grades, to, out_dir / f"{to}-feedback.zip", sources)
    if zipped.path is not None:
        written.append(zipped.path)
    skipped_file = out_dir / f"{to}-feedback-skipped.txt"
    if zipped.skipped:
        by_id = {g.student.id: g.student for g in grades}
        lines = ["\t".join(clean_line(text, 200) for text in (sid, by_id[sid].name if sid in by_id else "", why))
                 for sid, why in zipped.skipped]
        written.append(_write(skipped_file, "".join(line + "\n" for line in lines)))
    else:
        skipped_file.unlink(missing_ok=True)
    return written
