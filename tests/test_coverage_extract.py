"""Extraction's edges: cells that defeat the parser, and every way the bounded child can fail to answer.

The child's failures are reached by replacing what the forked child runs (monkeypatch before the fork reaches
only the child's copy of this process), and each must become a message naming the cause, never a Submission.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from grader import bounded
from grader.errors import NotebookError
from grader.grading import extract
from grader.grading.extract import extract_bounded, extract_cells, to_python
from tests.conftest import write_notebook


@pytest.fixture
def notebook(tmp_path: Path) -> Path:
    return write_notebook(tmp_path / "x.ipynb", "def f():\n    return 1")


def test_a_cell_that_overflows_the_parser_is_skipped_with_a_note() -> None:
    chunks, notes, unparsed = extract_cells([(1, "x = " + "-" * 100_000 + "1\ndef lost():\n    return x"),
                                             (2, "def kept():\n    return 2")])
    assert [c.names for c in chunks] == [("kept",)]
    assert notes == ("cell 1 was skipped: it is nested too deeply or too large to read.",)
    assert [name for name, _ in unparsed] == ["lost"]


def test_an_import_guarded_by_try_is_kept_when_a_definition_reads_it() -> None:
    cell = "try:\n    import scipy\nexcept ImportError:\n    scipy = None\n\ndef f():\n    return scipy"
    chunks, _, _ = extract_cells([(1, cell)])
    assert [(c.kind, c.names) for c in chunks] == [("import", ("scipy",)), ("def", ("f",))]


def test_a_backslash_inside_a_line_does_not_continue_it() -> None:
    assert to_python("x = 1 \\ 2\n%ls").split("\n")[1] == "get_ipython().run_line_magic('ls', '')"
    assert to_python("x = 1 + \\\n%ls").split("\n")[1] == "%ls"  # continued: not a statement of its own


def test_a_bug_in_the_child_is_the_graders_failure_with_its_cause(notebook: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(path: Path, wanted: object = ()) -> None:
        raise KeyError("cells")

    monkeypatch.setattr(extract, "extract_submission", broken)
    with pytest.raises(RuntimeError, match=r"extraction failed: KeyError: 'cells'"):
        extract_bounded(notebook)


def test_a_child_that_dies_without_answering_is_the_graders_failure(notebook: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def dies(seconds: float, memory_mb: int) -> None:
        os._exit(3)

    monkeypatch.setattr(bounded, "limit_self", dies)
    with pytest.raises(RuntimeError, match=r"extraction ended without an answer \(status 768\)"):
        extract_bounded(notebook)


def test_an_answer_too_large_to_encode_is_a_memory_failure(notebook: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Small to hold, hundreds of MB as JSON: json.dumps runs out of memory in the child, past _extraction's own handler.
    monkeypatch.setattr(extract, "_extraction", lambda *_: {"submission": ["x" * 4096] * 100_000})
    with pytest.raises(NotebookError, match="needed more than 100 MB"):
        extract_bounded(notebook, memory_mb=100)


def test_an_answer_above_the_result_cap_is_refused_while_read(notebook: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract, "MAX_RESULT_BYTES", 100)
    with pytest.raises(NotebookError, match="extracted code is larger than 0 MB"):
        extract_bounded(notebook)


@pytest.mark.parametrize(("answer", "message"), [
    ({"submission": {}, "error": "x"}, r"malformed answer$"),
    ([1, 2], r"malformed answer$"),
    ({"failed": "ValueError: no"}, r"extraction failed: ValueError: no"),
    ({"unknown": 1}, r"extraction failed: None"),
    ({"submission": {"path": "x", "chunks": {}, "notes": [], "unparsed": [], "skipped": [], "unparsed_cells": []}},
     r"expected a list, got dict"),
    ({"submission": {"path": "x", "chunks": [], "notes": [], "unparsed": [], "skipped": [["2", "x"]], "unparsed_cells": []}},
     r"expected int"),
    ({"submission": {"path": "x", "chunks": [], "notes": []}}, r"needs exactly the fields"),
])
def test_every_malformed_answer_of_the_child_is_refused(notebook: Path, monkeypatch: pytest.MonkeyPatch, answer: Any,
                                                        message: str) -> None:
    monkeypatch.setattr(extract, "_extraction", lambda *_: answer)
    with pytest.raises(RuntimeError, match=message):
        extract_bounded(notebook)


def test_an_answer_that_is_not_json_is_refused(notebook: Path) -> None:
    for raw in (b"{garbled", b"[" * 100_000):
        with pytest.raises(RuntimeError, match="malformed answer"):
            extract._answer(raw, 0, notebook, 1.0, 1)
    with pytest.raises(NotebookError, match="needed more than 7 MB"):
        extract._answer(b'{"memory": true}', 0, notebook, 1.0, 7)
