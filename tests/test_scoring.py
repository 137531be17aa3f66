"""[scoring] optional = ...: how optional functions count, stated on the page, and a results.json whose tests'
scores add up to the total under every policy."""

from __future__ import annotations

import pytest

from grader.config import OPTIONAL_POLICIES, Assignment, Function, load_assignment
from grader.grading.grade import score
from grader.model import CheckResult, GradeReport
from grader.reporting.report import gradescope_results, render, scoring_rule


def _assignment(policy: str, tmp_path) -> Assignment:
    functions = (Function("a", 60), Function("b", 40), Function("c", 10, optional=True), Function("d", 20, optional=True))
    return Assignment("toy", tmp_path, tmp_path, "Toy", "1", "toy.ipynb", functions, optional_scoring=policy)


def _checks(failing: set[str]) -> list[CheckResult]:
    """Three checks per function (so the shares are thirds), all failing for the functions in ``failing``."""
    return [CheckResult(name, f"{name} #{i}", "hidden", "wrong" if name in failing else "passed", failure="values")
            for name in "abcd" for i in range(3)]


def _report(policy: str, failing: set[str], tmp_path) -> GradeReport:
    assignment = _assignment(policy, tmp_path)
    checks = _checks(failing)
    functions, total = score(assignment, checks)
    return GradeReport("toy", "Toy", "s.ipynb", total, assignment.max_score, functions, tuple(checks), scoring=policy)


@pytest.mark.parametrize(("policy", "failing", "total"), [
    ("ungraded", {"b"}, 60),  # the optional functions' 30 points count for nothing
    ("ungraded", set(), 100),
    ("extra-credit-capped", {"b"}, 90),  # 60 + 30, below the cap
    ("extra-credit-capped", {"c"}, 100),  # 100 + 20, capped
    ("extra-credit", {"c"}, 120),  # beyond the maximum
    ("extra-credit", {"a", "b"}, 30),
])
def test_each_policy_scores_and_its_tests_add_up(policy: str, failing: set[str], total: float, tmp_path) -> None:
    report = _report(policy, failing, tmp_path)
    assert report.score == total
    data = gradescope_results(report)
    assert data["score"] == total
    assert sum(t["score"] for t in data["tests"]) == pytest.approx(total, abs=1e-9)
    optional_max = sum(t["max_score"] for t in data["tests"] if t["extra_data"]["function"] in "cd")
    assert optional_max == (0 if policy == "ungraded" else 30)


def test_the_page_states_the_rule_in_one_line(tmp_path) -> None:
    rules = {policy: scoring_rule(_report(policy, {"b"}, tmp_path)) for policy in OPTIONAL_POLICIES}
    assert "earn no points" in rules["ungraded"]
    assert "never above 100" in rules["extra-credit-capped"]
    assert "can exceed 100" in rules["extra-credit"]
    page = render("feedback.html.j2", _report("ungraded", {"b"}, tmp_path), "s")
    assert rules["ungraded"] in page and "ungraded" in page.split(rules["ungraded"])[1]
    assert rules["ungraded"] in render("feedback.md.j2", _report("ungraded", {"b"}, tmp_path), "s")


def test_cnn_optional_functions_are_ungraded_and_unknown_policies_refused(root, tmp_path) -> None:
    assert load_assignment("cnn_step_by_step", root).optional_scoring == "ungraded"
    folder = tmp_path / "solutions" / "toy"
    folder.mkdir(parents=True)
    (folder / "assignment.toml").write_text('title = "t"\nversion = "1"\nnotebook = "t.ipynb"\n[scoring]\n'
                                            'optional = "bonus"\n[[functions]]\nname = "f"\npoints = 1\n')
    with pytest.raises(Exception, match="extra-credit-capped"):
        load_assignment("toy", tmp_path)
