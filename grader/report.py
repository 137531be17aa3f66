"""GradeReport → results.json (Gradescope's format), feedback.html and feedback.md. Reporters only read."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from grader.model import CheckResult, GradeReport

FAILURE_LABELS = {"values": "wrong values", "shape": "wrong shape", "type": "wrong type", "structure": "wrong structure",
                  "modified": "input modified"}
OUTCOME_LABELS = {"passed": "passed", "error": "exception", "timeout": "timeout", "memory": "out of memory",
                  "crash": "crashed", "missing": "missing"}


def label(check: CheckResult) -> str:
    if check.outcome == "wrong":
        return FAILURE_LABELS.get(check.failure, "wrong")
    return OUTCOME_LABELS.get(check.outcome, check.outcome)


@dataclass(frozen=True)
class FailureGroup:
    """Failed checks of one function that failed the same way: shown once, with every check listed."""

    label: str
    message: str
    output: str
    called: str
    checks: tuple[CheckResult, ...]

    @property
    def image(self) -> str:
        return next((c.image for c in self.checks if c.image), "")


def failure_groups(report: GradeReport, function: str) -> list[FailureGroup]:
    groups: dict[tuple[str, str, str, str, str], list[CheckResult]] = {}
    for check in report.checks:
        if check.function == function and not check.passed:
            groups.setdefault((check.kind, label(check), check.message, check.output, check.called), []).append(check)
    return [FailureGroup(key[1], key[2], key[3], key[4], tuple(checks)) for key, checks in groups.items()]


def fmt(number: float) -> str:
    return f"{number:g}"


def template_dir() -> Path:
    """Templates ship inside the wheel as grader/templates; in a checkout they are the top-level templates/."""
    packaged = Path(__file__).with_name("templates")
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "templates"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(template_dir()), autoescape=select_autoescape(["html", "html.j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.globals.update(label=label, fmt=fmt, failure_groups=failure_groups)
    return env


def render_page(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)


def render(template: str, report: GradeReport, name: str) -> str:
    percent = round(100 * report.score / report.max_score) if report.max_score else 0
    return render_page(template, report=report, name=name, percent=percent)


def _check_output(check: CheckResult) -> str:
    lines = [f"{label(check)}" + (f" ({check.params})" if check.params else "")]
    if check.called:
        lines.append(f"Called {check.called}")
    if check.message and not check.passed:
        lines.append(check.message)
    if check.output:
        lines.append("Printed:\n" + check.output)
    return "\n".join(lines)


def gradescope_results(report: GradeReport) -> dict[str, Any]:
    """Gradescope's autograder results: hidden checks stay hidden until the grades are published."""
    tests = []
    for function in report.functions:
        own = [c for c in report.checks if c.function == function.name]
        share = function.points / len(own) if own else 0.0
        for check in own:
            tests.append({
                "name": f"{check.function}: {check.name}",
                "score": share if function.passed else 0.0,
                "max_score": share,
                "status": "passed" if check.passed else "failed",
                "visibility": "visible" if check.kind == "public" else "after_published",
                "output": _check_output(check),
                "extra_data": {"function": check.function, "kind": check.kind, "outcome": check.outcome,
                               "failure": check.failure, "params": check.params, "seconds": check.duration},
            })
    summary = [report.error] if report.error else []
    summary += [f"{f.name}: {fmt(f.score)} / {fmt(f.points)}" + (" (optional)" if f.optional else "") for f in report.functions]
    summary += [f"{m.function}: this looks like a known mistake: {m.title}. {m.hint}" for m in report.mistakes]
    summary += list(report.notes)
    return {
        "score": report.score,
        "execution_time": report.execution_time,
        "output": "\n".join(summary),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"assignment": report.assignment, "max_score": report.max_score, "submission": report.submission,
                       "mistakes": [{"function": m.function, "id": m.id, "title": m.title} for m in report.mistakes]},
    }


def write_atomic(path: Path, text: str) -> None:
    """Readers never see a half-written file: write beside it, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(text)
    os.replace(tmp.name, path)


def write_reports(report: GradeReport, folder: Path, name: str) -> None:
    write_atomic(folder / "results.json", json.dumps(gradescope_results(report), indent=2) + "\n")
    write_atomic(folder / "feedback.html", render("feedback.html.j2", report, name))
    write_atomic(folder / "feedback.md", render("feedback.md.j2", report, name))
