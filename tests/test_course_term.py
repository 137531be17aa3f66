"""A whole term on a toy course, through the command line: roster import, a Canvas and a Moodle download built here
in their real formats, an extension, a late resubmission, grading, status, a hidden test fixed with regrade showing
the change, export; then a batch killed and resumed, and two graders of one course at once."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

from tests.conftest import run_cli, sandbox_mode, write_notebook

TOML = """title = "Toy course work"
version = "1"
notebook = "toy.ipynb"
isolate = false

[submission]
deadline = "2026-10-01T23:59:00+02:00"
late_penalty = {per = "day", points = 2, cap = 5, grace_minutes = 15}
counts = "best"

[[functions]]
name = "double"
points = 6

[[functions]]
name = "square"
points = 4
"""
PUBLIC = '''
from grader.checks import expect_scalar


def double_test(target):
    expect_scalar("double", target(2.0), 4.0)


def square_test(target):
    expect_scalar("square", target(3.0), 9.0)
'''
HIDDEN = '''
from grader.checks import Case, expect_scalar


def cases(ref, seed):
    return [
        Case("double", "double hidden #1", "x = -1",
             lambda t: expect_scalar("double", t(-1.0), ref.double(-1.0), show_values=False)),
        Case("square", "square hidden #1", "x = 0.5",
             lambda t: expect_scalar("square", t(0.5), ref.square(0.5), show_values=False)),
    ]
'''
#: the hidden tests after a fix in the middle of the term: square is now also checked at x = 10
HIDDEN_FIXED = HIDDEN.replace("    ]\n", '''        Case("square", "square hidden #2", "x = 10",
             lambda t: expect_scalar("square", t(10.0), ref.square(10.0), show_values=False)),
    ]
''')
RIGHT = ("def double(x):\n    return 2 * x", "def square(x):\n    return x * x")
SQUARE_BUG = "def square(x):\n    return x * x if x < 5 else 0.0"  # right where the first tests look
DOUBLE_BUG = "def double(x):\n    return x + 2"  # right at 2 only
ROSTER = """id,name,email,lms_id,section
alice,Alice Archer,alice@example.org,101,A
bob,Bob Baker,bob@example.org,102,A
carol,Carol Cook,carol@example.org,103,B
dave,Dave Dunn,dave@example.org,104,B
erin,Erin Ezra,erin@example.org,105,B
"""
EXTENSIONS = "student,assignment,until\nerin,toy,2026-10-05T23:59:00+02:00\n"


def make_course(root: Path) -> Path:
    source = root / "solutions" / "toy"
    source.mkdir(parents=True)
    (source / "assignment.toml").write_text(TOML)
    (source / "public_tests.py").write_text(PUBLIC)
    (source / "hidden_tests.py").write_text(HIDDEN)
    (root / "solutions" / "course.key").write_text("k" * 40 + "\n")
    write_notebook(source / "toy.ipynb", *RIGHT)
    return root


def notebook_bytes(*cells: str) -> bytes:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"
    return nbformat.writes(notebook).encode()


def write_zip(path: Path, entries: list[tuple[str, bytes, tuple[int, ...]]]) -> Path:
    """A zip as the LMS writes it: each entry with its own time (local time of the course's zone)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data, when in entries:
            archive.writestr(zipfile.ZipInfo(name, when), data)
    return path


def grader(*args: str | Path, course: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=course)


def db_rows(course: Path, query: str) -> list[tuple]:
    with sqlite3.connect(course / "gradebook.sqlite") as db:
        return db.execute(query).fetchall()


@pytest.fixture(scope="module")
def term(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Run the term once; the tests below read what each step printed and left."""
    course = make_course(tmp_path_factory.mktemp("term"))
    (course / "roster.csv").write_text(ROSTER)
    (course / "extensions.csv").write_text(EXTENSIONS)
    steps: dict = {"course": course}
    steps["roster"] = grader("roster", "import", course / "roster.csv", course=course)
    canvas = write_zip(course / "submissions-canvas.zip", [
        ("archeralice_101_9001_toy.ipynb", notebook_bytes(*RIGHT), (2026, 10, 1, 20, 0, 0)),
        ("bakerbob_102_9002_toy.ipynb", notebook_bytes(RIGHT[0], SQUARE_BUG), (2026, 10, 1, 21, 0, 0)),
        # late by the deadline, on time by her extension
        ("ezraerin_LATE_105_9005_toy.ipynb", notebook_bytes(*RIGHT), (2026, 10, 3, 12, 0, 0)),
        ("strangerzed_999_9009_toy.ipynb", notebook_bytes(*RIGHT), (2026, 10, 1, 20, 0, 0)),
        ("bakerbob_102_9002_notes.txt", b"my notes", (2026, 10, 1, 21, 0, 0)),
    ])
    moodle = write_zip(course / "moodle.zip", [
        ("Carol Cook_103_assignsubmission_file_/toy.ipynb", notebook_bytes(DOUBLE_BUG, RIGHT[1]),
         (2026, 10, 1, 22, 30, 0)),
        ("Dave Dunn_104_assignsubmission_file_/toy (1).ipynb", notebook_bytes(*RIGHT), (2026, 10, 1, 22, 0, 0)),
        ("Dave Dunn_104_assignsubmission_file_/answers.ipynb", notebook_bytes(RIGHT[0]), (2026, 10, 1, 22, 0, 0)),
    ])
    steps["collect_canvas"] = grader("collect", "toy", canvas, course=course)
    steps["collect_moodle"] = grader("collect", "toy", moodle, course=course)
    steps["grade"] = grader("grade", "toy", "--sandbox", "none", "--no-annotate", course=course)
    # Carol fixes her notebook a day late (10 h after the deadline, past the 15 minutes of grace).
    late = write_zip(course / "canvas-late.zip", [
        ("cookcarol_LATE_103_9103_toy.ipynb", notebook_bytes(*RIGHT), (2026, 10, 2, 10, 0, 0))])
    steps["collect_late"] = grader("collect", "toy", late, course=course)
    # Canvas says late, the entry's time says on time: kept, counted on time, and pointed out by status
    disputed = write_zip(course / "canvas-disputed.zip", [
        ("archeralice_LATE_101_9011_toy.ipynb", notebook_bytes(*RIGHT, "# again"), (2026, 10, 1, 23, 0, 0))])
    steps["collect_disputed"] = grader("collect", "toy", disputed, course=course)
    steps["collect_again"] = grader("collect", "toy", canvas, course=course)
    steps["grade_late"] = grader("grade", "toy", "--sandbox", "none", "--no-annotate", course=course)
    steps["carol_first_page"] = [(path.read_text(), (path.parent / "feedback.md").read_text())
                                 for path in (course / "feedback" / "toy" / "carol").glob("attempt-1-*/feedback.html")]
    steps["status"] = grader("status", "toy", course=course)
    steps["gradings_before_fix"] = db_rows(course, "SELECT attempt, suite, score FROM gradings ORDER BY id")
    (course / "solutions" / "toy" / "hidden_tests.py").write_text(HIDDEN_FIXED)
    steps["dry_run"] = grader("regrade", "toy", "--dry-run", "--sandbox", "none", "--no-annotate", course=course)
    steps["gradings_after_dry_run"] = db_rows(course, "SELECT attempt, suite, score FROM gradings ORDER BY id")
    steps["regrade"] = grader("regrade", "toy", "--sandbox", "none", "--no-annotate", course=course)
    steps["gradings_after_regrade"] = db_rows(course, "SELECT attempt, suite, score, purpose FROM gradings ORDER BY id")
    steps["status_after"] = grader("status", course=course)
    steps["export_csv"] = grader("export", "toy", "--to", "csv", course=course)
    steps["export_canvas_without_id"] = grader("export", "toy", "--to", "canvas", course=course)
    steps["export_canvas"] = grader("export", "toy", "--to", "canvas", "--canvas-id", "4242", course=course)
    steps["export_gradescope"] = grader("export", "toy", "--to", "gradescope", course=course)
    steps["export_moodle"] = grader("export", "toy", "--to", "moodle", "--out", course / "to-moodle", course=course)
    return steps


def ok(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    return result.stdout


def test_roster_import(term: dict) -> None:
    assert "5 student(s) added" in ok(term["roster"])


def test_a_canvas_download_is_collected_with_what_was_not_taken_listed(term: dict) -> None:
    out = ok(term["collect_canvas"], 1)  # something was not taken: exit 1
    assert "3 new attempt(s)" in out
    assert "unknown student (LMS id '999')" in out and "strangerzed_999_9009_toy.ipynb" in out
    assert "bakerbob_102_9002_notes.txt" in out and "not notebooks" in out


def test_a_moodle_download_is_collected_and_two_notebooks_for_one_student_are_refused(term: dict) -> None:
    out = ok(term["collect_moodle"], 1)
    assert "1 new attempt(s)" in out and "new attempt  carol" in out
    assert "2 different notebooks for 'dave'" in out
    assert "none taken; save the one to grade as dave.ipynb and collect that file (grader collect toy dave.ipynb" in out


def test_collecting_the_same_download_again_adds_nothing(term: dict) -> None:
    out = ok(term["collect_again"], 1)
    assert "0 new attempt(s), 3 already collected" in out


def test_grading_grades_each_collected_attempt_and_then_only_the_new_one(term: dict) -> None:
    assert "4 attempt(s) to grade" in ok(term["grade"])
    out = ok(term["grade_late"])
    assert "2 attempt(s) to grade" in out and "4 already graded" in out
    # in the deadline's zone (the zip's 10:00 in the course's zone), not in UTC as stored
    assert "carol, attempt received 2026-10-02T10:00+02:00: 10/10" in out


def status_rows(text: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in text.splitlines()
            if line.split() and line.split()[0] in ("alice", "bob", "carol", "dave", "erin")}


def test_status_shows_the_late_resubmission_the_extension_and_who_is_missing(term: dict) -> None:
    out = ok(term["status"])
    assert "4 of 5 students submitted, 1 late, 1 missing" in out
    rows = status_rows(out)
    # Carol's resubmission (10/10, one started day late, -2) beats her on-time 4/10
    assert rows["carol"][3:] == ["2", "#2", "late", "1", "d", "8/10", "(-2)"]  # the resubmission counts
    assert rows["erin"][3:7] == ["1", "#1", "on", "time"] and "10/10" in rows["erin"]  # her extension covers it
    assert rows["dave"][3:] == ["0", "missing", "-"]
    assert "missing: dave" in out
    assert rows["alice"][3:] == ["2", "#1", "on", "time", "10/10"]  # best: the earlier of a tie
    assert re.search(r"the LMS marked late, but on time by the received time: alice \(attempt received 20\d\d-", out)


def test_the_feedback_and_summary_of_the_course_are_written(term: dict) -> None:
    course: Path = term["course"]
    summary = (course / "feedback" / "toy" / "summary.html").read_text()
    assert 'id="students"' in summary and "Carol Cook" in summary
    feedback = (course / "feedback" / "toy" / "carol").glob("attempt-*/feedback.html")
    assert {path.parent.name.split("-")[1] for path in feedback} == {"1", "2"}  # both attempts, numbered as hers
    assert 'href="carol/attempt-2-' in summary  # the counting attempt's page is linked
    # the page's numbers are the grades after the late penalty, as in its roster, status and the exports: carol's
    # counting attempt scored 10 but was a day late (8); alice 10, bob 6, erin 10 (raw mean 9, median 10)
    assert re.search(r'carol/attempt-2-\w+</code></a></td>\s*<td class="num" [^>]*data-key="8(\.0)?">8 / 10<', summary)
    assert "<strong>8.5</strong><span>mean score of 10</span>" in summary
    assert "<strong>9</strong><span>median score of 10</span>" in summary


def test_an_earlier_attempts_page_shows_the_history_as_it_is_now(term: dict) -> None:
    """Carol's on-time attempt was graded before her late resubmission existed; its page then said it counted. Once
    the resubmission is graded and counts, the earlier page says so too, and each page says which attempt it is."""
    ((page, text),) = term["carol_first_page"]  # after `grader grade` took in her resubmission (before regrade)
    assert re.search(r'<tr class="this"><td>1 <strong>\(this page\)</strong></td>', page)
    assert re.search(r"<tr><td>2</td>.*?</tr>", page, re.S) and "counts</span>" in re.search(
        r"<tr><td>2</td>.*?</tr>", page, re.S).group(0)
    assert "your grade (attempt 2); this page shows the checks of attempt 1." in page
    assert "- attempt 1 (this one), received" in text and re.search(r"- attempt 2, received .*\*\*counts\*\*", text)
    latest = sorted((term["course"] / "feedback" / "toy" / "carol").glob("attempt-2-*/feedback.html"))
    assert latest and all("your grade (attempt 2); this page shows the checks of attempt 2, the one that counts."
                          in path.read_text() for path in latest)


def test_a_dry_run_regrade_shows_the_change_and_records_nothing(term: dict) -> None:
    out = ok(term["dry_run"])
    assert "bob" in out and "10 → 6" in out and "square hidden #2: absent → wrong" in out
    assert "dry run: nothing recorded" in out
    assert term["gradings_after_dry_run"] == term["gradings_before_fix"]
    assert "wrote" not in out


def test_regrade_keeps_the_old_grades_and_writes_the_changes(term: dict) -> None:
    out = ok(term["regrade"])
    assert "bob              10 → 6" in out
    before, after = term["gradings_before_fix"], term["gradings_after_regrade"]
    assert [row[:3] for row in after[: len(before)]] == before  # nothing overwritten
    new = after[len(before):]
    # under "best" every attempt that may count: alice 2, bob 1, carol 2, erin 1 (a fix can change which is best)
    assert len(new) == 6 and {row[3] for row in new} == {"regrade"}
    (changes,) = (term["course"] / "feedback" / "toy").glob("regrade-*.csv")
    rows = {row["student"]: row for row in csv.DictReader(io.StringIO(changes.read_text()))}
    assert rows["bob"]["old_grade"] == "10.0" and rows["bob"]["new_grade"] == "6.0"
    assert "square hidden #2: absent → wrong" in rows["bob"]["checks_changed"]
    assert rows["alice"]["difference"] == "0.0"
    # carol's counting attempt was late: the grade she gets is announced, with the score before the penalty
    assert "carol            8 → 8 (late: 2 points off 10)\n" in out and "4 student(s) regraded, 4 changed" in out
    assert (rows["carol"]["old_grade"], rows["carol"]["new_grade"], rows["carol"]["late_penalty"]) == ("8.0", "8.0", "2.0")
    assert rows["carol"]["received_at"] == "2026-10-02T10:00+02:00"  # when, in the deadline's zone, not a row id
    after_fix = ok(term["status_after"])
    assert status_rows(after_fix)["bob"][3:] == ["1", "#1", "on", "time", "6/10"]
    assert "every attempt graded with the current tests" in after_fix


def test_export_csv_writes_the_counting_grades(term: dict) -> None:
    out = ok(term["export_csv"])
    assert "grades.csv" in out
    text = (term["course"] / "export" / "toy" / "grades.csv").read_text()
    assert "carol" in text and "dave" in text


# ------------------------------------------------------------------------------------------------------------------
SLOW = "import time\ndef double(x):\n    time.sleep(0.4)\n    return 2 * x"


def small_course(root: Path, students: int) -> Path:
    course = make_course(root)
    (course / "roster.csv").write_text("id,name\n" + "".join(f"s{i},Student {i}\n" for i in range(students)))
    for i in range(students):  # each grading takes about 1.2 s (three calls of the slow double)
        write_notebook(course / "in" / f"s{i}.ipynb", SLOW + f"\n# {i}", RIGHT[1])
    ok(grader("roster", "import", course / "roster.csv", course=course))
    ok(grader("collect", "toy", course / "in", course=course))
    return course


def start_grading(course: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    return subprocess.Popen([sys.executable, "-m", "grader", "grade", "toy", "--sandbox", "none", "--no-annotate"],
                            cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def recorded(course: Path) -> int:
    try:
        return int(db_rows(course, "SELECT COUNT(*) FROM gradings")[0][0])
    except sqlite3.OperationalError:  # created but not migrated yet
        return 0


def test_a_killed_batch_resumes_and_grades_every_attempt_exactly_once(tmp_path: Path) -> None:
    course = small_course(tmp_path, 5)
    process = start_grading(course)
    deadline = time.monotonic() + 120
    while recorded(course) < 1 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the grader and its sandbox workers, as a power cut would
    process.communicate()
    first = recorded(course)
    assert 1 <= first < 5, f"{first} recorded before the kill"
    out = ok(grader("grade", "toy", "--sandbox", "none", "--no-annotate", course=course))
    assert f"{5 - first} attempt(s) to grade" in out and f"{first} already graded" in out
    per_attempt = db_rows(course, "SELECT attempt, COUNT(*) FROM gradings GROUP BY attempt")
    assert len(per_attempt) == 5 and {count for _, count in per_attempt} == {1}
    assert "nothing to grade: all 5 collected attempt(s) are graded" in ok(grader("grade", "toy", "--sandbox", "none",
                                                                                "--no-annotate", course=course))


def test_two_graders_of_one_course_grade_each_attempt_once(tmp_path: Path) -> None:
    course = small_course(tmp_path, 3)
    first = start_grading(course)
    while recorded(course) < 1 and first.poll() is None:  # the first holds the lock
        time.sleep(0.05)
    second = start_grading(course)
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    assert "waiting for the other grader" in outputs[1][1]
    assert "nothing to grade" in outputs[1][0]
    per_attempt = db_rows(course, "SELECT attempt, COUNT(*) FROM gradings GROUP BY attempt")
    assert len(per_attempt) == 3 and {count for _, count in per_attempt} == {1}
    assert db_rows(course, "PRAGMA integrity_check") == [("ok",)]


def test_the_file_list_form_of_grade_still_needs_out(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    path = write_notebook(course / "one.ipynb", *RIGHT)
    result = grader("grade", "toy", path, "--sandbox", "none", course=course)
    assert result.returncode == 2 and "--out DIR is needed" in result.stderr
    result = grader("grade", "toy", "--out", course / "o", "--sandbox", "none", course=course)
    assert result.returncode == 2 and "go with SUBMISSION files" in result.stderr


def test_the_deadline_zone_reads_the_zip_times(term: dict) -> None:
    received = dict(db_rows(term["course"], "SELECT student || ':' || sha256, received_at FROM attempts"))
    alice = next(value for key, value in received.items() if key.startswith("alice:"))
    assert datetime.fromisoformat(alice) == datetime.fromisoformat("2026-10-01T20:00:00+02:00")


def test_export_canvas_names_the_column_and_the_feedback_files_from_the_download(term: dict) -> None:
    assert "--canvas-id" in term["export_canvas_without_id"].stderr
    out = ok(term["export_canvas"])
    assert "no feedback file" not in term["export_canvas"].stderr  # dave has no grade: nothing to warn about
    folder = term["course"] / "export" / "toy"
    assert "canvas.csv" in out and "canvas-feedback.zip" in out
    lines = (folder / "canvas.csv").read_text().splitlines()
    assert lines[0].endswith(",Toy course work (4242)") and lines[1].startswith("    Points Possible")
    rows = {line.split(",")[1]: line for line in lines[2:]}
    assert rows["103"].endswith(",8.00") and rows["102"].endswith(",6.00") and rows["104"].endswith(",")
    with zipfile.ZipFile(folder / "canvas-feedback.zip") as archive:
        names = archive.namelist()
    assert any(name.startswith("carolcook_103_9103_") for name in names)  # her counting (late) attempt's download
    assert any(name.startswith("alicearcher_101_9001_") for name in names)


def test_export_moodle_writes_the_worksheet_and_the_feedback_folders(term: dict) -> None:
    out = ok(term["export_moodle"])
    folder = term["course"] / "to-moodle"
    assert "moodle.csv" in out
    worksheet = (folder / "moodle.csv").read_text(encoding="utf-8-sig")
    assert "Participant 103" in worksheet and "Participant 104" in worksheet
    with zipfile.ZipFile(folder / "moodle-feedback.zip") as archive:
        assert "Carol Cook_103_assignsubmission_file_/feedback.html" in archive.namelist()


def test_export_gradescope_builds_the_autograder_zip(term: dict) -> None:
    ok(term["export_gradescope"])
    with zipfile.ZipFile(term["course"] / "export" / "toy" / "autograder.zip") as archive:
        assert {"setup.sh", "run_autograder"} <= set(archive.namelist())


def test_the_feedback_page_shows_the_attempt_history_and_which_counts(term: dict) -> None:
    folder = term["course"] / "feedback" / "toy" / "carol"
    (graded, regraded) = sorted(folder.glob("attempt-2-*"), key=lambda p: (p / "grade-report.json").stat().st_mtime)
    page = (graded / "feedback.html").read_text()
    assert 'id="attempts"' in page
    rows = page.split('<table class="attempts">')[1].split("</table>")[0].split("<tr")[2:]
    assert "2026-10-01T22:30+02:00" in rows[0] and "on time" in rows[0] and "4 / 10" in rows[0]
    assert "counts" not in rows[0]
    assert "late: −2 points" in rows[1] and "8 / 10" in rows[1] and "counts" in rows[1]
    markdown = (graded / "feedback.md").read_text()
    assert "attempt 2 (this one), received 2026-10-02T10:00+02:00, late (−2 points): 8 / 10, **counts**" in markdown
    assert "8 / 10" in (regraded / "feedback.html").read_text()  # the regraded page has the history too


def test_grading_a_course_with_nothing_collected_says_what_to_do(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    out = ok(grader("grade", "toy", "--sandbox", "none", course=course))
    assert "toy: nothing collected yet: take submissions in with `grader collect toy SOURCE...`" in out
    assert "0 attempt(s)" not in out and "graded now" not in out
    exported = grader("export", "toy", "--to", "csv", course=course)
    ok(exported)
    assert "no student has a grade on toy yet" in exported.stderr and "every grade in the file is empty" in exported.stderr


def test_a_page_without_a_course_has_no_history(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    path = write_notebook(course / "one.ipynb", *RIGHT)
    ok(grader("grade", "toy", path, "--out", course / "o", "--sandbox", "none", "--no-annotate", course=course))
    assert 'id="attempts"' not in (course / "o" / "one" / "feedback.html").read_text()


def test_a_course_moved_elsewhere_keeps_its_files(tmp_path: Path) -> None:
    course = make_course(tmp_path / "here")
    (course / "roster.csv").write_text("id,name\nann,Ann\n")
    write_notebook(course / "in" / "ann.ipynb", *RIGHT)
    ok(grader("roster", "import", course / "roster.csv", course=course))
    ok(grader("collect", "toy", course / "in", course=course))
    out = ok(grader("grade", "toy", "--sandbox", sandbox_mode(), course=course))  # the real sandbox, annotated
    assert "ann, attempt received " in out and ": 10/10" in out
    ((report_dir,),) = db_rows(course, "SELECT report_dir FROM gradings")
    assert report_dir.startswith("feedback/toy/ann/attempt-1-") and (course / report_dir / "feedback.ipynb").is_file()
    moved = course.rename(tmp_path / "there")
    assert db_rows(moved, "SELECT stored FROM attempts")[0][0].startswith("submissions/toy/ann/")
    assert "nothing to grade" in ok(grader("grade", "toy", "--sandbox", "none", course=moved))
    summary = (moved / "feedback" / "toy" / "summary.html").read_text()
    assert 'href="ann/attempt-1-' in summary


def test_a_progress_line_carries_the_first_sentence_of_an_error() -> None:
    from grader.course.course_grade import first_sentence

    error = ("This file could not be read as a notebook: the file is not valid JSON: bad (line 4, column 5). Open "
             "it in Jupyter, save it again.\nMore.")
    assert first_sentence(error) == ("This file could not be read as a notebook: the file is not valid JSON: bad "
                                     "(line 4, column 5)")
    assert first_sentence("Timed out.") == "Timed out" and first_sentence("") == ""


def test_regrade_announces_the_grade_of_the_attempt_that_counts_after_the_fix(tmp_path: Path) -> None:
    """Under "best", a fix that lowers the counting attempt's score can make another attempt the best: regrade grades
    every attempt that may count and announces the grade the student ends with, naming the attempt that counts."""
    course = make_course(tmp_path)
    (course / "roster.csv").write_text("id,name\nann,Ann\n")
    ok(grader("roster", "import", course / "roster.csv", course=course))
    deadline = datetime.fromisoformat("2026-10-01T23:59:00+02:00").timestamp()
    for number, (cells, when) in enumerate([((RIGHT[0], SQUARE_BUG), deadline - 3600),  # on time, wrong at x = 10
                                            (RIGHT, deadline + 3600)], 1):  # right, an hour late: 2 points off
        path = write_notebook(course / f"in{number}" / "ann.ipynb", *cells)
        os.utime(path, (when, when))
        ok(grader("collect", "toy", path, course=course))
    ok(grader("grade", "toy", "--sandbox", "none", "--no-annotate", course=course))
    (course / "solutions" / "toy" / "hidden_tests.py").write_text(HIDDEN_FIXED)
    out = ok(grader("regrade", "toy", "--dry-run", "--sandbox", "none", "--no-annotate", course=course))
    assert "ann              10 → 8 (late: 2 points off 10); attempt 2 counts now, not attempt 1\n" in out
    assert "1 student(s) regraded, 1 changed (dry run: nothing recorded)" in out
    # collected from a folder, ann's attempt has no Canvas download name to match her feedback file by: said aloud
    exported = grader("export", "toy", "--to", "canvas", "--canvas-id", "7", course=course)
    ok(exported)
    assert "1 student(s) with a grade have no feedback file in the zip: canvas-feedback-skipped.txt says why" in (
        exported.stderr)
