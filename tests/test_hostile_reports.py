"""Hostile strings and shapes aimed at the reports, through the real CLI: one batch where every submission gets a
results file that parses and says what happened, and the batch's own files (summary, gradebook, JUnit) are written
and well-formed whatever the students raised, printed, returned or named their files."""

from __future__ import annotations

import csv
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import mistune
import pytest

from tests.conftest import run_cli, sandbox_mode, write_notebook

PAYLOAD = "```\n<script>alert(1)</script>\n```"
FORMULA = '=HYPERLINK("http:evil.example","click")'

# key → (file name as bytes, zero_pad's source or "" for the reference one)
SUBMISSIONS: dict[str, tuple[bytes, str]] = {
    "surrogate": (b"surrogate.ipynb", "def zero_pad(X, pad):\n    raise ValueError('\\ud800')\n"),
    "control": (b"control.ipynb", "def zero_pad(X, pad):\n    raise ValueError('\\x00\\x1b[31m\\x07')\n"),
    "huge_message": (b"huge_message.ipynb", "def zero_pad(X, pad):\n    raise ValueError('x' * 4_000_000)\n"),
    "non_utf8": (b"non_utf8_caf\xe9.ipynb", ""),
    "newline": (b"new\nline.ipynb", ""),
    # under the wire's 64 MB cap, so it reaches the check and the picture code
    "huge_array": (b"huge_array.ipynb", "import numpy as np\ndef zero_pad(X, pad):\n    return np.zeros((1, 2800, 2800, 1))\n"),
    # over it: refused inside the sandbox, before the grader reads a byte of it
    "too_large": (b"too_large.ipynb", "import numpy as np\ndef zero_pad(X, pad):\n    return np.zeros((1, 5792, 5792, 1))\n"),
    "markdown": (b"markdown.ipynb", f"def zero_pad(X, pad):\n    raise ValueError({PAYLOAD!r})\n"),
    "formula": (FORMULA.encode() + b".ipynb", f"def zero_pad(X, pad):\n    raise ValueError({FORMULA!r})\n"),
    "correct": (b"correct.ipynb", ""),
    # a right-to-left override shows "mallory\u202eecila" as "malloryalice"; a zero-width space makes a second "alice"
    "bidi": ("mallory\u202eecila\u200b.ipynb".encode(), "def zero_pad(X, pad):\n    raise ValueError('\\u202eelbisivni\\u200b')\n"),
}
RAISES = ("surrogate", "control", "huge_message", "markdown", "formula")


def folder_key(folder: str) -> str:
    """Which submission an output folder belongs to, from the ASCII part of its name."""
    for key, (file_name, _) in SUBMISSIONS.items():
        ascii_part = re.sub(rb"[^A-Za-z_]", b"", file_name.split(b"\xe9")[0].split(b"\n")[0].removesuffix(b".ipynb"))
        if ascii_part.decode() and re.sub(r"[^A-Za-z_]", "", folder).startswith(ascii_part.decode()):
            return key
    raise AssertionError(f"unexpected output folder {folder!r}")


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory, solution_cells: dict[str, str]) -> dict:
    folder = tmp_path_factory.mktemp("hostile_reports")
    paths = []
    for file_name, source in SUBMISSIONS.values():
        cells = ["import numpy as np", *(source if f == "zero_pad" and source else code for f, code in solution_cells.items())]
        path = Path(os.fsdecode(os.fsencode(folder) + b"/" + file_name))
        write_notebook(path, *cells)
        paths.append(path)
    out = folder / "out"
    result = run_cli("grade", "cnn_step_by_step", *paths, "--out", out, "--jobs", "2", "--sandbox", sandbox_mode(),
                     "--junit", out / "junit.xml")
    assert result.returncode == 0, result.stderr[-3000:]
    folders = {folder_key(p.name): p for p in out.iterdir() if p.is_dir()}
    return {"out": out, "folders": folders, "stdout": result.stdout}


def results(batch: dict, key: str) -> dict:
    return json.loads((batch["folders"][key] / "results.json").read_bytes().decode("utf-8"))


def zero_pad_tests(data: dict) -> list[dict]:
    return [t for t in data["tests"] if t["extra_data"]["function"] == "zero_pad"]


def test_every_submission_has_a_folder_and_the_batch_files_exist(batch: dict) -> None:
    assert sorted(batch["folders"]) == sorted(SUBMISSIONS)
    for name in ("summary.html", "grades.csv", "grades.sqlite", "junit.xml"):
        assert (batch["out"] / name).stat().st_size > 0, name


def test_correct_notebooks_score_full_marks_whatever_their_file_name(batch: dict) -> None:
    for key in ("correct", "non_utf8", "newline"):
        assert results(batch, key)["score"] == 100, key


def test_each_results_file_parses_is_bounded_and_says_what_happened(batch: dict) -> None:
    for key in SUBMISSIONS:
        path = batch["folders"][key] / "results.json"
        assert path.stat().st_size < 200_000, key
        data = results(batch, key)
        assert data["tests"], key
        for test in data["tests"]:
            assert not re.search("[\x00-\x08\x0b-\x1f\ud800-\udfff]", test["output"]), key
    for key in RAISES:
        outputs = [t["output"] for t in zero_pad_tests(results(batch, key))]
        assert {t["extra_data"]["outcome"] for t in zero_pad_tests(results(batch, key))} == {"error"}, key
        assert all("ValueError" in output for output in outputs), key
    huge = zero_pad_tests(results(batch, "huge_array"))
    assert any(t["extra_data"]["failure"] == "shape" and "shape" in t["output"] for t in huge)
    too_large = zero_pad_tests(results(batch, "too_large"))
    assert {t["extra_data"]["failure"] for t in too_large} == {"type"}
    assert all("too large to be checked" in t["output"] for t in too_large)


def test_no_temporary_file_is_left(batch: dict) -> None:
    assert [p for p in batch["out"].rglob(".*")] == []


def test_folder_names_and_log_lines_are_one_clean_line(batch: dict) -> None:
    names = [p.name for p in batch["folders"].values()]
    assert all("\n" not in n and n.isprintable() for n in names)
    assert len(set(names)) == len(names)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f]", batch["stdout"])
    assert "new\nline" not in batch["stdout"]


def test_no_invisible_character_reorders_or_hides_a_name_or_message(batch: dict) -> None:
    """Bidirectional overrides and zero-width characters from a file name or a message reach no report."""
    invisible = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
    texts = [batch["stdout"], *(batch["out"] / name for name in ("summary.html", "grades.csv", "junit.xml"))]
    texts += [batch["folders"]["bidi"] / name for name in ("results.json", "feedback.html", "feedback.md")]
    for text in texts:
        content = text.read_text(encoding="utf-8") if isinstance(text, Path) else text
        assert not invisible.search(content), (text, invisible.findall(content))
    assert not invisible.search(batch["folders"]["bidi"].name)


def test_junit_is_valid_xml_with_a_suite_per_submission(batch: dict) -> None:
    root = ET.parse(batch["out"] / "junit.xml").getroot()
    assert len(root.findall("testsuite")) == len(SUBMISSIONS)
    assert (batch["out"] / "junit.xml").stat().st_size < 2_000_000


def test_grades_csv_runs_no_formula(batch: dict) -> None:
    rows = list(csv.reader((batch["out"] / "grades.csv").read_text(encoding="utf-8").splitlines()))
    assert len(rows) == 1 + len(SUBMISSIONS)
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
    assert any(c.startswith("'=HYPERLINK") for c in cells)
    assert {row[2] for row in rows[1:]} <= {"100", "100.0", "90", "90.0"}  # scores stay plain numbers


def test_an_array_far_larger_than_expected_gets_no_picture(batch: dict) -> None:
    html = (batch["folders"]["huge_array"] / "feedback.html").read_text(encoding="utf-8")
    assert "No picture: your array, of shape (1, 2800, 2800, 1), is far larger" in html  # a placeholder says why
    assert "has shape (1, 2800, 2800, 1), expected (4, 9, 9, 2)" in html


def fences(markdown: str) -> tuple[list[str], str]:
    """The fenced code blocks of CommonMark text (backtick fences only) and the text outside them."""
    inside, outside, current, opener = [], [], [], ""
    for line in markdown.split("\n"):
        if opener:
            if re.fullmatch(rf"{opener}`*\s*", line):
                inside.append("\n".join(current))
                opener, current = "", []
            else:
                current.append(line)
        elif match := re.match(r"(`{3,})[^`]*$", line):
            opener = match.group(1)
        else:
            outside.append(line)
    assert not opener, "a fence was left open"
    return inside, "\n".join(outside)


def test_markdown_payload_stays_inside_its_fence(batch: dict) -> None:
    markdown = (batch["folders"]["markdown"] / "feedback.md").read_text(encoding="utf-8")
    inside, outside = fences(markdown)
    assert any("<script>alert(1)</script>" in block and "```" in block for block in inside)
    assert "<script" not in outside
    assert "<script" not in mistune.html(markdown)


def test_feedback_pages_exist_and_carry_no_control_characters(batch: dict) -> None:
    for key, folder in batch["folders"].items():
        for name in ("feedback.html", "feedback.md"):
            text = (folder / name).read_bytes().decode("utf-8")
            assert not re.search("[\x00-\x08\x0b-\x1f]", text), (key, name)
