"""feedback-notebook.html without nbconvert's exporter (grader/reporting/notebook_page.py): the same page, byte for
byte, as nbconvert's lab template wrote it through the exporter, and none of nbconvert's or IPython's modules loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nh3
import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from grader.notebooks import read_notebook
from grader.reporting import annotate, notebook_page
from grader.reporting.report import template_dir

ROOT = Path(__file__).resolve().parent.parent
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
SVG = "PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4="
MARKDOWN = """# Title $x_1 * y_2$ and *em*
#No space heading

$$
a_b_c * d_e
$$

Inline \\(a_b\\) and \\[c_d\\] and \\begin{equation}e_f\\end{equation}, a price of 5$ and $ 6.

<script>alert(1)</script> <b onclick='x'>bold</b> <img src="https://example.com/x.png"> [js](javascript:alert(1))

```python
x = 1  # comment
```

```nosuchlang
y
```

| a | b |
|---|---|
| 1 | <i>2</i> |

- [ ] task
- [x] done

~~gone~~ https://example.com and [file](files/data.csv)

term
: its definition

![a picture](attachment:p.png) ![vector](attachment:v.svg)
"""


def rich_notebook() -> NotebookNode:
    """Every kind of cell and output the annotated notebook can hold, and Markdown that tries everything."""
    markdown = new_markdown_cell(MARKDOWN)
    markdown.attachments = {"p.png": {"image/png": PNG}, "v.svg": {"image/svg+xml": SVG}}
    feedback = new_markdown_cell("### Feedback\n\n```\nTraceback <x> & y\n```\n")
    feedback.metadata[annotate.FEEDBACK_KEY] = {"kind": "function"}
    cells = [
        markdown, feedback,
        new_code_cell("%matplotlib inline\nimport numpy as np\nprint('<b>hi</b>')\n!ls\nnp.zeros?", execution_count=3, outputs=[
            new_output("stream", name="stdout", text="hi <b> & 'q'\n"), new_output("stream", name="stderr", text="warn\n"),
            new_output("execute_result", data={"text/plain": "array([1, 2])", "image/png": PNG}, execution_count=3),
            new_output("execute_result", data={"text/plain": "<tag> & \"q\""}, execution_count=4),
            new_output("display_data", data={"image/jpeg": PNG}),
            new_output("error", ename="ValueError", evalue="bad <x>", traceback=["Traceback <y>", "ValueError: bad <x>"])]),
        new_code_cell("", execution_count=None),
        new_code_cell("def f(x):\n    '''doc <b>'''\n    return x @ x  # comment\n", execution_count=1),
        new_code_cell("def fläche(π=3.14):  # Größe, 面积\n    return π * 2, 'café', f\"{π!r:>5}\"\n", execution_count=4),
        new_code_cell("x = 1\r\ny = 2\r%time x\r", execution_count=2),  # saved on Windows, and on an old Mac
    ]
    for number, cell in enumerate(cells):
        cell.id = f"c{number}"
    return new_notebook(cells=cells, metadata={"language_info": {"name": "python"}})


def nbconvert_page(notebook: NotebookNode, title: str) -> str:
    """The page as nbconvert's exporter wrote it before (the template, filters and options annotate.py gave it)."""
    from nbconvert import HTMLExporter, TemplateExporter
    from nbconvert.filters import DataTypeFilter, Highlight2HTML

    class PageExporter(HTMLExporter):  # type: ignore[misc]
        def from_notebook_node(self, nb: NotebookNode, resources: dict[str, Any] | None = None, **kw: Any) -> Any:
            return TemplateExporter.from_notebook_node(self, nb, resources, **kw)

    exporter = PageExporter(template_name="lab", template_file="feedback-notebook.html.j2",
                            extra_template_paths=[str(template_dir())],
                            extra_template_basedirs=[str(notebook_page.nbconvert_templates())],
                            embed_images=False, exclude_anchor_links=True)
    exporter.register_filter("highlight_code", Highlight2HTML(pygments_lexer="ipython3", parent=exporter))
    exporter.register_filter("filter_data_type", DataTypeFilter(parent=exporter))
    exporter.register_filter("safe_html", annotate.safe_html)
    page, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title}})
    return str(page)


@pytest.mark.parametrize("source", ["rich", "alice_full_marks", "carol_broken"])
def test_the_page_is_the_one_nbconvert_writes(source: str) -> None:
    if source == "rich":
        notebook = rich_notebook()
    else:
        notebook = read_notebook(ROOT / "examples" / "submissions" / f"{source}.ipynb")
    title = "Feedback: <Convolution> & \"steps\""
    assert notebook_page.render(notebook, title, annotate.safe_html) == nbconvert_page(notebook, title)


def test_the_lexer_for_ascii_names_reads_code_as_pythons_lexer_does() -> None:
    """Code whose characters beyond ASCII are none that a name can contain (most code: ``≈`` in a docstring is no
    name character) is highlighted by a lexer whose name patterns keep only the ASCII part of Unicode's classes (~10 ms
    less to compile): those parts are what the full classes take of ASCII, the characters it leaves to the full lexer
    are exactly the classes' own, and every code cell of the course's notebooks and the grader's own source come out
    as the same tokens."""
    import re

    from pygments.lexers.python import PythonLexer
    from pygments.unistring import xid_continue, xid_start

    for full, part in ((xid_start, notebook_page.ASCII_NAME_START), (xid_continue, notebook_page.ASCII_NAME_CONTINUE)):
        assert [bool(re.fullmatch(f"[{full}]", chr(c))) for c in range(128)] == \
               [bool(re.fullmatch(f"[{part}]", chr(c))) for c in range(128)]
    names = re.compile(f"[{xid_start}{xid_continue}]")
    points = [*range(0x80, 0xD800), *range(0xE000, 0x10000), *range(0x10000, 0x110000, 7)]
    assert [bool(names.match(chr(c))) for c in points] == [notebook_page._names_beyond_ascii(chr(c)) for c in points]
    paths = [*ROOT.glob("*/*/*.ipynb"), *ROOT.glob("examples/submissions/**/*.ipynb")]
    sources = [cell.source for path in paths if "corrupted" not in path.name
               for cell in read_notebook(path).cells if cell.cell_type == "code"]
    sources += [path.read_text() for path in sorted((ROOT / "grader").rglob("*.py"))]
    plain = [source for source in sources if not notebook_page._names_beyond_ascii(source)]
    assert len(plain) > 100 and any(not source.isascii() for source in plain)
    ascii_lexer, lexer = notebook_page._lexer("python-ascii"), PythonLexer()
    assert type(ascii_lexer).__name__ == "AsciiPythonLexer"
    for source in plain:
        assert list(ascii_lexer.get_tokens(source)) == list(lexer.get_tokens(source))


def test_the_page_is_still_sanitised() -> None:
    page = notebook_page.render(rich_notebook(), "t", annotate.safe_html)
    body = page.split("</head>", 1)[1]
    assert "<script" not in body and "onclick" not in body and '="javascript:' not in body
    assert "https://example.com/x.png" not in body and "6.</p>\n <b>bold</b> <img> [js]" in body  # the script, content too
    assert "Content-Security-Policy" in page.split("</head>", 1)[0]
    assert "data:image/svg+xml;base64," + SVG in body and "<pre>hi &lt;b&gt; &amp; &#39;q&#39;" in body


RENDER = """
import sys
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from grader.reporting import annotate, notebook_page
nb = new_notebook(cells=[new_markdown_cell("# a $x$"), new_code_cell(sys.argv[1])], metadata={})
page = notebook_page.render(nb, "t", annotate.safe_html)
assert "hl-ipython3" in page, page[-2000:]
print(sorted({m.split(".")[0] for m in sys.modules} & {"nbconvert", "IPython", "nbclient", "bs4", "ipython_pygments_lexers"}))
"""


@pytest.mark.parametrize(("code", "lexer"), [("x = 1", []), ("%matplotlib inline\nx = 1", ["ipython_pygments_lexers"])])
def test_rendering_loads_neither_nbconvert_nor_ipython(code: str, lexer: list[str]) -> None:
    """IPython's lexer is loaded only for a cell with IPython syntax, and even then without IPython itself."""
    loaded = subprocess.run([sys.executable, "-c", RENDER, code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == str(lexer)


def test_a_missing_template_folder_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notebook_page.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(notebook_page.sys, "prefix", "/nonexistent")
    with pytest.raises(notebook_page.TemplatesMissing, match="nbconvert's templates"):
        notebook_page.nbconvert_templates()


def test_a_picture_whose_attachment_is_missing_costs_only_the_picture() -> None:
    """A GIF attachment (dropped: only PNG and JPEG are kept) or a link to none made the renderer raise, and the
    student lost both annotated views."""
    notebook = new_notebook(cells=[new_markdown_cell("Look: ![my <b>plot</b>](attachment:plot.gif)"),
                                   new_markdown_cell("![gone](attachment:nothing.png)")])
    page = notebook_page.render(notebook, "t", annotate.safe_html)
    assert "[picture not shown: my &lt;b&gt;plot&lt;/b&gt;]" in page and "[picture not shown: gone]" in page


def test_a_page_rendered_after_the_release_is_the_page_rendered_cold() -> None:
    """The batch renders the release's cells once (annotate.warm_up) and each page reuses them: same bytes, and the
    reuse really happens (the release's code cells are in the memo)."""
    from grader.config import load_assignment
    from grader.notebooks import read_nodes

    release = load_assignment("cnn_step_by_step").student_notebook
    student = read_nodes(ROOT / "examples" / "submissions" / "bob_partly_right.ipynb")
    notebook = new_notebook(cells=[annotate.student_cell(cell) for cell in student.cells])
    notebook_page._memo_table.clear()
    cold = notebook_page.render(notebook, "t", annotate.safe_html)
    notebook_page._memo_table.clear()
    annotate.warm_up.cache_clear()
    annotate.warm_up(release)
    release_code = [cell.source for cell in read_nodes(release).cells if cell.cell_type == "code"]
    assert all(any(kind.startswith("code:ipython3:") and text == (source or " ") for kind, text in notebook_page._memo_table)
               for source in release_code)
    assert notebook_page.render(notebook, "t", annotate.safe_html) == cold


@pytest.mark.parametrize("name", ["alice_full_marks", "bob_partly_right", "carol_broken"])
def test_cells_warmed_ahead_leave_the_page_nothing_to_highlight_or_render(name: str) -> None:
    """``warm_cells`` (the views' writer, while the submission is graded) makes the filter calls the page's template
    makes: rendering the page afterwards adds nothing to the memo, so no code is highlighted and no Markdown parsed
    twice; and the page is the one a cold render gives."""
    from grader.notebooks import read_nodes

    student = read_nodes(ROOT / "examples" / "submissions" / f"{name}.ipynb")
    cells = [annotate.student_cell(cell) for cell in student.cells]
    notebook = new_notebook(cells=cells)
    notebook_page._memo_table.clear()
    cold = notebook_page.render(notebook, "t", annotate.safe_html)
    notebook_page._memo_table.clear()
    notebook_page.warm_cells(cells, annotate.safe_html)
    warmed = dict(notebook_page._memo_table)
    assert any(kind.startswith("code:") for kind, _ in warmed) and any(kind == "markdown" for kind, _ in warmed)
    assert notebook_page.render(notebook, "t", annotate.safe_html) == cold
    assert notebook_page._memo_table == warmed


def test_the_release_rendered_once_is_read_back_from_the_users_cache_as_rendered(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The release's cells are rendered once per version and kept in the user's cache: read back, they give the
    page a cold render gives, without rendering again; the file holds the instructor's cells, never a student's;
    a damaged file is rendered again and replaced."""
    from grader.config import load_assignment
    from grader.notebooks import read_nodes

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    release = load_assignment("cnn_step_by_step").student_notebook
    student = read_nodes(ROOT / "examples" / "submissions" / "bob_partly_right.ipynb")
    notebook = new_notebook(cells=[annotate.student_cell(cell) for cell in student.cells])
    notebook_page._memo_table.clear()
    cold = notebook_page.render(notebook, "t", annotate.safe_html)

    def warm_from_scratch() -> None:  # as a new process would: its own templates, allow-list kind and memo
        notebook_page._memo_table.clear()
        notebook_page._environment.cache_clear()
        annotate.warm_up.cache_clear()
        annotate.warm_up(release)

    warm_from_scratch()
    (kept,) = (tmp_path / "grader" / annotate.RENDERED).iterdir()
    assert notebook_page.render(notebook, "t", annotate.safe_html) == cold
    release_sources = {cell.source or " " for cell in read_nodes(release).cells}
    student_only = [cell.source for cell in student.cells if cell.source not in release_sources]
    assert student_only
    saved_texts = {text for _, text, _ in json.loads(kept.read_text(encoding="utf-8"))}
    assert not saved_texts & set(student_only)

    with monkeypatch.context() as patched:
        patched.setattr(annotate, "render_page", lambda *args: pytest.fail("rendered again"))
        warm_from_scratch()
    with monkeypatch.context() as patched:  # every Markdown cell is the release's: none is cleaned again
        patched.setattr(nh3, "clean", lambda *args, **kwargs: pytest.fail("cleaned again"))
        assert notebook_page.render(notebook, "t", annotate.safe_html) == cold

    kept.write_text('[["safe", "x"', encoding="utf-8")
    warm_from_scratch()
    assert notebook_page.render(notebook, "t", annotate.safe_html) == cold
    assert json.loads(kept.read_text(encoding="utf-8"))


def test_what_one_allow_list_cleaned_is_not_served_to_another() -> None:
    notebook = new_notebook(cells=[new_markdown_cell("<script>alert(1)</script> hello")])
    assert "<script>" in notebook_page.render(notebook, "t", lambda html: html)
    assert "<script>" not in notebook_page.render(notebook, "t", annotate.safe_html)


def test_a_huge_cell_is_shown_plain_and_cut_and_the_page_stays_escaped() -> None:
    """A 5 MB code cell took Pygments 30 s (the views' writer's deadline: both views were lost); 250 KB here. Past
    RICH_CELL_CHARS a cell is shown as escaped plain text, its first PLAIN_CELL_CHARS characters only."""
    code = "x = '</pre><script>alert(1)</script>'\n" + "big = [" + "1, " * (250_000 // 3) + "]"
    markdown = "<script>alert(2)</script> *not emphasised* " + "word " * (notebook_page.RICH_CELL_CHARS // 5)
    notebook = new_notebook(cells=[new_code_cell(code), new_markdown_cell(markdown), new_code_cell("y = 2")])
    page = notebook_page.render(notebook, "t", annotate.safe_html)
    assert "x = &#x27;&lt;/pre&gt;&lt;script&gt;" in page or "x = '&lt;/pre&gt;&lt;script&gt;" in page
    assert "<script>alert" not in page and "<em>not emphasised</em>" not in page
    assert f"[{len(code) - notebook_page.PLAIN_CELL_CHARS:,} more characters not shown here" in page
    assert "1, " * 1000 in page and len(page) < notebook_page.PLAIN_CELL_CHARS + 1_000_000
    assert '<span class="n">y</span>' in page  # the small cell is still highlighted


def test_past_the_pages_budget_cells_are_shown_plain_in_order() -> None:
    """The page's rich cells add up to at most RICH_PAGE_CHARS characters; which cells are plain depends on the
    notebook alone (the same page every time)."""
    size = notebook_page.RICH_CELL_CHARS - 100
    cells = [new_code_cell(f"v{n} = 1  # " + "c" * size) for n in range(notebook_page.RICH_PAGE_CHARS // size + 2)]
    cells.append(new_markdown_cell("*small*"))
    plain = notebook_page.plain_sources(cells)
    rich = [cell.source for cell in cells if cell.source not in plain]
    assert sum(map(len, rich)) <= notebook_page.RICH_PAGE_CHARS < sum(map(len, rich)) + len(cells[len(rich) - 1].source)
    assert rich[-1] == "*small*" and plain == {cell.source for cell in cells[len(rich) - 1:-1]}
    page = notebook_page.render(new_notebook(cells=cells), "t", annotate.safe_html)
    assert page.count('<span class="n">v') == len(rich) - 1 and "<em>small</em>" in page
