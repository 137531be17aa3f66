"""An annotated notebook → feedback-notebook.html, through nbconvert's own JupyterLab templates, without nbconvert.

nbconvert's exporter imports about 0.3 s of modules (its preprocessors, nbclient, BeautifulSoup, IPython's lexers) and
runs preprocessors the annotated notebook does not need: most of what one ``grader grade`` cost. The page only needs
the templates (files beside nbconvert, read as files), Markdown (mistune, as nbconvert uses it), highlighting (Pygments
with JupyterLab's colours) and a few one-line filters, so they are put together here and the page comes out as
nbconvert's lab template writes it. Sanitising is not done here: the page's template runs every Markdown cell through
the allow-list it is given (``annotate.safe_html``), and the code and outputs are escaped by the filters below.
"""

from __future__ import annotations

import bisect
import html
import importlib.util
import itertools
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from grader.reporting.report import compiled_templates, template_dir

#: The order nbconvert picks an output's representation in (its default ``display_data_priority``).
DATA_PRIORITY = ("application/vnd.jupyter.widget-view+json", "application/javascript", "text/html", "text/markdown",
                 "image/svg+xml", "text/vnd.mermaid", "text/latex", "image/png", "image/jpeg", "text/plain")
#: Which parts of a notebook nbconvert shows by default (its ``global_content_filter``).
CONTENT = {"include_code": True, "include_markdown": True, "include_raw": True, "include_unknown": True,
           "include_input": True, "include_output": True, "include_output_stdin": False, "include_input_prompt": True,
           "include_output_prompt": True}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_FILES_URL = re.compile(r"(src|href)\=([\'\"]?)/?files/")
_FILES_MARKDOWN = re.compile(r"(!?)\[(?P<caption>.*?)\]\(/?files/(?P<location>.*?)\)")
#: Lines that only IPython's lexer reads right (magics, shell escapes, help): only then is IPython imported.
_IPYTHON_SYNTAX = re.compile(r"^\s*(%|!|\?)|\?\s*$", re.MULTILINE)


#: Characters of cell sources and their HTML kept by ``_memo``: a notebook's cells are mostly the release's, which the
#: batch renders once (annotate.warm_up) before each submission's page is rendered in a child forked from it.
MEMO_CHARS = 4_000_000
_memo_table: dict[tuple[str, str], str] = {}
_memo_size = 0
_cleaners = itertools.count()
_safe_kinds: dict[Callable[[str], str], str] = {}

#: Highlighting costs ~7 µs a character here (a 5 MB cell took 30 s, past the writer's deadline: the views were lost),
#: Markdown ~2 µs. A code or Markdown cell longer than RICH_CELL_CHARS is shown as plain text, and so is any cell that
#: would take the page's rich cells past RICH_PAGE_CHARS: a page costs a few seconds at most, whatever the notebook.
RICH_CELL_CHARS = 20_000
RICH_PAGE_CHARS = 300_000
#: A cell shown plain shows its first PLAIN_CELL_CHARS characters (the extraction's own limit); feedback.ipynb has all.
PLAIN_CELL_CHARS = 200_000
_plain: frozenset[str] = frozenset()  # the sources of the page being rendered that are shown plain (``plain_sources``)


def _memo(kind: str, text: str, make: Callable[[], str]) -> str:
    """``make()``, or what it gave before for the same ``kind`` and ``text`` (each filter is a pure function of them)."""
    global _memo_size
    key = (kind, text)
    found = _memo_table.get(key)
    if found is None:
        found = make()
        if _memo_size + len(text) + len(found) <= MEMO_CHARS:
            _memo_table[key] = found
            _memo_size += len(text) + len(found)
    return found


def saved_memo(safe_html: Callable[[str], str]) -> list[list[str]]:
    """The memo as [kind, text, HTML] rows, to be restored by another process (``restore_memo``): what ``safe_html``
    cleaned is saved under the kind "safe" (its kind here is a count), what other allow-lists cleaned not at all."""
    mine = _safe_kind(safe_html)
    return [["safe" if kind == mine else kind, text, found] for (kind, text), found in _memo_table.items()
            if kind == mine or not kind.startswith("safe:")]


def restore_memo(rows: Any, safe_html: Callable[[str], str]) -> bool:
    """Take ``saved_memo``'s rows into the memo (what was cleaned, as cleaned by ``safe_html``); False, and nothing
    taken, when they are not such rows."""
    if not isinstance(rows, list) or not all(isinstance(row, list) and len(row) == 3 and all(isinstance(part, str)
                                                                                         for part in row) for row in rows):
        return False
    mine = _safe_kind(safe_html)
    for kind, text, found in rows:
        _memo(mine if kind == "safe" else kind, text, found.__str__)
    return True


def _safe_kind(safe_html: Callable[[str], str]) -> str:
    _environment(safe_html)
    return _safe_kinds[safe_html]


def prepare(safe_html: Callable[[str], str], markdown: str = "", template: str = "feedback-notebook.html.j2") -> None:
    """Compile the page's template, build Python's lexer, the Markdown parser and the style sheet, and clean once:
    what every annotated page needs (its feedback cells are new Markdown, its student's code new code), done before
    the page is known. ``markdown``: a sample of what the pages' own cells are made of, parsed (not kept)."""
    from pygments import highlight

    _environment(safe_html).get_template(template)
    highlight("x = 1\n", _lexer("python-ascii"), _formatter(" highlight hl-ipython3"))
    _pygments_css()
    _markdown()[0](markdown)
    safe_html("<p>warm</p>")


class TemplatesMissing(RuntimeError):
    """nbconvert's templates are not installed beside it."""


def nbconvert_templates() -> Path:
    """``<prefix>/share/jupyter/nbconvert/templates`` of the nbconvert installed here, found without importing it
    (nor looking in the user's own Jupyter folders: the page must not change with what a user put there)."""
    spec = importlib.util.find_spec("nbconvert")
    prefixes = [Path(spec.origin).resolve().parents[4]] if spec and spec.origin else []
    for prefix in [*prefixes, Path(sys.prefix)]:
        folder = prefix / "share" / "jupyter" / "nbconvert" / "templates"
        if (folder / "lab" / "index.html.j2").is_file():
            return folder
    raise TemplatesMissing("nbconvert's templates (share/jupyter/nbconvert/templates) are not installed")


def ansi2html(text: Any) -> str:
    """Output text as HTML: escaped; colour codes are gone already (annotate keeps outputs as plain text)."""
    return str(Markup.escape(_ANSI.sub("", str(text))))


def strip_files_prefix(text: str) -> str:
    """Links to ``files/...`` (the notebook server's prefix) made relative, as nbconvert does."""
    return _FILES_MARKDOWN.sub(r"\1[\2](\3)", _FILES_URL.sub(r"\1=\2", text))


def get_metadata(output: Mapping[str, Any], key: str, mimetype: str | None = None) -> Any:
    metadata = output.get("metadata") or {}
    if mimetype and mimetype in metadata:
        return metadata[mimetype].get(key)
    return metadata.get(key)


def filter_data_type(data: Mapping[str, Any]) -> list[str]:
    """The one representation of an output that is shown: the first of ``DATA_PRIORITY`` it has."""
    return [mime for mime in DATA_PRIORITY if mime in data][:1]


def highlight_code(source: str, language: str = "ipython3", metadata: Any = None) -> str:
    """A code cell as nbconvert highlights it; IPython's lexer (slow to import: it loads lexers of the languages cell
    magics name) only for a cell with IPython syntax, which Python's lexer reads the same way otherwise."""
    # as Pygments reads it (so a cell saved on Windows is still the release's cell, already rendered)
    if source in _plain:
        return _plain_html(source, f"highlight hl-{language}")
    text = (source or " ").replace("\r\n", "\n").replace("\r", "\n")
    lexer = "ipython3" if _IPYTHON_SYNTAX.search(text) else "python"

    def make() -> str:
        from pygments import highlight

        kind = "python-ascii" if lexer == "python" and not _names_beyond_ascii(text) else lexer
        return str(highlight(text, _lexer(kind), _formatter(html.escape(f" highlight hl-{language}"))))

    return _memo(f"code:{language}:{lexer}", text, make)


@lru_cache(maxsize=3)
def _lexer(kind: str) -> Any:
    """One lexer of each kind for the whole page (and batch): a lexer keeps no state between texts."""
    if kind == "ipython3":
        from ipython_pygments_lexers import IPython3Lexer  # IPython's own, without importing IPython (~0.06 s)

        return IPython3Lexer()
    from pygments.lexers.python import PythonLexer

    return _ascii_lexer(PythonLexer) if kind == "python-ascii" else PythonLexer()


#: The ASCII part of Pygments' classes of the characters that start and continue a name (Unicode's XID_Start, with
#: the underscore, and XID_Continue), which its patterns spell first.
ASCII_NAME_START, ASCII_NAME_CONTINUE = "A-Z_a-z", "0-9A-Z_a-z"


def _ascii_lexer(python: Any) -> Any:
    """Python's lexer for text with no name character beyond ASCII (``_names_beyond_ascii``), giving it the same
    tokens: its name patterns keep only the ASCII part of the two Unicode classes, whose ~1,900 ranges took ~10 ms of
    every page to compile (of ~17 ms for the whole lexer). Python's own lexer if Pygments ever spells those classes
    otherwise."""
    from pygments import unistring

    start, more = unistring.xid_start, unistring.xid_continue
    if not (start.startswith(ASCII_NAME_START) and more.startswith(ASCII_NAME_CONTINUE)):
        return python()

    def ascii(rule: Any) -> Any:
        if not (isinstance(rule, tuple) and isinstance(rule[0], str)):
            return rule
        return (rule[0].replace(start, ASCII_NAME_START).replace(more, ASCII_NAME_CONTINUE), *rule[1:])

    tokens = {state: [ascii(rule) for rule in rules] for state, rules in python.tokens.items()}
    return type("AsciiPythonLexer", (python,), {"tokens": tokens})()


def _names_beyond_ascii(text: str) -> bool:
    """Whether ``text`` has a character beyond ASCII that Pygments' name patterns could match (``≈`` or ``→`` in a
    docstring cannot; ``é`` or ``π`` can): only then does the ASCII lexer's reading differ."""
    starts, ends = _name_ranges()
    return any(ends[index] >= ord(c) for c in set(text) if c > "\x7f" and (index := bisect.bisect_right(starts, ord(c)) - 1) >= 0)


@lru_cache(maxsize=1)
def _name_ranges() -> tuple[list[int], list[int]]:
    """The code points of Pygments' two name classes (read from their spelling: characters and ``a-b`` ranges), as
    sorted starts and ends of ranges."""
    from pygments import unistring

    ranges = []
    for spelled in (unistring.xid_start, unistring.xid_continue):
        index = 0
        while index < len(spelled):
            if index + 2 < len(spelled) and spelled[index + 1] == "-":
                ranges.append((ord(spelled[index]), ord(spelled[index + 2])))
                index += 3
            else:
                ranges.append((ord(spelled[index]), ord(spelled[index])))
                index += 1
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return [start for start, _ in merged], [end for _, end in merged]


@lru_cache(maxsize=16)
def _formatter(cssclass: str = "highlight") -> Any:
    """One formatter per CSS class: building one builds its whole style sheet (~0.4 ms, once per cell before)."""
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(cssclass=cssclass)


@lru_cache(maxsize=1)
def _markdown() -> tuple[Any, Any]:
    """One Markdown parser for every cell (building one compiles its rules, ~2 ms) and its renderer, whose
    ``attachments`` are those of the cell being rendered."""
    import mistune
    from pygments import highlight
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    class Renderer(mistune.HTMLRenderer):  # type: ignore[misc]
        """nbconvert's Markdown rendering: raw HTML passed on (the page's allow-list cleans it), math kept as
        ``$...$`` text, fenced code highlighted by its language, ``attachment:`` pictures as data URIs."""

        def block_code(self, code: str, info: str | None = None) -> str:
            lang = info.strip().split(maxsplit=1)[0] if info and info.strip() else ""
            if lang:
                try:
                    return str(highlight(code, get_lexer_by_name(lang), _formatter()))
                except ClassNotFound:
                    code = f"{lang}\n{code}"
            return str(super().block_code(code, info=info))

        def block_math(self, text: str) -> str:
            return f"$${html.escape(text, quote=False)}$$"

        def inline_math(self, text: str) -> str:
            return f"${html.escape(text, quote=False)}$"

        def latex_environment(self, name: str, body: str) -> str:
            name, body = html.escape(name, quote=False), html.escape(body, quote=False)
            return f"\\begin{{{name}}}{body}\\end{{{name}}}"

        attachments: Mapping[str, Any] = {}

        def image(self, text: str, url: str, title: str | None = None) -> str:
            if url.startswith("attachment:"):
                bundle = self.attachments.get(url[len("attachment:"):])
                if not isinstance(bundle, Mapping) or not bundle:  # dropped (not PNG or JPEG) or never there:
                    return html.escape(f"[picture not shown: {text}]", quote=False)  # nbconvert raised, losing the page
                mime = next((m for m in ("image/svg+xml", "image/png", "image/jpeg") if m in bundle), next(iter(bundle)))
                url = f"data:{mime};base64,{bundle[mime]}"
            return str(super().image(text, url, title))

    renderer = Renderer(escape=False, allow_harmful_protocols=True)
    markdown = mistune.Markdown(renderer, plugins=[
        mistune.plugins.import_plugin(name) for name in ("strikethrough", "table", "url", "task_lists", "def_list")])
    _math(markdown)
    return markdown, renderer


#: Math as nbconvert reads it: a display block is kept whole as one paragraph (no other rule may split it), and inside a
#: paragraph ``$$..$$``, ``\\[..\\]``, ``$..$``, ``\\(..\\)`` and ``\\begin{env}..\\end{env}`` are math, never Markdown.
_MATH_BLOCK = (r"(?s:(?<!\\)[$]{2}.*?(?<!\\)[$]{2}|\\\\\[.*?\\\\\]"
               r"|\\begin\{(?P<math_env_name>[a-z]*\*?)\}.*?\\end\{(?P=math_env_name)\})")
_MATH_INLINE = {
    "block_math_tex": r"(?s:(?<!\\)\$\$(?P<math_block_tex>.*?)(?<!\\)\$\$)",
    "block_math_latex": r"(?s:(?<!\\)\\\\\[(?P<math_block_latex>.*?)(?<!\\)\\\\\])",
    "inline_math_tex": r"(?s:(?<![$\\])\$(?P<math_inline_tex>.+?)(?<![$\\])\$)",
    "inline_math_latex": r"(?s:(?<!\\)\\\\\((?P<math_inline_latex>.*?)(?<!\\)\\\\\))",
    "latex_environment": r"(?s:\\begin\{(?P<math_env_name>[a-z]*\*?)\}(?P<math_env_body>.*?)\\end\{(?P=math_env_name)\})",
}
#: A heading needs no space after its ``#`` in Jupyter.
_ATX_HEADING = r"^ {0,3}(?P<atx_1>#{1,6})(?!#+)(?P<atx_2>[ \t]*(.*?)?)$"


def _math(md: Any) -> None:
    """The mistune plugin of nbconvert's math rules, written for mistune 3's plugin interface."""

    def paragraph(block: Any, m: re.Match[str], state: Any) -> int:
        state.add_paragraph(m[0])
        return m.end()

    def token(kind: str, group: str) -> Callable[[Any, re.Match[str], Any], int]:
        def parse(inline: Any, m: re.Match[str], state: Any) -> int:
            state.append_token({"type": kind, "raw": m.group(group)})
            return m.end()
        return parse

    def environment(inline: Any, m: re.Match[str], state: Any) -> int:
        state.append_token({"type": "latex_environment",
                            "attrs": {"name": m.group("math_env_name"), "body": m.group("math_env_body")}})
        return m.end()

    md.block.register("atx_heading", _ATX_HEADING, lambda block, m, state: block.parse_atx_heading(m, state))
    md.block.register("multiline_math", _MATH_BLOCK, paragraph, before=md.block.rules[0])
    parsers = {"block_math_tex": token("block_math", "math_block_tex"),
               "block_math_latex": token("block_math", "math_block_latex"),
               "inline_math_tex": token("inline_math", "math_inline_tex"),
               "inline_math_latex": token("inline_math", "math_inline_latex"), "latex_environment": environment}
    first = md.inline.rules[0]  # math before any other inline rule, in this order
    for name, pattern in _MATH_INLINE.items():
        md.inline.register(name, pattern, parsers[name], before=first)


def plain_sources(cells: list[Mapping[str, Any]]) -> frozenset[str]:
    """The sources of code and Markdown cells to be shown as plain text (``RICH_CELL_CHARS``), in the page's order:
    decided by the notebook alone, so the same notebook always gets the same page."""
    rich, plain = 0, set()
    for cell in cells:
        source = cell.get("source", "")
        if cell.get("cell_type") in ("code", "markdown") and isinstance(source, str):
            if len(source) > RICH_CELL_CHARS or rich + len(source) > RICH_PAGE_CHARS:
                plain.add(source)
            else:
                rich += len(source)
    return frozenset(plain)


@contextmanager
def _showing_plain(cells: list[Mapping[str, Any]]) -> Iterator[None]:
    global _plain
    _plain = plain_sources(cells)
    try:
        yield
    finally:
        _plain = frozenset()


def _plain_html(source: str, css_class: str) -> str:
    shown = html.escape(source[:PLAIN_CELL_CHARS], quote=False)
    if len(source) > PLAIN_CELL_CHARS:
        shown += f"\n\n[{len(source) - PLAIN_CELL_CHARS:,} more characters not shown here: the annotated notebook has the whole cell]"
    return f'<div class="{css_class}"><pre>{shown}</pre></div>\n'


def _rendered_markdown(source: str) -> str:
    """A cell's Markdown (without attachments) as HTML, not yet cleaned."""
    if source in _plain:
        return _plain_html(source, "plain-cell")
    return _memo("markdown", source, lambda: str(_markdown()[0](source)))


@pass_context
def markdown2html(context: Context, source: str) -> str:
    cell = context.get("cell") or {}
    attachments = cell.get("attachments") or {}
    if not attachments or source in _plain:
        return _rendered_markdown(source)
    markdown, renderer = _markdown()
    renderer.attachments = attachments
    try:
        return str(markdown(source))
    finally:
        renderer.attachments = {}


def _uuid4() -> Any:
    """For the templates' JavaScript and widget outputs, which annotated notebooks never have: uuid imported then."""
    import uuid

    return uuid.uuid4()


@lru_cache(maxsize=1)
def _environment(safe_html: Callable[[str], str]) -> Environment:
    root = nbconvert_templates()
    loader = FileSystemLoader([str(root / "lab"), str(root / "base"), str(root), str(template_dir())])  # nbconvert's order
    # No autoescape, as in nbconvert: its templates escape with their filters, and Markdown comes out as HTML.
    env = Environment(loader=ChoiceLoader([loader]), extensions=["jinja2.ext.loopcontrols"],
                      bytecode_cache=compiled_templates())
    env.globals["uuid4"] = _uuid4
    kind = _safe_kinds[safe_html] = f"safe:{next(_cleaners)}"  # what one allow-list made is never taken for another's
    cleaned = lambda text: _memo(kind, text, lambda: safe_html(text))
    env.filters.update({
        "markdown2html": markdown2html, "safe_html": cleaned, "highlight_code": highlight_code, "ansi2html": ansi2html,
        "strip_files_prefix": strip_files_prefix, "get_metadata": get_metadata, "filter_data_type": filter_data_type,
        "escape_html": lambda s: html.escape(str(s)), "escape_html_keep_quotes": lambda s: html.escape(str(s), quote=False),
        "escape_html_script": lambda s: s.replace("/", "\\/"), "json_dumps": json.dumps,
        "posix_path": lambda s: str(s).replace("\\", "/"), "clean_html": cleaned,
        "text_base64": lambda s: __import__("base64").b64encode(str(s).encode()).decode(),
    })
    return env


def warm_cells(cells: list[Mapping[str, Any]], safe_html: Callable[[str], str]) -> None:
    """Put into the memo what the page's filters will make of these cells' sources (their code highlighted, their
    Markdown rendered and cleaned), without rendering a page: the filter calls the template makes, in its order."""
    cleaned = _environment(safe_html).filters["safe_html"]
    with _showing_plain(cells):
        for cell in cells:
            if cell.get("cell_type") == "code":
                highlight_code(cell.get("source", ""))
            elif cell.get("cell_type") == "markdown" and not cell.get("attachments"):
                cleaned(_rendered_markdown(cell.get("source", "")))


@lru_cache(maxsize=1)
def _pygments_css() -> str:
    from jupyterlab_pygments import JupyterStyle
    from pygments.formatters import HtmlFormatter

    return str(HtmlFormatter(style=JupyterStyle).get_style_defs(".highlight"))


def render(notebook: Mapping[str, Any], title: str, safe_html: Callable[[str], str],
           template: str = "feedback-notebook.html.j2") -> str:
    """The page of ``notebook`` (titled ``title``), every Markdown cell through ``safe_html``."""
    env = _environment(safe_html)

    def include_css(name: str) -> Markup:
        source = env.loader.get_source(env, name)[0] if env.loader else ""
        return Markup(f'<style type="text/css">\n{source}</style>')

    resources = {"metadata": {"name": title}, "global_content_filter": CONTENT, "theme": "light",
                 "include_css": include_css, "inlining": {"css": [_pygments_css()]}, "language_code": "en",
                 "should_sanitize_html": False, "should_not_encode_svg": False, "output_mimetype": "text/html"}
    with _showing_plain(notebook.get("cells", [])):
        return env.get_template(template).render(nb=notebook, resources=resources)
