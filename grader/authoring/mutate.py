"""Mutation operators that mirror real student mistakes, applied one site at a time to a reference function.

A hidden test suite earns its keep only if it fails on plausible wrong answers: each mutant is the reference with one
such mistake (a flipped sign, an off-by-one bound, a forgotten bias, ``np.mean`` for ``np.max`` ...).
"""

from __future__ import annotations

import ast
import copy
import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar


@dataclass(frozen=True)
class Mutant:
    function: str  # name of the mutated function
    operator: str  # key of OPERATORS
    description: str  # e.g. "line 12: `+` → `-`"
    line: int  # 1-based line of the mutated site in the given source
    source: str  # the whole given source, with the function re-rendered by ast.unparse (its comments are lost)
    diff: str  # unified diff of the unparsed function, original → mutant


Alternative = tuple[ast.AST, str]  # replacement node, and what changed ("`a + b` → `a`")
Operator = Callable[[ast.AST], list[Alternative]]
N = TypeVar("N", bound=ast.AST)

_SYMBOL: dict[type[ast.AST], str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
}
_ARITH: dict[type[ast.AST], tuple[type[ast.operator], ...]] = {
    ast.Add: (ast.Sub,), ast.Sub: (ast.Add,), ast.Mult: (ast.Div,), ast.Div: (ast.Mult, ast.FloorDiv), ast.FloorDiv: (ast.Div,),
}
_COMPARE: dict[type[ast.AST], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
}
_REDUCERS = ("max", "mean", "sum", "min")
_HPARAMS = {"stride": 1, "pad": 0, "f": 1}  # the value that makes the hyperparameter vanish from the formula


def _with(node: N, **fields: Any) -> N:
    """A shallow copy of node with some fields replaced: operators never touch the tree they inspect."""
    new = copy.copy(node)
    for name, value in fields.items():
        setattr(new, name, value)
    return new


def _swap(old: ast.AST, new: ast.AST) -> Alternative:
    return ast.copy_location(new, old), f"`{ast.unparse(old)}` → `{ast.unparse(new)}`"


def arith_swap(node: ast.AST) -> list[Alternative]:
    """`+`↔`-`, `*`↔`/`, `//`↔`/`, in expressions and augmented assignments alike."""
    if not isinstance(node, (ast.BinOp, ast.AugAssign)):
        return []
    eq = "=" if isinstance(node, ast.AugAssign) else ""
    old = type(node.op)
    return [(_with(node, op=new()), f"`{_SYMBOL[old]}{eq}` → `{_SYMBOL[new]}{eq}`") for new in _ARITH.get(old, ())]


def off_by_one(node: ast.AST) -> list[Alternative]:
    """An integer literal n → n + 1 and n - 1 (never negative)."""
    if not (isinstance(node, ast.Constant) and type(node.value) is int):
        return []
    return [_swap(node, ast.Constant(n)) for n in (node.value + 1, node.value - 1) if n >= 0]


def augassign_to_assign(node: ast.AST) -> list[Alternative]:
    """`x += y` → `x = y`: overwriting where overlapping windows must accumulate."""
    if not isinstance(node, ast.AugAssign):
        return []
    new = ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)
    return [(new, f"`{_SYMBOL.get(type(node.op), '?')}=` → `=`")]


def drop_term(node: ast.AST) -> list[Alternative]:
    """`a + b`, `a - b`, `a * b` → `a` and → `b`: a forgotten bias, padding or `* dZ`."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult))):
        return []
    return [_swap(node, node.left), _swap(node, node.right)]


def reduce_swap(node: ast.AST) -> list[Alternative]:
    """`np.max(x)` / `x.max()` → the other reductions among max, mean, sum, min."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _REDUCERS):
        return []
    func = node.func
    return [(_with(node, func=_with(func, attr=name)), f"`{ast.unparse(func)}` → `{ast.unparse(_with(func, attr=name))}`")
            for name in _REDUCERS if name != func.attr]


def slice_bound_swap(node: ast.AST) -> list[Alternative]:
    """`a:b` → `b:a` and → `a:`."""
    if not (isinstance(node, ast.Slice) and node.lower is not None and node.upper is not None):
        return []
    return [_swap(node, _with(node, lower=node.upper, upper=node.lower)), _swap(node, _with(node, upper=None))]


def axis_swap(node: ast.AST) -> list[Alternative]:
    """`axis=k` → every other axis of a 4-D batch; a tuple of axes shifts by one."""
    if not (isinstance(node, ast.keyword) and node.arg == "axis"):
        return []
    try:
        axis = ast.literal_eval(node.value)
    except ValueError:
        return []
    if type(axis) is int:
        others: list[ast.expr] = [ast.Constant(k) for k in range(4) if k != axis]
    elif isinstance(axis, tuple) and all(type(k) is int for k in axis):
        others = [ast.Tuple([ast.Constant(k + 1) for k in axis], ast.Load())]
    else:
        return []
    return [_swap(node, _with(node, value=value)) for value in others]


def hparam_constant(node: ast.AST) -> list[Alternative]:
    """A read of `stride` → 1, `pad` → 0, `f` → 1: a hyperparameter left out of a formula or an index."""
    if not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in _HPARAMS):
        return []
    return [_swap(node, ast.Constant(_HPARAMS[node.id]))]


def round_swap(node: ast.AST) -> list[Alternative]:
    """`int(x)` → `round(x)` and `np.ceil(x)`; `round(x)` → `int(x)`: the wrong rounding of an output size."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1 and not node.keywords):
        return []
    np_ceil = ast.Attribute(ast.Name("np", ast.Load()), "ceil", ast.Load())
    funcs: dict[str, list[ast.expr]] = {"int": [ast.Name("round", ast.Load()), np_ceil], "round": [ast.Name("int", ast.Load())]}
    return [_swap(node, _with(node, func=func)) for func in funcs.get(node.func.id, [])]


def range_shorten(node: ast.AST) -> list[Alternative]:
    """`range(n)` → `range(n - 1)`, `range(a, b)` → `range(a, b - 1)`: a loop that misses its last step."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
            and 1 <= len(node.args) <= 3 and not node.keywords):
        return []
    args = list(node.args)
    stop = 0 if len(args) == 1 else 1
    args[stop] = ast.BinOp(args[stop], ast.Sub(), ast.Constant(1))
    return [_swap(node, _with(node, args=args))]


def compare_swap(node: ast.AST) -> list[Alternative]:
    """`==`↔`!=`, `<`↔`<=`, `>`↔`>=`, one operator of a (chained) comparison at a time."""
    if not isinstance(node, ast.Compare):
        return []
    alternatives: list[Alternative] = []
    for index, op in enumerate(node.ops):
        if type(op) in _COMPARE:
            new = _COMPARE[type(op)]
            ops = [*node.ops[:index], new(), *node.ops[index + 1:]]
            alternatives.append((_with(node, ops=ops), f"`{_SYMBOL[type(op)]}` → `{_SYMBOL[new]}`"))
    return alternatives


def tuple_swap(node: ast.AST) -> list[Alternative]:
    """Two neighbours of a tuple swapped: padding on the wrong axes, a shape in the wrong order."""
    if not (isinstance(node, ast.Tuple) and isinstance(node.ctx, ast.Load) and len(node.elts) >= 2):
        return []
    swapped = []
    for k in range(len(node.elts) - 1):
        elts = list(node.elts)
        elts[k], elts[k + 1] = elts[k + 1], elts[k]
        if ast.dump(elts[k]) != ast.dump(elts[k + 1]):
            swapped.append(_swap(node, _with(node, elts=elts)))
    return swapped


def regroup(node: ast.AST) -> list[Alternative]:
    """`a / (b * c)` → `a / b * c`: parentheses forgotten around a divisor."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.FloorDiv)) and isinstance(node.right, ast.BinOp)
            and isinstance(node.right.op, (ast.Mult, ast.Add, ast.Sub))):
        return []
    inner = node.right
    return [_swap(node, ast.BinOp(ast.BinOp(node.left, node.op, inner.left), inner.op, inner.right))]


OPERATORS: dict[str, Operator] = {
    "arith-swap": arith_swap,
    "off-by-one": off_by_one,
    "augassign-to-assign": augassign_to_assign,
    "drop-term": drop_term,
    "reduce-swap": reduce_swap,
    "slice-bound-swap": slice_bound_swap,
    "axis-swap": axis_swap,
    "hparam-constant": hparam_constant,
    "round-swap": round_swap,
    "range-shorten": range_shorten,
    "compare-swap": compare_swap,
    "tuple-swap": tuple_swap,
    "regroup": regroup,
}

Slot = tuple[ast.AST, str, int | None]  # parent node, field name, index when the field is a list


def _get(slot: Slot) -> ast.AST:
    parent, field, index = slot
    value = getattr(parent, field)
    return value if index is None else value[index]


def _put(slot: Slot, node: ast.AST) -> None:
    parent, field, index = slot
    if index is None:
        setattr(parent, field, node)
    else:
        getattr(parent, field)[index] = node


def _walk(slot: Slot) -> Iterator[Slot]:
    """Every node under slot, pre-order in field order (source order, near enough)."""
    yield slot
    node = _get(slot)
    for name, value in ast.iter_fields(node):
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, ast.AST):
                    yield from _walk((node, name, index))
        elif isinstance(value, ast.AST):
            yield from _walk((node, name, None))


def _find(tree: ast.Module, function: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == function:
            return node
    raise ValueError(f"no top-level function {function!r} in the source")


def _splice(source: str, fn: ast.FunctionDef | ast.AsyncFunctionDef, text: str) -> str:
    """source with the lines of fn (decorators included) replaced by text; the rest of the cell is kept verbatim."""
    lines = source.splitlines(keepends=True)
    start = min([fn.lineno, *(d.lineno for d in fn.decorator_list)]) - 1
    return "".join([*lines[:start], text + "\n", *lines[fn.end_lineno or len(lines):]])


def _compiles(source: str) -> bool:
    try:
        compile(source, "<mutant>", "exec")
    except SyntaxError:
        return False
    return True


def mutants(source: str, function: str) -> list[Mutant]:
    """Every single-point mutant of `function` defined in `source`; deterministic order; no duplicates (two mutants
    whose unparsed source is identical count once); none identical to the original.

    Sites are visited in source order, the operators at a site in OPERATORS order; the docstring, signature and
    decorators are never mutated. Each mutant is made by swapping one node in place, unparsing, and swapping back.
    """
    fn = _find(ast.parse(source), function)
    original = ast.unparse(fn)
    first = 1 if ast.get_docstring(fn, clean=False) is not None else 0
    slots = [slot for index in range(first, len(fn.body)) for slot in _walk((fn, "body", index))]
    seen = {original}
    found: list[Mutant] = []
    for slot in slots:
        node = _get(slot)
        for name, operator in OPERATORS.items():
            for replacement, change in operator(node):
                _put(slot, replacement)
                try:
                    text = ast.unparse(fn)
                finally:
                    _put(slot, node)
                mutated = _splice(source, fn, text)
                if text in seen or not _compiles(mutated):
                    continue
                seen.add(text)
                diff = difflib.unified_diff(original.splitlines(), text.splitlines(),
                                            f"{function} (reference)", f"{function} ({name})", n=2, lineterm="")
                line = getattr(node, "lineno", fn.lineno)
                found.append(Mutant(function, name, f"line {line}: {change}", line, mutated, "\n".join(diff)))
    return found
