"""GradeReport + the student's notebook → feedback.ipynb (the feedback in place) and feedback-notebook.html.

The notebook is the student's and everything in it is hostile. It is read with the grader's safe reader; its cells stay
as they are, but outputs keep only text and PNG/JPEG pictures (HTML, JavaScript, SVG, Markdown, LaTeX and widgets
become a line saying what was removed), so nothing runs when it is opened. Text the grader inserts is escaped for
Jupyter's Markdown, which allows raw HTML and math. The page renders every Markdown cell through an allow-list of tags
and attributes, loads nothing (no script, MathJax, font or stylesheet from the network) and forbids scripts and
requests with a Content-Security-Policy. Both are written in a forked child with a deadline and a memory limit, so a
notebook built to stall a parser costs at most that.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import pickle
import re
import string
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from grader.bounded import Ahead, AnswerTooLarge, start_bounded
from grader.errors import NotebookError
from grader.grading.extract import read_cells
from grader.kept import keep, read_kept, version_key
from grader.model import IMAGE_MIME, FunctionScore, GradeReport, Places, places_of
from grader.notebooks import Node, code_cells, nodes, read_nodes, read_regular_file, writes
from grader.reporting.report import bounded, failure_groups, fence, fmt, scoring_rule, write_atomic
from grader.text import clean_line, clean_text

NOTEBOOK_FILE = "feedback.ipynb"
PAGE_FILE = "feedback-notebook.html"
#: Bounds of writing one submission's annotated views (reading, extraction and rendering included).
ANNOTATE_SECONDS = 30.0
ANNOTATE_MEMORY_MB = 1024
MAX_ANSWER_BYTES = 64 * 1024  # the child only says whether it wrote the views, and if not why
#: Cap of each text output kept (stream, text/plain, traceback line): a notebook's outputs can be megabytes.
MAX_OUTPUT_CHARS = 20_000
MAX_TRACEBACK_LINES = 200
#: Cap of a kept picture (base64 characters).
MAX_IMAGE_CHARS = 4_000_000
#: Metadata key of the cells the grader inserts: an annotated notebook submitted again loses its old feedback cells.
FEEDBACK_KEY = "grader_feedback"

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_BASE64 = re.compile(r"[A-Za-z0-9+/\n]*={0,2}\n?")
_CELL_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_PICTURES = ("image/png", "image/jpeg")
# An SVG shown through <img> runs no script and loads nothing: the grader's pictures are SVG (grader/reporting/plots.py).
_DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg|gif|svg\+xml);base64,[A-Za-z0-9+/\s]*={0,2}\s*")

# The page's allow-list: what Markdown renders to, and nothing that can run, load or navigate on its own.
SAFE_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "summary", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
})


#: the attributes the allow-list keeps (``_kept_value`` then checks the values of links and pictures)
SAFE_ATTRIBUTES = {"*": {"class", "id", "title"}, "a": {"href"}, "img": {"alt", "width", "height", "src"},
                   "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}, "ol": {"start"}}


def _kept_value(tag: str, name: str, value: str) -> str | None:
    if tag == "a" and name == "href" and value.strip().lower().startswith("data:"):
        return None
    if tag == "img" and name == "src" and _DATA_IMAGE.fullmatch(value) is None:
        return None
    return value


def safe_html(html: str) -> str:
    """HTML rendered from Markdown, with every tag and attribute outside the allow-list dropped: a raw ``<script>``
    (with its content), an event handler, an ``<iframe>`` or a picture from anywhere but a ``data:`` URI cannot get
    through. nh3 (Ammonia, in Rust) rather than bleach: bleach is deprecated, and its HTML parser took ~40 ms to import
    and ~0.7 ms a cell, nh3 ~1 ms and a few microseconds."""
    import nh3  # here: the annotated views are optional

    return str(nh3.clean(html, tags=SAFE_TAGS, attributes=SAFE_ATTRIBUTES, attribute_filter=_kept_value,
                         url_schemes={"http", "https", "mailto", "data"}, link_rel=None))


#: ASCII punctuation that starts nothing in the middle of a line of Markdown (Jupyter's or nbconvert's): kept as is.
_INERT = frozenset(",.:;'\"?/%@")
_MARKUP = frozenset(string.punctuation) - _INERT


def inline(text: str) -> str:
    """Student or course text as one line of inert Markdown: every other ASCII punctuation mark becomes a character
    reference, so no raw HTML, emphasis, link, code, table cell, heading, list or math (``$``, ``\\(``) can start."""
    line = " ".join(clean_text(str(text), 2_000).split())
    return "".join(f"&#{ord(c)};" if c in _MARKUP else c for c in line)


def find_places(notebook: Node) -> Places:
    """The places the grader's own extraction gives: the last definition wins; skipped cells by their notes."""
    try:
        return places_of(read_cells(code_cells(notebook)))
    except NotebookError as error:
        return Places(problem=str(error))


# nbformat's own constructors (nbformat.v4.new_*) validate every cell against the JSON schema, whose first use
# compiles it (~0.07 s of a grade); these build the same nodes, valid by construction (tests validate them), without
# importing nbformat at all (~0.06 s more, with jsonschema): grader/notebooks.py reads and writes them as it does.
def _node(value: dict[str, Any]) -> Node:
    return nodes(value)  # type: ignore[no-any-return]


def new_output(output_type: str, **fields: Any) -> Node:
    defaults: dict[str, dict[str, Any]] = {
        "stream": {"name": "stdout", "text": ""}, "display_data": {"data": {}, "metadata": {}},
        "execute_result": {"data": {}, "metadata": {}, "execution_count": None},
        "error": {"ename": "", "evalue": "", "traceback": []}}
    return _node({"output_type": output_type, **defaults[output_type], **fields})


def _new_cell(cell_type: str, source: str, **fields: Any) -> Node:
    return _node({"id": "", "cell_type": cell_type, "metadata": {}, "source": source, **fields})


def new_code_cell(source: str, outputs: list[Node], execution_count: int | None) -> Node:
    return _new_cell("code", source, outputs=outputs, execution_count=execution_count)


def new_markdown_cell(source: str) -> Node:
    return _new_cell("markdown", source)


def new_notebook(cells: list[Node], metadata: dict[str, Any]) -> Node:
    return _node({"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": cells})


def _count(value: Any) -> int | None:
    """An execution count as the schema allows it (a whole number from 0), else none."""
    return value if type(value) is int and value >= 0 else None


def _text(value: Any, limit: int = MAX_OUTPUT_CHARS) -> str:
    """An output's text (a string or nbformat's list of lines), without terminal colours, cleaned and capped."""
    if isinstance(value, list):
        value = "".join(item for item in value if isinstance(item, str))
    return clean_text(_ANSI.sub("", value if isinstance(value, str) else ""), limit)


def _picture(value: Any) -> str | None:
    if isinstance(value, list):
        value = "".join(item for item in value if isinstance(item, str))
    if isinstance(value, str) and len(value) <= MAX_IMAGE_CHARS and _BASE64.fullmatch(value):
        return value
    return None


def _removed(kinds: Iterable[str]) -> str:
    shown = ", ".join(clean_line(kind, 60) for kind in sorted(kinds)[:5])
    return f"[{shown} output not shown in the feedback: only text and PNG or JPEG pictures are kept]"


def safe_output(output: Any) -> Node:
    """One output that cannot run anything: text, PNG/JPEG pictures and errors; the rest named, not kept."""
    kind = output.get("output_type") if isinstance(output, dict) else None
    if kind == "stream":
        name = output.get("name") if output.get("name") in ("stdout", "stderr") else "stdout"
        return new_output("stream", name=name, text=_text(output.get("text")))
    if kind == "error":
        lines = output.get("traceback")
        traceback = [_text(line) for line in lines[:MAX_TRACEBACK_LINES]] if isinstance(lines, list) else []
        return new_output("error", ename=_text(output.get("ename"), 200), evalue=_text(output.get("evalue")),
                          traceback=traceback)
    if kind in ("execute_result", "display_data"):
        data = output.get("data") if isinstance(output.get("data"), dict) else {}
        kept = {mime: picture for mime in _PICTURES if mime in data and (picture := _picture(data[mime])) is not None}
        text = _text(data["text/plain"]) if "text/plain" in data else ""
        removed = [str(mime) for mime in data if mime != "text/plain" and mime not in kept]
        if removed:
            text = f"{text}\n{_removed(removed)}" if text else _removed(removed)
        if text or not kept:
            kept["text/plain"] = text
        if kind == "display_data":
            return new_output("display_data", data=kept)
        return new_output("execute_result", data=kept, execution_count=_count(output.get("execution_count")))
    return new_output("stream", name="stdout", text=_removed([f"a {clean_line(str(kind), 40)}"]))


def student_cell(cell: Node) -> Node:
    """The student's cell with its source as it is, its outputs made safe and its metadata dropped (but tags)."""
    kind, source = cell.get("cell_type"), cell.get("source", "")
    if kind == "code":
        outputs = cell.get("outputs")
        outputs = outputs if isinstance(outputs, list) else []
        new = new_code_cell(source, outputs=[safe_output(o) for o in outputs], execution_count=_count(cell.get("execution_count")))
    elif kind == "markdown":
        new = new_markdown_cell(source)
        attachments = cell.get("attachments")
        attachments = attachments if isinstance(attachments, dict) else {}
        pictures = {str(name): {mime: picture} for name, bundle in attachments.items() if isinstance(bundle, dict)
                    for mime in _PICTURES if mime in bundle and (picture := _picture(bundle[mime])) is not None}
        if pictures:
            new.attachments = pictures
    else:
        new = _new_cell("raw", source)
    tags = cell.get("metadata", {}).get("tags") if isinstance(cell.get("metadata"), dict) else None
    if isinstance(tags, list) and all(isinstance(tag, str) for tag in tags):
        kept = dict.fromkeys(clean_line(tag, 100) for tag in tags[:20])  # the schema: unique, no comma, not empty
        new.metadata["tags"] = [tag for tag in kept if tag and "," not in tag]
    new.id = cell.get("id")
    return new


def _feedback_cell(kind: str, lines: list[str], function: str = "",
                   pictures: dict[str, str] | None = None) -> Node:
    cell = new_markdown_cell("\n".join(lines).strip() + "\n")
    cell.metadata[FEEDBACK_KEY] = {"kind": kind, **({"function": function} if function else {})}
    if pictures:
        cell.attachments = {name: {IMAGE_MIME: data} for name, data in pictures.items()}
    return cell


def summary_cell(report: GradeReport, places: Places) -> Node:
    """The first cell: total, scoring rule, a line per function and where its feedback is."""
    percent = round(100 * report.score / report.max_score) if report.max_score else 0
    lines = [f"# Feedback: {inline(report.title)}", "",
             f"**Total: {fmt(report.score)} / {fmt(report.max_score)}** ({percent}%)", "", inline(scoring_rule(report)), ""]
    if report.error:
        lines += ["**The grader could not grade this notebook:**", "", fence(report.error), ""]
    lines += ["| Function | Result | Checks passed | Points | Feedback |", "| --- | --- | --- | --- | --- |"]
    for f in report.functions:
        where = "below its definition" if f.name in places.graded or f.name in places.unreadable else "at the end"
        optional = " (optional)" if f.optional else ""
        lines.append(f"| {inline(f.name)}{optional} | {'passed' if f.passed else 'not yet'} | {f.passed_checks} / {f.checks} "
                     f"| {fmt(f.score)} / {fmt(f.points)} | {where} |")
    lines += ["", "This is your notebook as you submitted it, with a cell like this one after each graded function (the "
              "last cell that defines it, which is the one graded) and after each cell the grader could not read. "
              "Outputs show only text and pictures. Every check is on the [feedback page](feedback.html)."]
    if report.notes:
        lines += ["", "**About your notebook:**", "", fence("\n".join(report.notes))]
    if places.problem:
        lines += ["", "**Where the feedback goes:** the notebook's code could not be read, so each function's feedback "
                  "is at the end:", "", fence(places.problem)]
    return _feedback_cell("summary", lines)


def function_cell(report: GradeReport, function: FunctionScore) -> Node:
    """A function's result, failed checks (grouped), known-mistake hints and pictures."""
    result = "all checks passed" if function.passed else f"{function.passed_checks} of {function.checks} checks passed"
    optional = ", optional" if function.optional else ""
    lines = [f"### Feedback on {inline(function.name)}: {fmt(function.score)} / {fmt(function.points)} points{optional}",
             "", f"**{result.capitalize()}.**", ""]
    for mistake in report.mistakes:
        if mistake.function == function.name:
            lines += [f"**This looks like a known mistake: {inline(mistake.title)}.** {inline(mistake.hint)} "
                      f"(recognised in {inline(mistake.check)})", ""]
    pictures: dict[str, str] = {}
    for group in failure_groups(report, function.name):
        checks = group.checks
        if group.whole:  # not started, or not graded at all: what the label and the message say is all there is
            lines += [f"**{inline(group.label)}**", ""]
        else:
            lines += [f"**{inline(group.label)}** in {inline(checks[0].kind)} check{'s' if len(checks) > 1 else ''} "
                      f"{inline(', '.join(c.name for c in checks))}", ""]
            lines += [f"- {inline(c.name)}: {inline(c.params)}" for c in checks if c.params] + [""]
        if group.called:
            lines += [f"Called {inline(group.called)}", ""]
        if group.message:
            lines += [fence(group.message), ""]
        if group.image and _picture(group.image) is not None:
            name = f"{function.name}-{len(pictures) + 1}.svg"
            pictures[name] = group.image
            lines += [f"![{inline(group.image_alt or 'expected, got and their difference')}](attachment:{name})", ""]
        if group.output:
            lines += ["Your function printed:", "", fence(group.output), ""]
    passed = [c.name for c in report.checks if c.function == function.name and c.passed]
    if passed:
        lines.append(f"Passed: {inline(', '.join(passed))}")
    return _feedback_cell("function", lines, function.name, pictures)


def skipped_cell(why: str) -> Node:
    return _feedback_cell("skipped", ["**The grader could not read the cell above**, so nothing in it was graded:", "",
                                      fence(why)])


def _metadata(metadata: Any) -> dict[str, Any]:
    """The notebook's kernel and language names (so Jupyter opens it with Python); nothing else of the student's."""
    kept: dict[str, Any] = {}
    if isinstance(metadata, dict):
        kernel = metadata.get("kernelspec")
        if isinstance(kernel, dict) and isinstance(kernel.get("name"), str) and isinstance(kernel.get("display_name"), str):
            kept["kernelspec"] = {"name": clean_line(kernel["name"], 100), "display_name": clean_line(kernel["display_name"], 100)}
        language = metadata.get("language_info")
        if isinstance(language, dict) and isinstance(language.get("name"), str):
            kept["language_info"] = {"name": clean_line(language["name"], 100)}
    return kept


def _unique_ids(cells: list[Node]) -> None:
    """Keep each valid, unique cell id; give the others (and the grader's cells) ids of their own."""
    seen: set[str] = set()
    for index, cell in enumerate(cells):
        own = cell.get("id")
        if not (isinstance(own, str) and _CELL_ID.fullmatch(own) and own not in seen and FEEDBACK_KEY not in cell.metadata):
            own = f"grader-{index}"
            while own in seen:
                own += "-"
        cell.id = own
        seen.add(own)


def is_feedback(cell: Any) -> bool:
    """Our feedback is always Markdown: a code cell claiming to be feedback is the student's code, and hiding it
    would hide code that was graded."""
    return (isinstance(cell, dict) and cell.get("cell_type") == "markdown" and isinstance(cell.get("metadata"), dict)
            and FEEDBACK_KEY in cell["metadata"])


def annotate(notebook: Node, report: GradeReport, places: Places) -> Node:
    """The student's notebook with the feedback in place: a summary first, a cell after each graded function's cell
    and after each cell that could not be read, the feedback of functions found nowhere at the end. Feedback cells of
    an earlier annotation are dropped, so annotating again gives the same structure."""
    report = bounded(report)
    after: dict[int, list[Node]] = {}
    for number, why in sorted(places.skipped.items()):
        after.setdefault(number, []).append(skipped_cell(why))
    at_end: list[Node] = []
    for function in report.functions:
        where = places.graded.get(function.name) or places.unreadable.get(function.name)
        (after.setdefault(where, []) if where else at_end).append(function_cell(report, function))
    cells = [summary_cell(report, places)]
    for number, cell in enumerate(notebook.cells, 1):
        if not is_feedback(cell):
            cells.append(student_cell(cell))
        cells += after.get(number, [])
    cells += at_end
    _unique_ids(cells)
    return new_notebook(cells=cells, metadata=_metadata(notebook.get("metadata")))


def render_page(notebook: Node, title: str) -> str:
    """feedback-notebook.html: the annotated notebook through nbconvert's JupyterLab template, self-contained
    (rendered by grader/reporting/notebook_page.py, which gives nbconvert's page without importing nbconvert)."""
    from grader.reporting import notebook_page  # Jinja, Pygments, Markdown: only when a page is rendered

    return notebook_page.render(notebook, clean_line(title, 200), safe_html)


#: What feedback cells are made of (summary_cell, function_cell): Markdown compiles the patterns of each kind of block
#: the first time it meets one, ~10 ms in all, which no page should wait for.
WARM_MARKDOWN = """# a &#95;

**b** (1%) [c](feedback.html)

| d | e |
| --- | --- |
| f | 1 / 2 |

**g** in h

- i: `j`
- k

Called `l(m)`

````
n
````

![o](attachment:p.svg)

Passed: q
"""


@lru_cache(maxsize=4)
def warm_up(release: Path | None = None) -> None:
    """Compile the templates and import what rendering needs once, before children are forked from this process; with
    the assignment's ``release`` notebook (the instructor's), render its cells too: most cells of a submission are
    still the release's, and each child then finds them rendered (grader/reporting/notebook_page.py's memo). The
    release's cells are rendered once per version of the release, of the rendering code and of the libraries it
    renders with, and kept (grader/kept.py): the next grade reads them back in ~1 ms instead of ~0.15 s."""
    from grader.reporting import notebook_page

    notebook_page.prepare(safe_html, WARM_MARKDOWN)
    if release is None:
        return
    with contextlib.suppress(NotebookError):
        key = version_key(read_regular_file(release), __file__, notebook_page.__file__, *_renderers())
        if not _restored(read_kept(RENDERED, key), notebook_page):
            cells = [student_cell(cell) for cell in read_nodes(release).cells if not is_feedback(cell)]
            render_page(new_notebook(cells=cells, metadata={"language_info": {"name": "python"}}), "warm-up")
            # only the instructor's cells are in the memo yet: never a student's
            keep(RENDERED, key, json.dumps(notebook_page.saved_memo(safe_html), ensure_ascii=False))


RENDERED = "rendered-releases"


def _renderers() -> list[str]:
    """The files of the libraries that render cells (found, not imported)."""
    import importlib.util

    specs = [importlib.util.find_spec(name) for name in ("nh3", "mistune", "pygments", "ipython_pygments_lexers")]
    return [spec.origin for spec in specs if spec and spec.origin]


def _restored(kept: bytes | None, notebook_page: Any) -> bool:
    try:
        return kept is not None and bool(notebook_page.restore_memo(json.loads(kept), safe_html))
    except (ValueError, RecursionError):
        return False


def remove_annotated(folder: Path) -> None:
    """No annotated views in ``folder`` (nor what a killed writer left): stale ones must not be taken for new ones."""
    for name in (NOTEBOOK_FILE, PAGE_FILE):
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
        for leftover in folder.glob(f".{name}.*") if folder.is_dir() else ():
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def write_annotated(report: GradeReport, path: Path, folder: Path) -> bool:
    """Write feedback.ipynb and feedback-notebook.html for the notebook at ``path``; False (and neither file) when it
    cannot be read as a notebook: the feedback page already says why. Runs unbounded: see ``write_annotated_bounded``."""
    known = _read_ahead.pop(path, None)
    try:
        notebook, places = known or _read(path, report.places)
    except NotebookError:
        remove_annotated(folder)
        return False
    try:
        annotated = annotate(notebook, report, places)
        write_atomic(folder / NOTEBOOK_FILE, writes(annotated) + "\n")
        write_atomic(folder / PAGE_FILE, render_page(annotated, f"Feedback: {report.title}"))
    except BaseException:
        remove_annotated(folder)
        raise
    return True


def _read(path: Path, places: Places | None = None) -> tuple[Node, Places]:
    """The notebook, and where its feedback goes (``places``, the grading's own, if known)."""
    notebook = read_nodes(path)
    return notebook, find_places(notebook) if places is None else places


#: In the child forked ahead: the submission, read (and its own cells rendered) while it was graded.
_read_ahead: dict[Path, tuple[Node, Places]] = {}


def read_ahead(path: Path, places: Places | None = None) -> None:
    """Read the submission at ``path`` and render its own cells into the memo (never kept: see ``warm_up``), so that
    its page waits only for the feedback cells. In the child forked ahead, bounded as its job is. ``places``: as
    ``find_places`` would find them, if known."""
    from grader.reporting import notebook_page

    notebook = read_nodes(path)
    places = find_places(notebook) if places is None else places
    notebook_page.warm_cells([student_cell(cell) for cell in notebook.cells if not is_feedback(cell)], safe_html)
    _read_ahead[path] = (notebook, places)


_ahead: tuple[Path | None, Ahead] | None = None


def annotate_ahead(release: Path | None, submission: Path | None = None, places: Places | None = None) -> None:
    """Fork now the child that will write the next submission's views, and let it warm up (``warm_up``: imports,
    templates, the release's cells; then ``read_ahead`` of the ``submission``, with its ``places`` if known) while
    that submission is graded, on the cores the grader and the sandbox leave idle while they wait for each other: for
    one submission, only the feedback cells are left to render when its grade is known. Never taken: stopped at exit."""
    global _ahead

    def prepare() -> None:
        warm_up(release)  # first: what warm_up keeps must never hold a student's cells
        if submission is not None:
            read_ahead(submission, places)

    if _ahead is None:
        _ahead = (release, Ahead(prepare, _serve, ANNOTATE_SECONDS, ANNOTATE_MEMORY_MB))


@atexit.register
def _cancel_ahead() -> None:
    global _ahead
    if _ahead is not None:
        _ahead[1].cancel()
        _ahead = None


def _serve(job: bytes) -> bytes:
    """In the child forked ahead: the job is the grader's own (never a submission's bytes), as ``_annotated`` takes it."""
    report, path, folder, release = pickle.loads(job)  # from the trusted parent, through a private pipe
    try:
        warm_up(release)
    except Exception as error:
        return json.dumps({"written": False, "problem": _cannot_render(error)}).encode()
    return _annotated(report, path, folder, ANNOTATE_MEMORY_MB)


def _cannot_render(error: Exception) -> str:
    return clean_line(f"nbconvert cannot render here ({type(error).__name__}: {error})", 600)


def write_annotated_bounded(report: GradeReport, path: Path, folder: Path, seconds: float = ANNOTATE_SECONDS,
                            memory_mb: int = ANNOTATE_MEMORY_MB, release: Path | None = None) -> tuple[bool, str]:
    """``write_annotated`` in a forked child with a deadline, a CPU limit and a memory limit (the child forked ahead
    for this ``release``, if there is one). Returns whether the views were written and, if writing failed, why (then
    neither file is left). ``release``: see ``warm_up``."""
    return start_annotated_bounded(report, path, folder, seconds, memory_mb, release)()


def start_annotated_bounded(report: GradeReport, path: Path, folder: Path, seconds: float = ANNOTATE_SECONDS,
                            memory_mb: int = ANNOTATE_MEMORY_MB,
                            release: Path | None = None) -> Callable[[], tuple[bool, str]]:
    """``write_annotated_bounded`` in two halves: the child starts writing now, and the function returned waits
    for it and gives what ``write_annotated_bounded`` gives, so the caller can write its own reports meanwhile."""
    global _ahead
    ahead, _ahead = _ahead, None
    job = None
    if ahead is not None and ahead[0] == release and (seconds, memory_mb) == (ANNOTATE_SECONDS, ANNOTATE_MEMORY_MB):
        with contextlib.suppress(Exception):  # a report that cannot be pickled is written by a child forked now
            job = pickle.dumps((report, path, folder, release))
    if ahead is not None and job is not None:
        running = ahead[1].send(job)
    else:
        if ahead is not None:
            ahead[1].cancel()
        try:
            warm_up(release)
        except Exception as error:  # nbconvert missing or broken here: no annotated views, never a stopped batch
            remove_annotated(folder)
            problem = _cannot_render(error)
            return lambda: (False, problem)
        try:
            running = start_bounded(lambda: _annotated(report, path, folder, memory_mb), seconds, memory_mb)
        except OSError as error:  # no process could be forked (the machine out of PIDs or memory): never a stopped batch
            remove_annotated(folder)
            problem = f"no process could be started to write them ({error.strerror or error})"
            return lambda: (False, problem)

    def finish() -> tuple[bool, str]:
        try:
            raw, _ = running.finish(MAX_ANSWER_BYTES)
        except AnswerTooLarge:
            raw = b""
        answer = _answer(raw, seconds, memory_mb)
        if not answer[0]:
            remove_annotated(folder)
        return answer

    return finish


def _annotated(report: GradeReport, path: Path, folder: Path, memory_mb: int) -> bytes:
    """In the bounded child: write the views and say whether, and if not why, as JSON."""
    try:
        answer: dict[str, Any] = {"written": write_annotated(report, path, folder), "problem": ""}
    except MemoryError:
        answer = {"written": False, "problem": f"it needed more than {memory_mb} MB"}
    except Exception as error:  # our bug or a notebook nbconvert cannot render: that submission's views only
        answer = {"written": False, "problem": clean_line(f"{type(error).__name__}: {error}", 500)}
    return json.dumps(answer).encode()


def _answer(raw: bytes | None, seconds: float, memory_mb: int) -> tuple[bool, str]:
    if raw is None:
        return False, f"writing the annotated notebook took longer than {seconds:g} s"
    try:
        answer = json.loads(raw)
        return bool(answer["written"]), clean_line(str(answer["problem"]), 600)
    except (ValueError, KeyError, TypeError):
        return False, f"writing the annotated notebook stopped without an answer (over {memory_mb} MB?)"
