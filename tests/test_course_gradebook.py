"""The course gradebook: the roster CSV refused with its line, migrations from an older release, a newer one refused,
nothing overwritten, one grading per attempt and suite, and the course lock."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from grader.course import gradebook as module
from grader.course.gradebook import SCHEMA_VERSION, Gradebook, course_lock
from grader.course.records import Student
from grader.course.roster import read_roster
from grader.errors import UsageError
from grader.model import CheckResult, FunctionScore, GradeReport

WHEN = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)

#: The first release's schema, frozen here (not imported) so that an edit of migration 1 in place shows up as a
#: failing test rather than as a course that no longer opens.
RELEASE_1 = (
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
)


def report(score: float, outcome: str = "passed") -> GradeReport:
    return GradeReport("t", "T", "x.ipynb", score, 10.0, functions=(FunctionScore("f", 10, False, score, 1, 1),),
                       checks=(CheckResult("f", "f public", "public", outcome),))


def test_the_released_migration_is_never_edited_in_place() -> None:
    assert [" ".join(s.split()) for s in module.MIGRATIONS[0]] == [" ".join(s.split()) for s in RELEASE_1]


def test_a_gradebook_of_the_first_release_opens_migrated_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "gradebook.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        for statement in RELEASE_1:
            db.execute(statement)
        db.execute("INSERT INTO schema_migrations VALUES (1, '2026-09-01T00:00:00+00:00')")
        db.execute("INSERT INTO students (id, name) VALUES ('alice', 'Alice')")
        db.execute("INSERT INTO attempts VALUES (1, 't', 'alice', 'abc', 'in/alice.ipynb', 'x.ipynb', "
                   "'2026-10-01T10:00:00+00:00', 'file mtime', '2026-10-01T11:00:00+00:00')")
        db.execute("INSERT INTO gradings VALUES (1, 1, 'suite1', '2026-10-01T12:00:00+00:00', 7, 10, '', 'f')")
    db.close()
    with Gradebook(path) as gradebook:
        assert [s.id for s in gradebook.students()] == ["alice"]
        (attempt,) = gradebook.attempts("t")
        assert attempt.lms_late is False and attempt.received_from == "file mtime"
        (grading,) = gradebook.gradings(1)
        assert grading.score == 7 and grading.purpose == "grade"
        assert gradebook.record_grading(1, "suite2", report(9.0), "g") is not None
        versions = [row[0] for row in gradebook.db.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))


def test_a_gradebook_of_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gradebook.sqlite"
    Gradebook(path).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_migrations VALUES (?, 'later')", (SCHEMA_VERSION + 1,))
    db.close()
    with pytest.raises(UsageError, match="newer release"):
        Gradebook(path)


def test_a_file_that_is_no_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "gradebook.sqlite"
    path.write_bytes(b"not sqlite" * 100)
    with pytest.raises(UsageError, match="not a readable gradebook"):
        Gradebook(path)


def test_a_failed_migration_leaves_the_gradebook_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "gradebook.sqlite"
    monkeypatch.setattr(module, "MIGRATIONS", (module.MIGRATIONS[0],))
    monkeypatch.setattr(module, "SCHEMA_VERSION", 1)
    Gradebook(path).close()
    monkeypatch.setattr(module, "MIGRATIONS", (module.MIGRATIONS[0], ("CREATE TABLE extra (x)", "NOT SQL AT ALL")))
    monkeypatch.setattr(module, "SCHEMA_VERSION", 2)
    with pytest.raises(UsageError):
        Gradebook(path)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT MAX(version) FROM schema_migrations").fetchone() == (1,)
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'extra'").fetchone() is None
    db.close()


def test_gradings_are_added_never_replaced_and_once_per_suite(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "gradebook.sqlite") as gradebook:
        gradebook.put_students([Student("alice", "Alice")])
        attempt, new = gradebook.add_attempt("t", "alice", "abc", "in", tmp_path / "x.ipynb", WHEN, "file mtime")
        assert new and gradebook.add_attempt("t", "alice", "abc", "again", tmp_path / "x.ipynb", WHEN, "now") == (attempt, False)
        first = gradebook.record_grading(attempt, "s1", report(10.0), "a")
        assert gradebook.record_grading(attempt, "s1", report(0.0), "b") is None  # a second grader came too late
        second = gradebook.record_grading(attempt, "s2", report(4.0, "wrong"), "c", purpose="regrade")
        assert [g.score for g in gradebook.gradings(attempt)] == [10.0, 4.0]
        assert first is not None and second is not None
        assert gradebook.outcomes(first) == {"f public": "passed"} and gradebook.outcomes(second) == {"f public": "wrong"}
        assert gradebook.pending("t", "s1") == [] and [a.id for a in gradebook.pending("t", "s3")] == [attempt]
        current = gradebook.current_grading(attempt, "s3")
        assert current is not None and current.suite == "s2"  # no grading by s3 yet: the latest


def test_the_lock_refuses_a_second_grader_when_asked_not_to_wait(tmp_path: Path) -> None:
    path = tmp_path / "gradebook.sqlite"
    with course_lock(path):
        with pytest.raises(UsageError, match=r"another grader is grading this course \(\{\"pid\""):
            with course_lock(path, wait=False):
                pass
    with course_lock(path, wait=False):  # released
        pass


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "roster.csv"
    path.write_bytes(data)
    return path


def test_a_roster_is_read_with_optional_columns_and_a_bom(tmp_path: Path) -> None:
    students = read_roster(write(tmp_path, "\ufeffID,Name,Email,LMS_ID,Section,Notes\nal,Al Ñ,a@x,7,B,hi\n".encode()))
    assert students == [Student("al", "Al Ñ", "a@x", "7", "B")]


def test_a_roster_with_a_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"line 4: the id 'al' is already on line 2"):
        read_roster(write(tmp_path, b"id,name\nal,Al\nbo,Bo\nal,Alan\n"))


def test_a_roster_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"line 3: not UTF-8 \(byte 0xe9\)"):
        read_roster(write(tmp_path, "id,name\nal,Al\nre,Ren\xe9e\n".encode("latin-1")))


@pytest.mark.parametrize(("data", "message"), [
    (b"id,email\nal,a@x\n", "missing: name"),
    (b"id,name\nal,\n", "line 2: every student needs an id and a name"),
    (b"id,name\n../x,Evil\n", "cannot name a folder"),
    (b"id,name,lms_id\nal,Al,7\nbo,Bo,7\n", "the same lms_id '7'"),
    (b"id,name\n", "lists no students"),
])
def test_a_bad_roster_is_refused_whole(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        read_roster(write(tmp_path, data))


def test_a_refused_roster_imports_nothing(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    (tmp_path / "solutions").mkdir()
    result = run_cli("roster", "import", write(tmp_path, b"id,name\nal,Al\nal,Al again\n"), "--course", tmp_path)
    assert result.returncode == 2 and "already on line 2" in result.stderr
    with Gradebook(tmp_path / "gradebook.sqlite") as gradebook:
        assert gradebook.students() == []


def test_one_students_standing_reads_only_that_students_rows(tmp_path: Path, assignment) -> None:
    """Each grading of a course writes the student's history: reading the whole roster and every attempt there made
    a batch quadratic in the class (about 100 s more at 10,000 attempts). A row of another student that cannot even
    be parsed shows what is read."""
    from grader.course.course_grade import standings

    with Gradebook(tmp_path / "gradebook.sqlite") as gradebook:
        gradebook.put_students([Student("alice", "Alice"), Student("bob", "Bob")])
        mine, _ = gradebook.add_attempt(assignment.name, "alice", "a1", "in", tmp_path / "a.ipynb", WHEN, "file mtime")
        gradebook.add_attempt(assignment.name, "bob", "b1", "in", tmp_path / "b.ipynb", WHEN, "file mtime")
        gradebook.db.execute("UPDATE attempts SET received_at = 'not a time' WHERE student = 'bob'")
        with pytest.raises(ValueError):
            standings(gradebook, assignment, "s1", {})
        (alice,) = standings(gradebook, assignment, "s1", {}, {mine: (7.0, "folder")}, only="alice")
        assert alice.student.id == "alice" and alice.grade.raw_score == 7.0 and alice.grade.attempts == 1


def grader_failed(assignment: Any) -> GradeReport:
    """The report of a grading whose one check the grader (not the student) failed."""
    return GradeReport(assignment.name, assignment.title, "a.ipynb", 0.0, assignment.max_score,
                       (FunctionScore("zero_pad", 10.0, False, 0.0, 1, 0),),
                       (CheckResult("zero_pad", "zero_pad_test", "public", "grader-error", "the test raised"),))


def test_a_grading_the_grader_failed_is_not_recorded_and_stays_pending(tmp_path: Path, assignment,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A grader error (a broken test, reference or machine) is not the student's grade: recorded, its 0 would count in
    status and exports, and regrade would never see it again while the tests stay the same."""
    from grader.course import course_grade
    from grader.course.course_grade import grade_course, suite_version

    broken = grader_failed(assignment)
    monkeypatch.setattr(course_grade, "grade_attempts", lambda assignment, rows, *a, **k: [(row, broken) for row in rows])
    with Gradebook(tmp_path / "gradebook.sqlite") as gradebook:
        gradebook.put_students([Student("alice", "Alice")])
        gradebook.add_attempt(assignment.name, "alice", "a1", "in", tmp_path / "a.ipynb", WHEN, "file mtime")
        run = grade_course(gradebook, tmp_path, assignment, "none", annotate=False, log=lambda line: None)
        assert [report.grader_errors for _, report in run.graded] == [1]
        assert [row.student for row in gradebook.pending(assignment.name, suite_version(assignment))] == ["alice"]


def test_a_regrade_the_grader_failed_is_not_recorded_and_the_old_grade_stands(tmp_path: Path, assignment,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """As for a first grading: a regrade that hit a grader error would otherwise record a 0 under the new tests,
    show `10 → 0`, and never be tried again."""
    from grader.course import regrade as module_regrade

    good = GradeReport(assignment.name, assignment.title, "a.ipynb", 10.0, assignment.max_score,
                       (FunctionScore("zero_pad", 10.0, False, 10.0, 1, 1),),
                       (CheckResult("zero_pad", "zero_pad_test", "public", "passed"),))
    broken = grader_failed(assignment)
    monkeypatch.setattr(module_regrade, "grade_attempts", lambda assignment, rows, *a, **k: [(row, broken) for row in rows])
    with Gradebook(tmp_path / "gradebook.sqlite") as gradebook:
        gradebook.put_students([Student("alice", "Alice")])
        attempt, _ = gradebook.add_attempt(assignment.name, "alice", "a1", "in", tmp_path / "a.ipynb", WHEN, "file mtime")
        gradebook.record_grading(attempt, "older tests", good, tmp_path / "old")
        run = module_regrade.regrade(gradebook, tmp_path, assignment, "none", annotate=False)
        assert (run.changes, run.broken) == ([], ["alice"])
        assert gradebook.db.execute("SELECT suite, score FROM gradings").fetchall() == [("older tests", 10.0)]
