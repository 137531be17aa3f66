"""Mutation operators: the exact mutants of tiny functions, one operator at a time, and the guarantees every mutant
of the real reference functions keeps (compiles, defines the function, unique, deterministic)."""

from __future__ import annotations

import ast

import pytest

from grader.authoring.mutate import OPERATORS, Mutant, mutants


def changed(mutant: Mutant) -> str:
    """The mutated line(s), as the diff shows them."""
    lines = mutant.diff.splitlines()
    return "\n".join(line[1:].strip() for line in lines if line.startswith("+") and not line.startswith("+++"))


def of(source: str, operator: str, function: str = "f") -> list[str]:
    return [changed(m) for m in mutants(source, function) if m.operator == operator]


def defines(mutant: Mutant) -> bool:
    namespace: dict[str, object] = {}
    exec(compile(mutant.source, "<mutant>", "exec"), namespace)
    return callable(namespace.get(mutant.function))


def test_the_example_of_the_brief() -> None:
    found = [(m.operator, changed(m)) for m in mutants("def f(a, b):\n    return a + b\n", "f")]
    assert found == [("arith-swap", "return a - b"), ("drop-term", "return a"), ("drop-term", "return b")]


def test_arith_swap() -> None:
    assert of("def f(a, b, c, d):\n    return a * b / c // d", "arith-swap") == [
        "return a * b / c / d", "return a * b * c // d", "return a * b // c // d", "return a / b / c // d"]
    assert of("def f(x, y):\n    x += y\n    x *= y\n    return x", "arith-swap") == ["x -= y", "x /= y"]


def test_off_by_one_never_goes_negative_nor_touches_bools() -> None:
    assert of("def f(x):\n    flag = True\n    return x[2, 0]", "off-by-one") == ["return x[3, 0]", "return x[1, 0]", "return x[2, 1]"]


def test_augassign_to_assign() -> None:
    found = [m for m in mutants("def f(x, y):\n    x += y\n    return x", "f") if m.operator == "augassign-to-assign"]
    assert [changed(m) for m in found] == ["x = y"]
    assert found[0].description == "line 2: `+=` → `=`"


def test_drop_term() -> None:
    assert of("def f(a, b, c):\n    return a - b * c", "drop-term") == ["return a", "return b * c", "return a - b", "return a - c"]
    assert of("def f(a, b):\n    return a / b", "drop-term") == []


def test_reduce_swap_on_numpy_functions_and_methods_only() -> None:
    assert of("def f(x):\n    return np.max(x) + x.sum() + max(x)", "reduce-swap") == [
        "return np.mean(x) + x.sum() + max(x)", "return np.sum(x) + x.sum() + max(x)", "return np.min(x) + x.sum() + max(x)",
        "return np.max(x) + x.max() + max(x)", "return np.max(x) + x.mean() + max(x)", "return np.max(x) + x.min() + max(x)"]


def test_slice_bound_swap_needs_both_bounds() -> None:
    assert of("def f(x, a, b, c):\n    return x[a:b, :c]", "slice-bound-swap") == ["return x[b:a, :c]", "return x[a:, :c]"]


def test_axis_swap() -> None:
    assert of("def f(x):\n    return np.sum(x, axis=1)", "axis-swap") == [
        "return np.sum(x, axis=0)", "return np.sum(x, axis=2)", "return np.sum(x, axis=3)"]
    assert of("def f(x):\n    return x.mean(axis=(1, 2))", "axis-swap") == ["return x.mean(axis=(2, 3))"]


def test_hparam_constant_replaces_reads_not_assignments() -> None:
    source = "def f(x, stride, pad):\n    f = 3\n    return (x + 2 * pad - f) // stride"
    assert of(source, "hparam-constant") == [
        "return (x + 2 * 0 - f) // stride", "return (x + 2 * pad - 1) // stride", "return (x + 2 * pad - f) // 1"]


def test_round_swap() -> None:
    assert of("def f(x, y):\n    return int(x / 2) + round(y)", "round-swap") == [
        "return round(x / 2) + round(y)", "return np.ceil(x / 2) + round(y)", "return int(x / 2) + int(y)"]


def test_range_shorten() -> None:
    source = "def f(n, m):\n    for i in range(n):\n        for j in range(1, m, 2):\n            pass"
    assert of(source, "range-shorten") == ["for i in range(n - 1):", "for j in range(1, m - 1, 2):"]


def test_compare_swap_one_operator_at_a_time() -> None:
    assert of("def f(a, b):\n    return (a == b, a != b, a < b, a <= b, a > b, a >= b)", "compare-swap") == [
        "return (a != b, a != b, a < b, a <= b, a > b, a >= b)", "return (a == b, a == b, a < b, a <= b, a > b, a >= b)",
        "return (a == b, a != b, a <= b, a <= b, a > b, a >= b)", "return (a == b, a != b, a < b, a < b, a > b, a >= b)",
        "return (a == b, a != b, a < b, a <= b, a >= b, a >= b)", "return (a == b, a != b, a < b, a <= b, a > b, a > b)"]
    assert of("def f(a, b, c):\n    return a < b <= c", "compare-swap") == ["return a <= b <= c", "return a < b < c"]


def test_tuple_swap() -> None:
    assert of("def f(X, p):\n    return np.pad(X, ((0, 0), (p, p), (0, 0)))", "tuple-swap") == [
        "return np.pad(X, ((p, p), (0, 0), (0, 0)))", "return np.pad(X, ((0, 0), (0, 0), (p, p)))"]


def test_regroup() -> None:
    assert of("def f(d, h, w):\n    return d / (h * w)", "regroup") == ["return d / h * w"]


def test_every_operator_has_a_test_above() -> None:
    assert set(OPERATORS) == {"arith-swap", "off-by-one", "augassign-to-assign", "drop-term", "reduce-swap", "slice-bound-swap",
                              "axis-swap", "hparam-constant", "round-swap", "range-shorten", "compare-swap", "tuple-swap",
                              "regroup"}


CELL = '''# GRADED FUNCTION: g
import numpy as np

@staticmethod
def g(x, n=2, pad=1):
    """Sum of x + 1 over 3 axes; stride 2, pad 0."""
    # a comment inside
    return np.sum(x + 1) * pad

def after(y):
    return y + 1  # untouched
'''


def test_docstring_signature_decorators_and_the_rest_of_the_cell_are_never_touched() -> None:
    found = mutants(CELL, "g")
    assert found
    original = ast.parse(CELL).body[1]
    assert isinstance(original, ast.FunctionDef)
    for mutant in found:
        tree = ast.parse(mutant.source)
        assert ast.dump(tree.body[0]) == ast.dump(ast.parse(CELL).body[0])  # the import
        (function,) = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "g"]
        assert ast.get_docstring(function, clean=False) == ast.get_docstring(original, clean=False)
        assert ast.dump(function.args) == ast.dump(original.args)
        assert ast.dump(function.decorator_list[0]) == ast.dump(original.decorator_list[0])
        assert mutant.source.startswith("# GRADED FUNCTION: g\nimport numpy as np\n\n@staticmethod\ndef g(")
        assert mutant.source.endswith("\ndef after(y):\n    return y + 1  # untouched\n")
        assert mutant.line == 8 and mutant.description.startswith("line 8: ")


def test_unknown_function() -> None:
    with pytest.raises(ValueError, match="no top-level function 'h'"):
        mutants(CELL, "h")


# With the operators as specified, the one-line reference functions have few mutation sites: create_mask_from_window is
# `x == np.max(x)` (4 mutants), distribute_value `dz / (n_H * n_W)` (5), zero_pad and conv_single_step 9 each.
MINIMUM = {"zero_pad": 9, "conv_single_step": 9, "conv_forward": 10, "pool_forward": 10, "conv_backward": 10,
           "create_mask_from_window": 4, "distribute_value": 5, "pool_backward": 10}


def test_real_reference_functions(solution_cells: dict[str, str]) -> None:
    assert set(solution_cells) == set(MINIMUM)
    for name, source in solution_cells.items():
        found = mutants(source, name)
        assert len(found) >= MINIMUM[name], name
        assert found == mutants(source, name)  # deterministic
        assert len({m.source for m in found}) == len(found)  # no duplicates
        original = ast.unparse(ast.parse(source).body[0])
        lines = source.splitlines()
        for mutant in found:
            assert mutant.function == name and mutant.operator in OPERATORS
            assert defines(mutant), mutant.description
            assert ast.unparse(ast.parse(mutant.source).body[0]) != original
            assert mutant.description.startswith(f"line {mutant.line}: ")
            assert lines[mutant.line - 1].strip() and not lines[mutant.line - 1].lstrip().startswith("#")
            assert mutant.diff.startswith(f"--- {name} (reference)\n+++ {name} ({mutant.operator})\n@@")
