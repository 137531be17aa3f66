"""LMS exports: byte for byte against fixtures written by hand from Canvas's and Moodle's formats, and feedback zips
whose names are read back with each LMS's own matching rule."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from grader.course.export import (
    _php_field,
    canvas_column,
    canvas_csv,
    canvas_ids,
    feedback_zip,
    moodle_csv,
    moodle_date,
    plain_csv,
    write_export,
)
from grader.course.records import FinalGrade, Student
from grader.errors import UsageError

FIXTURES = Path(__file__).parent / "fixtures" / "lms"
GRADED_AT = datetime(2026, 12, 1, 20, 30, tzinfo=timezone.utc)
COLUMN = "Convolutions (4242)"


def _grades(folder: Path) -> list[FinalGrade]:
    """The four students of tests/fixtures/lms/README.md, each with a feedback page of their own."""
    def page(name: str) -> Path:
        path = folder / name / "feedback.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<p>feedback of {name}</p>", encoding="utf-8")
        if name == "s2":  # the rendered annotated notebook, which feedback.html links to
            path.with_name("feedback-notebook.html").write_text("<p>notebook of s2</p>", encoding="utf-8")
        return path

    jane = Student("s1", "Doe, Jane", "jane@example.edu", "1001", "Section A", "S001", "jdoe")
    zoe = Student("s2", 'Zoë "Zee" Ünal', "zoe@example.edu", "1002", "Section B", "S002", "zunal")
    formula = Student("s3", '=HYPERLINK("http://x")', "@evil", "1003")
    li = Student("s4", "Li Wei", "li@example.edu", "1004", "Section A", "S004", "lwei")
    return [
        FinalGrade(jane, "conv", 10.0, 8.5, raw_score=10.0, penalty=1.5, late_seconds=90_000, attempts=2,
                   received_at=datetime(2026, 11, 20, 21, 5, tzinfo=timezone.utc), feedback=page("s1")),
        FinalGrade(zoe, "conv", 10.0, 10.0, raw_score=10.0, attempts=1,
                   received_at=datetime(2026, 11, 19, 9, 0, tzinfo=timezone.utc), feedback=page("s2")),
        FinalGrade(formula, "conv", 10.0, None),
        FinalGrade(li, "conv", 10.0, 6.125, raw_score=6.125, attempts=1,
                   received_at=datetime(2026, 11, 18, 12, 0, tzinfo=timezone.utc), feedback=page("s4")),
    ]


@pytest.fixture
def grades(tmp_path: Path) -> list[FinalGrade]:
    return _grades(tmp_path / "reports")


def test_canvas_csv_matches_canvas_export_layout_byte_for_byte(grades: list[FinalGrade]) -> None:
    assert canvas_csv(grades, COLUMN, 10).encode("utf-8") == (FIXTURES / "canvas.csv").read_bytes()


def test_moodle_worksheet_matches_moodle_download_byte_for_byte(grades: list[FinalGrade]) -> None:
    assert moodle_csv(grades, 10, GRADED_AT).encode("utf-8") == (FIXTURES / "moodle.csv").read_bytes()


def test_plain_csv_matches_fixture_byte_for_byte(grades: list[FinalGrade]) -> None:
    assert plain_csv(grades).encode("utf-8") == (FIXTURES / "plain.csv").read_bytes()


def test_write_export_writes_the_same_bytes_it_builds(grades: list[FinalGrade], tmp_path: Path) -> None:
    out = tmp_path / "export"
    assert write_export("csv", grades, out) == [out / "grades.csv"]
    assert (out / "grades.csv").read_bytes() == (FIXTURES / "plain.csv").read_bytes()
    written = write_export("moodle", grades, out, graded_at=GRADED_AT)
    assert written[0] == out / "moodle.csv" and written[0].read_bytes() == (FIXTURES / "moodle.csv").read_bytes()
    written = write_export("canvas", grades, out, column=COLUMN)  # points possible from the grades' maximum
    assert written[0].read_bytes() == (FIXTURES / "canvas.csv").read_bytes()


def test_canvas_import_reads_back_names_ids_and_empty_grades(grades: list[FinalGrade]) -> None:
    rows = list(csv.reader(io.StringIO(canvas_csv(grades, COLUMN, 10))))
    assert rows[1][0].strip() == "Points Possible" and rows[1][5] == "10.00"
    by_id = {row[1]: row for row in rows[2:]}
    assert by_id["1001"][0] == "Doe, Jane" and by_id["1002"][0] == 'Zoë "Zee" Ünal'
    assert by_id["1003"][5] == ""  # no submission: no grade, not 0
    assert by_id["1003"][0].startswith("'")  # no spreadsheet runs it


def test_moodle_worksheet_is_found_by_moodles_importer_columns(grades: list[FinalGrade]) -> None:
    text = moodle_csv(grades, 10, GRADED_AT)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    header = rows[0]
    for needed in ("Identifier", "Grade", "Last modified (grade)", "Feedback comments"):
        assert needed in header
    ids = [row[header.index("Identifier")][len("Participant "):] for row in rows[1:]]
    assert ids == ["1001", "1002", "1003", "1004"]
    assert [row[header.index("Grade")] for row in rows[1:]] == ["8.50", "10.00", "", "6.13"]


def test_bad_inputs_are_refused_with_a_clear_message(grades: list[FinalGrade], tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="Canvas id in parentheses"):
        canvas_csv(grades, "Convolutions", 10)
    nameless = [*grades, FinalGrade(Student("s9", "No Id"), "conv", 10.0, 5.0)]
    with pytest.raises(UsageError, match="No Id"):
        moodle_csv(nameless, 10, GRADED_AT)
    with pytest.raises(UsageError, match="finite"):
        canvas_csv([FinalGrade(Student("s5", "Nan", lms_id="5"), "conv", 10.0, float("nan"))], COLUMN, 10)
    with pytest.raises(UsageError, match="different maximum"):
        write_export("csv", [*grades, FinalGrade(Student("s6", "Other", lms_id="6"), "conv", 12.0, 1.0)], tmp_path)
    with pytest.raises(UsageError, match="an export is one of"):
        write_export("blackboard", grades, tmp_path)
    assert not list(tmp_path.glob("*.csv"))  # nothing half-written for a refused export


def _moodle_participant(path: str) -> str | None:
    """Moodle's importziplib rule: the first path part with at least four '_' fields and a numeric second one."""
    for part in path.split("/"):
        fields = part.split("_", 4)
        if len(fields) >= 4 and fields[1].isdigit() and fields[2] == "assignsubmission":
            return fields[1]
    return None


def test_moodle_feedback_zip_is_matched_to_each_participant(grades: list[FinalGrade], tmp_path: Path) -> None:
    underscored = FinalGrade(Student("s7", "Ann_Marie O'Neil", lms_id="1007"), "conv", 10.0, 9.0,
                             feedback=grades[0].feedback)
    result = feedback_zip([*grades, underscored], "moodle", tmp_path / "fb.zip")
    assert result.path is not None
    with zipfile.ZipFile(result.path) as archive:
        names = archive.namelist()
        matched = {(_moodle_participant(name), name.rsplit("/", 1)[1]): archive.read(name) for name in names}
    assert {who for who, _ in matched} == {"1001", "1002", "1004", "1007"}  # an underscore in a name does not shift the id
    assert matched["1002", "feedback.html"] == b"<p>feedback of s2</p>"
    assert matched["1002", "feedback-notebook.html"] == b"<p>notebook of s2</p>"  # beside the page, as it links to it
    assert len(names) == 5 and all("_assignsubmission_file_/feedback" in name for name in names)
    assert result.skipped == (("s3", "no graded submission"),)


def _canvas_match(name: str) -> tuple[str, str] | None:
    """Canvas's infer_comment_context_from_filename: the first two all-digit '_' parts of the file name."""
    numbers = [part for part in name.split("_") if part.isdigit()]
    return (numbers[0], numbers[1]) if len(numbers) >= 2 else None


def test_canvas_feedback_zip_is_named_after_the_download(grades: list[FinalGrade], tmp_path: Path) -> None:
    sources = {"s1": "doejane_LATE_1001_90001_conv.ipynb", "s2": "unalzoe_1002_90002_my_notebook 2.ipynb",
               "s4": "weili_9999_90004_conv.ipynb"}  # s4's download names another Canvas user
    result = feedback_zip(grades, "canvas", tmp_path / "fb.zip", sources)
    assert result.path is not None
    with zipfile.ZipFile(result.path) as archive:
        found = {(_canvas_match(name), name.rsplit("_", 1)[1]): archive.read(name) for name in archive.namelist()}
    assert found == {(("1001", "90001"), "feedback.html"): b"<p>feedback of s1</p>",
                     (("1002", "90002"), "feedback.html"): b"<p>feedback of s2</p>",
                     (("1002", "90002"), "feedback-notebook.html"): b"<p>notebook of s2</p>"}
    skipped = dict(result.skipped)
    assert set(skipped) == {"s3", "s4"} and "9999" in skipped["s4"]
    assert canvas_ids("2024_smith_12_34_file.ipynb") == ("2024", "12")  # Canvas's own rule, digits-only names too
    # a zip the student handed in: the ids are Canvas's, from its top-level name, never from the names inside
    assert canvas_ids("/dl/Submissions.ZIP:smith_12_34_hw.zip/7_8_hw.ipynb") == ("12", "34")
    assert canvas_ids("/dl/Submissions.zip:smith_12_34_hw.zip/hw.ipynb") == ("12", "34")


def test_a_digit_only_name_cannot_pose_as_the_canvas_user_id(tmp_path: Path) -> None:
    page = tmp_path / "feedback.html"
    page.write_text("x", encoding="utf-8")
    grade = FinalGrade(Student("s8", "42", lms_id="1008"), "conv", 1.0, 1.0, feedback=page)
    result = feedback_zip([grade], "canvas", tmp_path / "fb.zip", {"s8": "x_1008_777_nb.ipynb"})
    assert result.path is not None
    with zipfile.ZipFile(result.path) as archive:
        assert [_canvas_match(n) for n in archive.namelist()] == [("1008", "777")]


def test_skipped_students_are_listed_not_dropped(grades: list[FinalGrade], tmp_path: Path) -> None:
    out = tmp_path / "export"
    written = write_export("canvas", grades, out, column=COLUMN, sources={"s1": "doejane_1001_90001_a.ipynb"})
    assert [p.name for p in written] == ["canvas.csv", "canvas-feedback.zip", "canvas-feedback-skipped.txt"]
    listed = (out / "canvas-feedback-skipped.txt").read_text(encoding="utf-8").splitlines()
    assert [line.split("\t")[0] for line in listed] == ["s2", "s3", "s4"]


def test_pieces_of_the_formats() -> None:
    assert moodle_date(datetime(2026, 1, 5, 0, 7, tzinfo=timezone.utc)) == "Monday, 5 January 2026, 12:07 AM"
    assert moodle_date(None) == "-"
    # PHP's fputcsv: a backslash stops the next quote from being doubled; a space alone forces quotes
    assert _php_field('a\\"b') == '"a\\"b"' and _php_field('a"b') == '"a""b"' and _php_field("a b") == '"a b"'
    assert _php_field("plain") == "plain"
    assert canvas_column(" Week 3: Convolutions ", 17) == "Week 3: Convolutions (17)"
