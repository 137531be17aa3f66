"""feedback.ipynb and feedback-notebook.html: the feedback in the student's own notebook, where it belongs, inert."""

from __future__ import annotations

import base64
import html
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output, new_raw_cell

from grader.model import CheckResult, FunctionScore, GradeReport, MistakeMatch
from grader.notebooks import read_notebook
from grader.reporting import annotate
from grader.reporting.annotate import FEEDBACK_KEY, find_places, inline, is_feedback, render_page, write_annotated_bounded
from tests.conftest import ROOT, run_cli, sandbox_mode, write_notebook

SVG = base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>').decode()
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
#: What student text tries when it lands in Markdown that Jupyter or nbconvert renders.
HOSTILE = ("<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\"> $\\href{javascript:alert(1)}{x}$ "
           "[click](javascript:alert(1)) | cell | `code` **bold** # heading\n```\nfence\n```\n<iframe src=http://127.0.0.1:9/>")
SUBMITTED = [
    new_markdown_cell("# My notebook\n\n<script>document.title='pwned'</script><img src=x onerror=alert(1)>"),
    new_code_cell("def zero_pad(X, pad):\n    return X\n"),  # 2: redefined below, so not the one graded
    new_code_cell("x = zero_pad(1, 2)"),
    new_code_cell("def zero_pad(X, pad):\n    return X + pad\n"),  # 4: the graded definition
    new_code_cell("def conv_forward(A, W):\n    return A +\n"),  # 5: cannot be parsed
    new_raw_cell("raw text"),
    new_code_cell("def pool_forward(A):\n    return A\n\ndef helper():\n    return 1\n"),  # 7
]


def report(**changes: Any) -> GradeReport:
    functions = (FunctionScore("zero_pad", 10, False, 0, 2, 1), FunctionScore("conv_forward", 40, False, 0, 1, 0),
                 FunctionScore("pool_forward", 40, False, 40, 1, 1), FunctionScore("pool_backward", 5, True, 0, 1, 0))
    checks = (CheckResult("zero_pad", "zero_pad_test", "public", "wrong", HOSTILE, "values", params="pad = 2",
                          output=HOSTILE, called=f"zero_pad({HOSTILE})", image=SVG, image_alt=f"alt {HOSTILE}"),
              CheckResult("zero_pad", "zero_pad hidden #1", "hidden", "passed"),
              CheckResult("conv_forward", "conv_forward_test", "public", "missing", "conv_forward is in a cell that could not be read"),
              CheckResult("pool_forward", "pool_forward_test", "public", "passed"),
              CheckResult("pool_backward", "pool_backward_test", "public", "missing", "pool_backward is not defined"))
    base = GradeReport("cnn_step_by_step", "CNN <b>step</b>", "s.ipynb", 40, 100, functions, checks,
                       notes=(f"note {HOSTILE}",),
                       mistakes=(MistakeMatch("zero_pad", "m", f"title {HOSTILE}", f"hint {HOSTILE}", "zero_pad_test"),))
    return GradeReport(**{**base.__dict__, **changes})


def submitted(*cells: Any) -> nbformat.NotebookNode:
    return nbformat.from_dict({"nbformat": 4, "nbformat_minor": 5, "cells": list(cells or SUBMITTED),
                               "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}}})


def annotated(notebook: nbformat.NotebookNode | None = None, **changes: Any) -> nbformat.NotebookNode:
    notebook = notebook or submitted()
    return annotate.annotate(notebook, report(**changes), find_places(notebook))


def kinds(notebook: nbformat.NotebookNode) -> list[str]:
    """One word per cell: the student's cell type, or the feedback's kind and function."""
    marks = [cell.metadata.get(FEEDBACK_KEY) for cell in notebook.cells]
    return [":".join(filter(None, (mark["kind"], mark.get("function")))) if mark else cell.cell_type
            for cell, mark in zip(notebook.cells, marks)]


def test_feedback_follows_the_cell_whose_definition_was_graded() -> None:
    assert kinds(annotated()) == [
        "summary", "markdown", "code", "code", "code", "function:zero_pad",  # after cell 4, the last zero_pad
        "code", "skipped", "function:conv_forward",  # after the cell that could not be read, which defines it
        "raw", "code", "function:pool_forward", "function:pool_backward"]  # defined nowhere: at the end


def test_the_students_cells_are_kept_in_order_and_unchanged() -> None:
    ours = [cell for cell in annotated().cells if not is_feedback(cell)]
    assert [(c.cell_type, c.source) for c in ours] == [(c["cell_type"], c["source"]) for c in SUBMITTED]


def test_the_first_cell_has_the_total_the_scoring_rule_and_every_function() -> None:
    first = annotated().cells[0].source
    assert "**Total: 40 / 100** (40%)" in first and "Scoring" in first
    for name in ("zero&#95;pad", "conv&#95;forward", "pool&#95;forward", "pool&#95;backward (optional)"):
        assert f"| {name}" in first
    assert "[feedback page](feedback.html)" in first


def test_a_function_cell_has_its_failure_hint_call_output_and_picture() -> None:
    cell = next(c for c in annotated().cells if c.metadata.get(FEEDBACK_KEY, {}).get("function") == "zero_pad")
    assert "0 / 10 points" in cell.source and "1 of 2 checks passed" in cell.source
    assert "known mistake: title" in cell.source and "Your function printed" in cell.source
    assert "](attachment:zero_pad-1.svg)" in cell.source and "![alt &#60;script&#62;" in cell.source
    assert cell.attachments == {"zero_pad-1.svg": {"image/svg+xml": SVG}}
    assert "Passed: zero&#95;pad hidden &#35;1" in cell.source


class Tags(HTMLParser):
    """Every element and attribute of a page, and whether a <style> came outside <head>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_head = self.in_head or tag == "head"
        self.in_head = self.in_head and tag != "body"
        self.tags.append((tag if self.in_head or tag != "style" else "style-in-body", dict(attrs)))


def page_tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


def test_hostile_text_is_inert_in_the_page_and_shown_as_text() -> None:
    page = render_page(annotated(), "Feedback")
    tags = page_tags(page)
    allowed = annotate.SAFE_TAGS | {"html", "head", "meta", "title", "style", "body", "main", "input", "label"}
    assert {tag for tag, _ in tags} - allowed == set()
    assert [(tag, name) for tag, attrs in tags for name in attrs if name.startswith("on")] == []
    assert [attrs.get("src", "")[:26] for tag, attrs in tags if tag == "img"] == ["", "data:image/svg+xml;base64,"]
    assert [attrs for tag, attrs in tags if tag == "a" and "javascript" in (attrs.get("href") or "")] == []
    metas = [attrs for tag, attrs in tags if tag == "meta"]
    policy = next(attrs["content"] for attrs in metas if attrs.get("http-equiv") == "Content-Security-Policy") or ""
    assert "default-src 'none'" in policy and "script-src" not in policy and "img-src data:;" in policy
    assert not any(attrs.get("http-equiv") == "refresh" for attrs in metas)
    text = html.unescape(page)
    assert "<script>document.title='pwned'</script>" in text  # shown to the student, as text
    assert text.count("$\\href{javascript:alert(1)}{x}$") >= 3  # message, title and hint, never math


def test_inserted_markdown_has_no_raw_html_math_or_markup_outside_fenced_blocks() -> None:
    for cell in annotated().cells:
        if is_feedback(cell):
            prose = re.sub(r"(`{3,})\n.*?\n\1(\n|$)", "", cell.source, flags=re.S)
            assert not set(prose) & set("<>$\\`"), prose


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF, blacklist_categories=("Cc", "Cs", "Cf")),
               max_size=80))  # Cf: invisible format characters, replaced by grader/text.py
def test_inline_text_renders_as_exactly_that_text(text: str) -> None:
    source = inline(text)
    assert not set(source) & set("<>`$\\*_[]|!(){}~+-=")
    rendered = markdown2html_mistune(f"Said: {source}")
    assert html.unescape(rendered) == f"<p>Said: {' '.join(text.split())}</p>\n".replace("Said: </p>", "Said:</p>")


def test_rich_outputs_become_a_line_of_text_and_pictures_are_checked() -> None:
    hostile_html = {"text/html": "<script>document.title='pwned'</script>", "application/javascript": "alert(1)",
                    "image/svg+xml": "<svg onload=alert(1)/>", "text/markdown": "<img src=x onerror=alert(1)>",
                    "application/vnd.jupyter.widget-view+json": {"model_id": "x"}}
    outputs = [new_output("display_data", data=hostile_html),
               new_output("execute_result", data={"text/plain": "42", "text/html": "<b>42</b>"}, execution_count=3),
               new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
               new_output("display_data", data={"image/png": "\"><script>alert(1)</script>"}),
               new_output("stream", name="stdout", text="\x1b[31mred\x1b[0m <script>x</script>\n"),
               new_output("error", ename="ValueError", evalue="bad", traceback=["\x1b[0;31mValueError\x1b[0m: bad"]),
               {"output_type": "unknown", "data": {"text/html": "<script>"}}]
    cell = {**new_code_cell("print(1)"), "outputs": outputs, "metadata": {"tags": ["t"], "jupyter": {"source_hidden": True}}}
    notebook = submitted(cell)
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    result = annotated(notebook)
    ours = next(c for c in result.cells if not is_feedback(c))
    mimes = {mime for output in ours.outputs for mime in output.get("data", {})}
    assert mimes == {"text/plain", "image/png"}
    assert ours.outputs[0].data["text/plain"].startswith("[application/javascript, application/vnd.jupyter.widget-view+json, "
                                                         "image/svg+xml, text/html, text/markdown output not shown")
    assert ours.outputs[1].data["text/plain"].startswith("42\n[text/html output not shown")
    assert ours.outputs[2].data == {"image/png": PNG, "text/plain": "<Figure>"}
    assert "image/png" not in ours.outputs[3].data
    assert ours.outputs[4].text == "red <script>x</script>\n" and ours.outputs[5].traceback == ["ValueError: bad"]
    assert ours.outputs[6] == new_output("stream", name="stdout", text=ours.outputs[6].text) and "unknown" in ours.outputs[6].text
    assert ours.metadata == {"tags": ["t"]} and result.metadata == {"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    page = html.unescape(render_page(result, "Feedback"))
    assert f"data:image/png;base64,{PNG}" in page and "red <script>x</script>" in page  # kept outputs are shown
    assert "[application/javascript, application/vnd.jupyter.widget-view+json" in page


def test_the_annotated_notebook_is_valid_whatever_the_submission_bends() -> None:
    old = {"nbformat": 4, "nbformat_minor": 2, "metadata": {"kernelspec": "not a dict", "title": 3},
           "cells": [{"cell_type": "code", "source": "def zero_pad(X, pad):\n    return X", "metadata": {"collapsed": "no"},
                      "outputs": [{"output_type": "stream", "name": "weird", "text": ["a", "b"]}], "execution_count": "7"},
                     {"cell_type": "markdown", "source": "![p](attachment:p.png)", "metadata": [],
                      "attachments": {"p.png": {"image/png": PNG}, "q.svg": {"image/svg+xml": "<svg/>"}}, "id": "same"},
                     {"cell_type": "heading", "source": "old", "metadata": {}, "id": "same"}]}
    notebook = nbformat.from_dict(old)
    result = annotated(notebook)
    nbformat.validate(result)
    assert len({cell.id for cell in result.cells}) == len(result.cells)
    assert result.cells[1].outputs[0].text == "ab" and result.cells[1].execution_count is None
    assert result.cells[3].attachments == {"p.png": {"image/png": PNG}}
    assert result.cells[4].cell_type == "raw"


def test_annotating_an_annotated_notebook_again_gives_the_same_structure(tmp_path: Path) -> None:
    once = annotated()
    path = tmp_path / "again.ipynb"
    path.write_text(nbformat.writes(once))
    again = read_notebook(path)
    twice = annotate.annotate(again, report(), find_places(again))
    assert kinds(twice) == kinds(once)
    assert [c.source for c in twice.cells if not is_feedback(c)] == [c.source for c in once.cells if not is_feedback(c)]


def test_a_code_cell_dressed_as_feedback_is_still_shown_as_the_students_code() -> None:
    """Earlier feedback is dropped on a second annotation; a graded code cell carrying the same mark must not be."""
    disguised = new_code_cell("def zero_pad(X, pad):\n    return X + pad  # hidden?\n")
    disguised.metadata[FEEDBACK_KEY] = {"kind": "summary"}
    result = annotated(submitted(disguised))
    assert "code" in kinds(result) and kinds(result)[kinds(result).index("code") + 1] == "function:zero_pad"
    assert "hidden?" in html.unescape(render_page(result, "Feedback"))


def test_an_unreadable_notebook_gets_no_annotated_views_and_stale_ones_go(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    for name in (annotate.NOTEBOOK_FILE, annotate.PAGE_FILE, f".{annotate.PAGE_FILE}.tmp123"):
        (folder / name).write_text("stale")
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [')
    assert write_annotated_bounded(report(), broken, folder) == (False, "")
    assert list(folder.iterdir()) == []
    link = tmp_path / "link.ipynb"
    link.symlink_to(write_notebook(tmp_path / "real.ipynb", "def zero_pad(X, pad):\n    return X"))
    assert write_annotated_bounded(report(), link, folder) == (False, "")  # the safe reader never follows a link
    assert list(folder.iterdir()) == []


def test_a_notebook_that_takes_too_long_leaves_nothing_behind(tmp_path: Path) -> None:
    cells = [f"def f{i}(x):\n    return x\n" for i in range(3000)]
    path = write_notebook(tmp_path / "long.ipynb", *cells, markdown=("# big\n" + "*a* " * 20_000,))
    folder = tmp_path / "out"
    written, problem = write_annotated_bounded(report(), path, folder, seconds=0.05)
    assert not written and "took longer than 0.05 s" in problem
    assert not folder.exists() or list(folder.iterdir()) == []


def test_written_views_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "s.ipynb"
    path.write_text(nbformat.writes(submitted()))
    assert write_annotated_bounded(report(), path, tmp_path / "out") == (True, "")
    notebook = read_notebook(tmp_path / "out" / annotate.NOTEBOOK_FILE)
    nbformat.validate(notebook)
    assert kinds(notebook) == kinds(annotated())
    assert "<script" not in (tmp_path / "out" / annotate.PAGE_FILE).read_text().split("</head>")[1].replace("&lt;script", "")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("annotated") / "out"
    submissions = ROOT / "examples" / "submissions"
    run_cli("grade", "cnn_step_by_step", *(submissions / f"{name}.ipynb" for name in ("bob_partly_right", "carol_broken",
                                                                                          "dave_corrupted")),
            "--out", out, "--sandbox", sandbox_mode(), "--annotate", check=True)
    return out


def test_cli_writes_annotated_views_next_to_the_feedback_page(graded: Path) -> None:
    bob = read_notebook(graded / "bob_partly_right" / annotate.NOTEBOOK_FILE)
    results = json.loads((graded / "bob_partly_right" / "results.json").read_text())
    assert f"**Total: {results['score']:g} / 100**" in bob.cells[0].source
    functions = [c.metadata[FEEDBACK_KEY].get("function") for c in bob.cells if is_feedback(c)]
    assert functions[0] is None and sorted(functions[1:]) == sorted(f["name"] for f in _functions(graded, "bob_partly_right"))
    graded_twice = next(i for i, c in enumerate(bob.cells) if c.metadata.get(FEEDBACK_KEY, {}).get("function") == "conv_single_step")
    assert bob.cells[graded_twice - 1].source.startswith("def conv_single_step(a_slice_prev, W, b):\n    # second try")
    page = (graded / "bob_partly_right" / "feedback.html").read_text()
    assert 'href="feedback-notebook.html"' in page and 'href="feedback.ipynb"' in page
    assert 'href="feedback.html"' in (graded / "bob_partly_right" / annotate.PAGE_FILE).read_text()


def _functions(graded: Path, name: str) -> list[dict[str, Any]]:
    rows = json.loads((graded / name / "results.json").read_text())["tests"]
    return [{"name": n} for n in dict.fromkeys(row["extra_data"]["function"] for row in rows)]


def test_cli_marks_the_cell_that_could_not_be_read_where_it_is(graded: Path) -> None:
    carol = read_notebook(graded / "carol_broken" / annotate.NOTEBOOK_FILE)
    marks = [i for i, c in enumerate(carol.cells) if c.metadata.get(FEEDBACK_KEY, {}).get("kind") == "skipped"]
    assert marks, "carol's syntax error is not marked"
    for index in marks:
        assert carol.cells[index - 1].cell_type == "code" and "not valid Python" in carol.cells[index].source


def test_cli_writes_no_annotated_view_of_an_unreadable_notebook_and_no_link(graded: Path) -> None:
    folder = graded / "dave_corrupted"
    assert not (folder / annotate.NOTEBOOK_FILE).exists() and not (folder / annotate.PAGE_FILE).exists()
    assert "feedback-notebook.html" not in (folder / "feedback.html").read_text()


def test_cli_no_annotate_removes_the_views_and_the_links(graded: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    submission = ROOT / "examples" / "submissions" / "bob_partly_right.ipynb"
    for switch in ("--annotate", "--no-annotate"):
        run_cli("grade", "cnn_step_by_step", submission, "--out", out, "--sandbox", sandbox_mode(), switch, check=True)
    assert sorted(p.name for p in (out / "bob_partly_right").iterdir()) == ["feedback.html", "feedback.md", "results.json"]
    assert "feedback-notebook.html" not in (out / "bob_partly_right" / "feedback.html").read_text()


def test_a_renderer_that_cannot_start_costs_the_views_not_the_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(release: Path | None = None) -> None:
        raise ValueError("No template sub-directory with name 'lab' found")

    monkeypatch.setattr(annotate, "warm_up", broken)
    path = write_notebook(tmp_path / "s.ipynb", "def zero_pad(X, pad):\n    return X")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / annotate.NOTEBOOK_FILE).write_text("stale")
    written, problem = write_annotated_bounded(report(), path, tmp_path / "out")
    assert not written and "nbconvert cannot render here (ValueError: No template" in problem
    assert list((tmp_path / "out").iterdir()) == []
    annotate.annotate_ahead(None)  # the child forked ahead meets the same failure, and says so the same way
    (tmp_path / "out" / annotate.NOTEBOOK_FILE).write_text("stale")
    assert write_annotated_bounded(report(), path, tmp_path / "out") == (written, problem)
    assert list((tmp_path / "out").iterdir()) == []


RELEASE = ROOT / "assignments" / "cnn_step_by_step" / "cnn_step_by_step.ipynb"


SUBMISSIONS = ROOT / "examples" / "submissions"


@pytest.mark.parametrize(("ahead_for", "read_ahead"), [
    (RELEASE, None), (RELEASE, "bob_partly_right"), (RELEASE, "dave_corrupted"), (None, "bob_partly_right"),
], ids=["same release", "the submission read ahead", "another submission read ahead", "another release"])
def test_views_written_by_the_child_forked_ahead_are_the_views_written_after(tmp_path: Path, ahead_for: Path | None,
                                                                             read_ahead: str | None) -> None:
    """One `grader grade` forks the writer as grading starts (annotate_ahead), and it reads the submission ahead;
    what it writes is what the writer forked after grading writes, whatever it read ahead (an unreadable notebook,
    another file), and a writer forked for another release is stopped, not used."""
    path = SUBMISSIONS / "bob_partly_right.ipynb"
    assert write_annotated_bounded(report(), path, tmp_path / "after", release=RELEASE) == (True, "")
    annotate.annotate_ahead(ahead_for, SUBMISSIONS / f"{read_ahead}.ipynb" if read_ahead else None)
    child = annotate._ahead[1].pid if annotate._ahead else 0
    assert write_annotated_bounded(report(), path, tmp_path / "ahead", release=RELEASE) == (True, "")
    assert annotate._ahead is None
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)  # collected, whether it wrote the views or not
    for name in (annotate.NOTEBOOK_FILE, annotate.PAGE_FILE):
        assert (tmp_path / "ahead" / name).read_bytes() == (tmp_path / "after" / name).read_bytes()


def _unparsable(tmp_path: Path) -> Path:
    return write_notebook(tmp_path / "u.ipynb", "def zero_pad(X, pad):\n    return X", "def conv_forward(A:\n    pass",
                          "%%time\ndef pool_forward(A, h):\n    return A", "def zero_pad(X, pad):\n    return X + 0")


@pytest.mark.parametrize("name", ["alice_full_marks", "bob_partly_right", "carol_broken", "unparsable"])
def test_the_places_the_grader_hands_the_writer_are_those_it_would_find(tmp_path: Path, name: str) -> None:
    """The views' writer forked ahead is given the places from the grader's own extraction instead of parsing every
    cell again: they must be what it would find itself (the last definition, unreadable cells and their defs)."""
    from grader.grading.extract import extract_submission
    from grader.notebooks import read_nodes

    path = _unparsable(tmp_path) if name == "unparsable" else SUBMISSIONS / f"{name}.ipynb"
    places = annotate.places_of(extract_submission(path))
    assert places == find_places(read_nodes(path))
    assert places.graded or name == "carol_broken"
    if name == "unparsable":
        assert places.graded == {"zero_pad": 4, "pool_forward": 3} and places.unreadable == {"conv_forward": 2}
        assert set(places.skipped) == {2}


def test_a_graded_report_carries_its_places_and_the_writer_parses_no_cell_again(tmp_path: Path, monkeypatch: Any) -> None:
    """Every report, not only the first of a batch, tells the views' writer where the feedback goes (the grading's own
    extraction): a writer forked for a later notebook, or a report from a cluster or a course's records (JSON), does
    not parse every cell again (~25 ms of CPU a notebook)."""
    from grader.config import load_assignment
    from grader.notebooks import read_nodes
    from grader.running.batch import grade_all

    path = _unparsable(tmp_path)
    [(_, report)] = grade_all(load_assignment("cnn_step_by_step"), [path], tmp_path / "out", sandbox_mode(),
                              progress=False, annotate=False)
    assert report.places == find_places(read_nodes(path)) and report.places.skipped == {2: report.places.skipped[2]}
    again = GradeReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again.places == report.places  # the skipped cell's number is a number again
    monkeypatch.setattr(annotate, "find_places", lambda notebook: pytest.fail("the writer parsed the cells again"))
    assert annotate.write_annotated(again, path, tmp_path / "views")
    assert "zero_pad" in (tmp_path / "views" / annotate.NOTEBOOK_FILE).read_text()


def test_one_unreadable_notebook_graded_alone_gets_no_views_and_no_link(tmp_path: Path) -> None:
    """Alone, the views are written by the child forked ahead while the page is written, assuming them: when they
    cannot be, the page is written again without the link."""
    out = tmp_path / "out"
    run_cli("grade", "cnn_step_by_step", SUBMISSIONS / "dave_corrupted.ipynb", "--out", out,
            "--sandbox", sandbox_mode())
    folder = out / "dave_corrupted"
    assert sorted(p.name for p in folder.iterdir()) == ["feedback.html", "feedback.md", "results.json"]
    assert "feedback-notebook.html" not in (folder / "feedback.html").read_text()
