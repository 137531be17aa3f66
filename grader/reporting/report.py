"""GradeReport → results.json (Gradescope's format), feedback.html and feedback.md. Reporters only read."""

from __future__ import annotations

import contextlib
import dataclasses
import html
import json
import os
import re
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.model import CheckResult, GradeReport
from grader.text import clean_line, clean_text

if TYPE_CHECKING:
    from jinja2 import BytecodeCache, Environment

# Student-made text (exception messages, printed output) is capped before any report shows it, so that one huge
# message cannot make a huge page or results.json.
SHOWN_LIMIT = 8_192  # per message, printed output, note or error
TEST_OUTPUT_LIMIT = 16_384  # per test's "output" in results.json
OUTPUT_LIMIT = 65_536  # the top-level "output" in results.json

FAILURE_LABELS = {"values": "wrong values", "shape": "wrong shape", "type": "wrong type", "structure": "wrong structure",
                  "modified": "input modified"}
OUTCOME_LABELS = {"passed": "passed", "error": "exception", "timeout": "timeout", "memory": "out of memory",
                  "crash": "crashed", "missing": "missing", "grader-error": "grader error (not your fault)"}


def label(check: CheckResult) -> str:
    if check.outcome == "wrong":
        return FAILURE_LABELS.get(check.failure, "wrong")
    return OUTCOME_LABELS.get(check.outcome, check.outcome)


@dataclass(frozen=True)
class FailureGroup:
    """Failed checks of one function that failed the same way: shown once, with every check listed, unless the group
    is the whole function (``whole``: not started, or not graded at all), which one line says all about."""

    label: str
    message: str
    output: str
    called: str
    checks: tuple[CheckResult, ...]
    whole: bool = False

    @property
    def image(self) -> str:
        return next((c.image for c in self.checks if c.image), "")

    @property
    def image_alt(self) -> str:
        return next((c.image_alt for c in self.checks if c.image), "")


# Shapes, numbers and cell positions vary from check to check for the same mistake: masked, one mistake is one block.
_SHAPE = re.compile(r"\((?:\s*-?\d+\s*,)*\s*-?\d*\s*\)")
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
#: A function still as the template left it: a name it never set, None returned, or NotImplementedError.
_NOT_STARTED = re.compile(r"NameError: name '\w+' is not defined|NotImplementedError|, got None\.|should be None")


#: A count changes the noun's number ("1 wrong value", "4 wrong values"): the same mistake either way.
_PLURAL = re.compile(r"\b(value|item|key|element)s\b")
#: An index of any length into an array (``Z[0, 1]``, ``Z[1, 0, 2]``).
_INDEX = re.compile(r"\[\s*-?\d+(?:\s*,\s*-?\d+)*\s*\]")


def normalised(message: str) -> str:
    """``message`` with shapes, numbers and plurals masked: what stays is the kind of failure."""
    return _PLURAL.sub(r"\1", _NUMBER.sub("#", _INDEX.sub("[…]", _SHAPE.sub("(…)", message))))


def not_started(report: GradeReport, function: str) -> bool:
    """Every check of ``function`` failed the way an untouched template fails, and its code is the template's (when
    the grader could compare)."""
    own = [c for c in report.checks if c.function == function]
    return bool(own) and function not in report.edited and all(
        not c.passed and c.outcome in ("error", "wrong") and _NOT_STARTED.search(c.message) for c in own)


def failure_groups(report: GradeReport, function: str) -> list[FailureGroup]:
    failed = tuple(c for c in report.checks if c.function == function and not c.passed)
    if failed and not report.error and not_started(report, function):
        optional = any(f.optional for f in report.functions if f.name == function)
        what = "optional, not attempted" if optional else "not started"
        reason = failed[0].message.strip().splitlines()[-1]
        return [FailureGroup(what, f"{function} looks untouched: all {len(failed)} checks fail with {reason}",
                             "", "", failed, whole=True)]
    if failed and all(c.outcome == "missing" and c.message == failed[0].message for c in failed):
        return [FailureGroup("not graded", failed[0].message, "", "", failed, whole=True)]  # why, once: no check ran
    groups: dict[tuple[str, str, str, str], list[CheckResult]] = {}
    for check in failed:
        groups.setdefault((check.kind, label(check), normalised(check.message), check.output), []).append(check)
    return [FailureGroup(key[1], checks[0].message, key[3], checks[0].called, tuple(checks)) for key, checks in groups.items()]


_CARET = re.compile(r" *\^")


def pieces(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into runs of lines that may wrap and, kept whole (True), each line of code with a caret under it:
    wrapped on a phone, the caret would point at the wrong character."""
    lines = text.split("\n")
    found: list[tuple[str, bool]] = []
    run: list[str] = []
    index = 0
    while index < len(lines):
        if index + 1 < len(lines) and _CARET.fullmatch(lines[index + 1]) and lines[index].strip():
            if run:
                found.append(("\n".join(run), False))
                run = []
            found.append(("\n".join(lines[index : index + 2]), True))
            index += 2
        else:
            run.append(lines[index])
            index += 1
    if run:
        found.append(("\n".join(run), False))
    return found


def fmt(number: float) -> str:
    return f"{number:g}"


def scoring_rule(report: GradeReport) -> str:
    """The scoring policy in one sentence, for the top of the feedback page."""
    if not any(f.optional for f in report.functions):
        return f"Scoring: {fmt(report.max_score)} points, from the functions below; each earns its points when it passes every check."
    head = f"Scoring: the required functions make up the {fmt(report.max_score)} points"
    if report.scoring == "ungraded":
        return f"{head}; optional functions are practice and earn no points."
    if report.scoring == "extra-credit":
        return f"{head}; optional functions earn extra credit on top, so the total can exceed {fmt(report.max_score)}."
    return f"{head}; optional functions earn extra credit that makes up for missed points, never above {fmt(report.max_score)}."


def _shares(points: float, count: int) -> list[float]:
    """``points`` split over ``count`` checks so that the shares add up to exactly ``points``."""
    if count == 0:
        return []
    share = points / count
    return [share] * (count - 1) + [points - share * (count - 1)]


def bounded(report: GradeReport) -> GradeReport:
    """The report with every student-made string cleaned and capped: what all reports show."""
    checks = tuple(dataclasses.replace(c, message=clean_text(c.message, SHOWN_LIMIT), output=clean_text(c.output, SHOWN_LIMIT),
                                       called=clean_text(c.called, SHOWN_LIMIT)) for c in report.checks)
    return dataclasses.replace(report, checks=checks, error=clean_text(report.error, SHOWN_LIMIT),
                               notes=tuple(clean_text(n, SHOWN_LIMIT) for n in report.notes),
                               submission=clean_text(report.submission, SHOWN_LIMIT))


# markdown_text always follows other text on its line, so a leading # or - cannot start a heading or a list there.
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")


def fence(text: str) -> str:
    """A fenced code block that ``text`` cannot close: its fence is longer than any backtick run inside."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    marker = "`" * max(3, longest + 1)
    return f"{marker}\n{text}\n{marker}"


def code_span(text: str) -> str:
    """Inline code that ``text`` cannot close (CommonMark: a backtick run no run inside matches)."""
    text = " ".join(text.splitlines())
    runs = {len(run) for run in re.findall("`+", text)}
    ticks = "`" * next(n for n in range(1, len(runs) + 2) if n not in runs)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def markdown_text(text: str) -> str:
    """One line of plain Markdown text: no raw HTML (entities) and no emphasis, links, code or table cells."""
    text = html.escape(" ".join(str(text).splitlines()), quote=False)
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


def template_dir() -> Path:
    """Templates ship inside the wheel as grader/templates; in a checkout they are the top-level templates/."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "templates"
    return packaged if packaged.is_dir() else package.parent / "templates"


def compiled_templates() -> BytecodeCache | None:
    """Jinja's cache of compiled templates (a private folder of this user's, keyed by each template's source):
    compiling feedback.html and summary.html took ~0.08 s of every command. None where it cannot be made."""
    from jinja2 import FileSystemBytecodeCache

    try:
        return FileSystemBytecodeCache()
    except (OSError, RuntimeError):
        return None


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # Jinja here, not at the top: ``grader check`` prints text and imports this module only for ``label`` (~0.02 s)
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(template_dir()), autoescape=select_autoescape(["html", "html.j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                      bytecode_cache=compiled_templates())
    env.globals.update(label=label, fmt=fmt, failure_groups=failure_groups, scoring_rule=scoring_rule, pieces=pieces)
    env.filters.update(fence=fence, code=code_span, md=markdown_text)
    return env


def warm_up() -> None:
    """Load Jinja and the feedback page's template now, while the sandbox loads the first notebook, rather than
    after grading (a child forked afterwards, the views' writer, then finds Jinja loaded too)."""
    _environment().get_template("feedback.html.j2")


@lru_cache(maxsize=4)
def page_script(name: str) -> tuple[str, str]:
    """One of our scripts (templates/``name``) for a page, and the Content-Security-Policy source that lets exactly
    that text run: the page runs nothing else, whatever a student managed to get into it."""
    import base64
    import hashlib

    text = (template_dir() / name).read_text(encoding="utf-8")
    return text, f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


def render_page(template: str, **context: Any) -> str:
    """A rendered page, made valid UTF-8 without control characters here, whatever strings it was given."""
    return clean_text(_environment().get_template(template).render(**context), limit=None)


def render(template: str, report: GradeReport, name: str, annotated: bool = False) -> str:
    """``annotated``: feedback.ipynb and feedback-notebook.html are beside the page (grader/reporting/annotate.py), link them."""
    percent = round(100 * report.score / report.max_score) if report.max_score else 0
    return render_page(template, report=bounded(report), name=clean_line(name), percent=percent, annotated=annotated)


def _check_output(check: CheckResult) -> str:
    lines = [f"{label(check)}" + (f" ({check.params})" if check.params else "")]
    if check.called:
        lines.append(f"Called {check.called}")
    if check.message and not check.passed:
        lines.append(check.message)
    if check.output:
        lines.append("Printed:\n" + check.output)
    return "\n".join(lines)


def _clean_strings(value: Any) -> Any:
    """Every string in a JSON-able structure made valid UTF-8 without control characters (lengths are capped before)."""
    if isinstance(value, str):
        return clean_text(value, limit=None)
    if isinstance(value, dict):
        return {_clean_strings(k): _clean_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_strings(v) for v in value]
    return value


def gradescope_results(report: GradeReport) -> dict[str, Any]:
    """Gradescope's autograder results: hidden checks stay hidden until the grades are published; every string is
    clean and every output capped, so the file stays small and valid whatever the submission raised or printed."""
    report = bounded(report)
    tests = []
    required = sum(f.score for f in report.functions if not f.optional)
    extra = sum(f.score for f in report.functions if f.optional)
    # Capped extra credit counts only as far as the cap: the tests' scores add up to the total.
    kept = min(1.0, max(0.0, report.score - required) / extra) if extra else 1.0
    for function in report.functions:
        own = [c for c in report.checks if c.function == function.name]
        earned = (kept if function.optional else 1.0) if function.passed else 0.0
        for check, share in zip(own, _shares(function.points, len(own))):
            tests.append({
                "name": f"{check.function}: {check.name}",
                "score": share * earned,
                "max_score": share,
                "status": "passed" if check.passed else "failed",
                "visibility": "visible" if check.kind == "public" else "after_published",
                "output": clean_text(_check_output(check), TEST_OUTPUT_LIMIT),
                "extra_data": {"function": check.function, "kind": check.kind, "outcome": check.outcome,
                               "failure": check.failure, "params": check.params, "seconds": check.duration},
            })
    summary = [report.error] if report.error else []
    summary.append(scoring_rule(report))
    summary += [f"{f.name}: {fmt(f.score)} / {fmt(f.points)}" + (" (optional)" if f.optional else "") for f in report.functions]
    summary += [f"{m.function}: this looks like a known mistake: {m.title}. {m.hint}" for m in report.mistakes]
    summary += list(report.notes)
    return _clean_strings({
        "score": report.score,
        "execution_time": report.execution_time,
        "output": clean_text("\n".join(summary), OUTPUT_LIMIT),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"assignment": report.assignment, "max_score": report.max_score, "submission": report.submission,
                       "mistakes": [{"function": m.function, "id": m.id, "title": m.title} for m in report.mistakes],
                       "environment": report.extra.get("environment", {})},
    })


def unwritten_results(report: GradeReport, problem: str) -> dict[str, Any]:
    """A minimal results.json for a submission whose reports could not be written: its score and why."""
    return _clean_strings({
        "score": report.score,
        "output": clean_text(problem, OUTPUT_LIMIT),
        "visibility": "visible",
        "tests": [],
        "extra_data": {"assignment": report.assignment, "max_score": report.max_score,
                       "submission": clean_text(report.submission, SHOWN_LIMIT), "report_error": clean_text(problem, OUTPUT_LIMIT)},
    })


def write_atomic(path: Path, text: str) -> None:
    """Readers never see a half-written file: write beside it, then rename; on any failure the temp file goes. The text
    is written as built (no newline translation: an LMS's CSV keeps its CRLF)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", dir=path.parent, prefix=f".{path.name}.",
                                      delete=False)
    try:
        with tmp:
            tmp.write(text)
        os.replace(tmp.name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp.name)
        raise


def results_json(results: dict[str, Any]) -> str:
    """UTF-8 JSON (not \\u escapes: its strings are clean, and a capped message stays a few KB)."""
    return json.dumps(results, indent=2, ensure_ascii=False) + "\n"


def write_reports(report: GradeReport, folder: Path, name: str, annotated: bool = False) -> None:
    write_atomic(folder / "results.json", results_json(gradescope_results(report)))
    write_atomic(folder / "feedback.html", render("feedback.html.j2", report, name, annotated))
    write_atomic(folder / "feedback.md", render("feedback.md.j2", report, name))
