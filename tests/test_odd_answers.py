"""Whatever part of an answer a wrong function gets wrong, and however oddly, the public and hidden checks of
every assignment fail it with CheckFailed. Any other exception in a check is reported as the grader's error,
never the student's: a check that indexes, compares or converts a part it has not checked first would turn a
student's mistake into a grader error (and the grade into a staff ticket)."""

from __future__ import annotations

import contextlib
import copy
import io
import warnings
from collections.abc import Iterator
from functools import cache
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest

from grader.checks import CheckFailed
from grader.config import load_assignment
from grader.grading.suite import load_reference
from tests.conftest import ROOT, load_module

ASSIGNMENTS = ("cnn_step_by_step", "optimization_methods")
SEED = 2026

#: What a wrong function hands back in place of one part of the right answer.
ODD_PARTS = [None, 10**400, "text", np.zeros(()), np.zeros((1, 1, 1)), np.full((2, 3), np.nan), {"key": 1}, (1, 2),
             np.array(["a", "b"])]


@cache
def _course(name: str) -> tuple[SimpleNamespace, ModuleType, ModuleType]:
    reference = load_reference(load_assignment(name, ROOT))
    public = load_module(ROOT / "solutions" / name / "public_tests.py", f"{name}_public_odd")
    hidden = load_module(ROOT / "solutions" / name / "hidden_tests.py", f"{name}_hidden_odd")
    return reference, public, hidden


def _paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    """Where a part of ``value`` sits: every item of its tuples, lists and dicts, at any depth."""
    yield path
    if isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))


def _replaced(value: Any, path: tuple, part: Any) -> Any:
    if not path:
        return copy.deepcopy(part)
    if not isinstance(value, (dict, tuple, list)) or path[0] not in (value if isinstance(value, dict) else range(len(value))):
        return value  # another call's answer has another shape (more layers, more mini-batches)
    if isinstance(value, dict):
        return {**value, path[0]: _replaced(value[path[0]], path[1:], part)}
    items = list(value)
    items[path[0]] = _replaced(items[path[0]], path[1:], part)
    return type(value)(items)


def _failed(run: Any) -> bool:
    with warnings.catch_warnings(action="ignore"), contextlib.redirect_stdout(io.StringIO()):
        try:
            run()
        except CheckFailed:
            return True
    return False


@pytest.mark.parametrize(("name", "function"), [(name, f.name) for name in ASSIGNMENTS
                                                for f in load_assignment(name, ROOT).functions])
def test_any_odd_part_of_an_answer_is_the_students_failure(name: str, function: str) -> None:
    reference, public, hidden = _course(name)
    right = getattr(reference, function)
    public_test = getattr(public, f"{function}_test")
    answers: list[Any] = []
    _failed(lambda: public_test(lambda *a, **k: answers.append(right(*a, **k)) or answers[-1]))
    cases = [c for c in hidden.cases(reference, SEED) if c.function == function]
    failures = 0
    for path in _paths(answers[0]):
        for part in ODD_PARTS:
            def odd(*args: Any, path: tuple = path, part: Any = part, **kwargs: Any) -> Any:
                return _replaced(right(*args, **kwargs), path, part)
            failures += _failed(lambda: public_test(odd))
            failures += sum(_failed(lambda case=case: case.run(odd)) for case in cases)
    assert failures, "no odd answer failed any check"
