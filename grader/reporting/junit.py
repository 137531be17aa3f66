"""Reports → JUnit XML for CI: one testsuite per submission, one testcase per check."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from grader.model import GradeReport
from grader.reporting.report import SHOWN_LIMIT, label
from grader.text import clean_text


def _clean_tree(root: ET.Element) -> None:
    """Every text and attribute made of characters XML 1.0 allows, and capped: the file always parses."""
    for element in root.iter():
        if element.text:
            element.text = clean_text(element.text, SHOWN_LIMIT)
        for key, value in list(element.attrib.items()):
            element.set(key, clean_text(value, SHOWN_LIMIT))


def junit_xml(named: Sequence[tuple[str, GradeReport]]) -> str:
    root = ET.Element("testsuites", name="grader")
    for name, report in named:
        failures = sum(not c.passed for c in report.checks)
        suite = ET.SubElement(root, "testsuite", name=name, tests=str(len(report.checks)), failures=str(failures),
                              time=f"{report.execution_time:.3f}")
        for check in report.checks:
            case = ET.SubElement(suite, "testcase", classname=f"{name}.{check.function}", name=check.name,
                                 time=f"{check.duration:.4f}")
            if not check.passed:
                failure = ET.SubElement(case, "failure", type=check.outcome, message=label(check))
                failure.text = check.message if check.kind == "public" else f"{label(check)} ({check.params})"
        if report.error:
            ET.SubElement(suite, "system-err").text = report.error
    _clean_tree(root)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
