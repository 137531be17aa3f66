"""The comparisons of grader/checks.py: how close is close enough, and what counts as a changed argument.

The tolerance must pass float32 arithmetic and a different summation order, and fail a real mistake: an answer
off by 2e-4 of its magnitude fails, so a tolerance ten times looser would let it through."""

from __future__ import annotations

import numpy as np
import pytest

from grader.checks import CheckFailed, call_unchanged, expect_array, expect_scalar, identical, snapshot

MISTAKE = 2e-4  # relative: the scale of a real slip (a wrong constant, a dropped small term)


def _answer(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((2, 5, 5, 3)) * 3.0


@pytest.mark.parametrize("where", ["largest", "smallest"])
def test_an_array_off_by_a_real_mistake_fails(where: str) -> None:
    expected = _answer()
    got = expected.copy()
    scale = float(np.abs(expected).max())
    index = np.unravel_index(np.argmax(np.abs(expected)) if where == "largest" else np.argmin(np.abs(expected)), expected.shape)
    got[index] += MISTAKE * scale
    with pytest.raises(CheckFailed) as failed:
        expect_array("Z", got, expected)
    assert failed.value.kind == "values" and "1 wrong value" in failed.value.message


def test_an_array_off_by_a_real_mistake_everywhere_fails() -> None:
    expected = _answer(1)
    with pytest.raises(CheckFailed, match="wrong values"):
        expect_array("Z", expected * (1 + MISTAKE * 3), expected)  # 6e-4 at the largest, less elsewhere


@pytest.mark.parametrize("seed", range(3))
def test_a_float32_answer_passes(seed: int) -> None:
    expected = _answer(seed)
    expect_array("Z", expected.astype(np.float32), expected)
    summed = (expected.astype(np.float32) * np.float32(1.1) / np.float32(1.1)).astype(np.float32)
    expect_array("Z", summed, expected)


def test_an_array_of_small_values_is_judged_at_its_own_scale() -> None:
    expected = _answer() * 1e-2  # largest about 0.1: above the 1e-3 floor of the scale
    expect_array("Z", expected.astype(np.float32), expected)
    with pytest.raises(CheckFailed):
        expect_array("Z", expected * (1 + 5 * MISTAKE), expected)


@pytest.mark.parametrize("expected", [-6.999089450680221, 0.5, 1234.5678, 3e-3])
def test_a_scalar_off_by_a_real_mistake_fails(expected: float) -> None:
    for got in (expected * (1 + MISTAKE), expected * (1 - MISTAKE), np.float64(expected * (1 + MISTAKE))):
        with pytest.raises(CheckFailed) as failed:
            expect_scalar("Z", got, expected)
        assert failed.value.kind == "values"


@pytest.mark.parametrize("expected", [-6.999089450680221, 0.5, 1234.5678, 3e-3])
def test_a_float32_scalar_passes(expected: float) -> None:
    expect_scalar("Z", np.float32(expected), expected)
    expect_scalar("Z", float(np.float32(expected)), expected)
    expect_scalar("Z", np.array(expected, dtype=np.float32), expected)


def test_a_scalar_near_zero_uses_an_absolute_floor() -> None:
    expect_scalar("Z", 5e-8, 0.0)
    with pytest.raises(CheckFailed):
        expect_scalar("Z", 1e-6, 0.0)


# --- arguments changed in place ---------------------------------------------------------------


def _adds_a_key(d: dict) -> int:
    d["extra"] = 1
    return len(d)


def _appends(values: list) -> int:
    values.append(0)
    return len(values)


def _bumps_the_array_in_the_tuple(pair: tuple) -> float:
    pair[0][0] += 1
    return float(pair[1].sum())


def _changes_a_nested_list(d: dict) -> int:
    d["shape"][0] = 99
    return 0


@pytest.mark.parametrize(
    ("function", "argument"),
    [
        (_adds_a_key, {"stride": 1, "pad": 0}),
        (_appends, [1, 2, 3]),
        (_bumps_the_array_in_the_tuple, (np.zeros(3), np.ones(3))),
        (_changes_a_nested_list, {"shape": [1, 2]}),
    ],
)
def test_a_function_changing_its_argument_in_place_is_modified(function, argument) -> None:
    with pytest.raises(CheckFailed) as failed:
        call_unchanged(function, "f", argument)
    assert failed.value.kind == "modified" and "argument #1" in failed.value.message


def test_a_changed_keyword_argument_is_modified() -> None:
    with pytest.raises(CheckFailed, match="argument 'values'") as failed:
        call_unchanged(lambda values: _appends(values), "f", values=[1])
    assert failed.value.kind == "modified"


def test_a_function_that_works_on_copies_passes_and_returns_its_value() -> None:
    def copies(d: dict, values: list, pair: tuple) -> int:
        d, values = dict(d), list(values)
        d["extra"] = 1
        values.append(0)
        return len(d) + len(values) + int((pair[0] + 1).sum())

    assert call_unchanged(copies, "f", {"a": 1}, [1], (np.zeros(2), np.ones(2))) == 2 + 2 + 2


def test_an_array_entry_turned_to_nan_is_modified() -> None:
    def to_nan(x: np.ndarray) -> None:
        x[0] = np.nan

    with pytest.raises(CheckFailed):
        call_unchanged(to_nan, "f", np.zeros(2))
    call_unchanged(lambda x: None, "f", np.array([np.nan]))  # NaN equals NaN here: unchanged


class _Opaque:
    def __init__(self) -> None:
        self.items = [np.zeros(2)]


@pytest.mark.parametrize("value", [
    (np.arange(6.0).reshape(2, 3), 2), {"stride": 1, "pad": [0, 1]}, [np.float32(1.5), None, True, "s", 3 + 1j],
    (np.asfortranarray(np.ones((3, 2))), {"x": (np.zeros((0, 2)), [])}), np.array([[1], "a"], dtype=object),
])
def test_a_snapshot_is_a_deep_copy(value: object) -> None:
    """``snapshot`` stands in for copy.deepcopy on every call a check makes: the same values, types and memory order,
    and nothing shared that a call could change (an array, a list, a dict, an object array's items)."""
    copied = snapshot(value)
    assert type(copied) is type(value)
    assert identical(copied, value) if not isinstance(value, np.ndarray) else list(copied) == list(value)  # object dtype
    arrays = lambda v: [v] if isinstance(v, np.ndarray) else [a for x in (v.values() if isinstance(v, dict) else v)
                                                           for a in arrays(x)] if isinstance(v, (list, tuple, dict)) else []
    for mine, theirs in zip(arrays(copied), arrays(value), strict=True):
        assert not np.shares_memory(mine, theirs) and mine.flags.f_contiguous == theirs.flags.f_contiguous
    if isinstance(value, np.ndarray) and value.dtype == object:
        copied[0].append(2)
        assert value[0] == [1]


def test_a_snapshot_deep_copies_what_it_does_not_know() -> None:
    opaque = _Opaque()
    copied = snapshot({"o": opaque})["o"]
    assert copied is not opaque and copied.items[0] is not opaque.items[0]


def test_a_stand_in_that_reports_no_change_is_believed_and_one_that_reports_a_change_is_checked() -> None:
    """The grader's proxy knows what a call changed (the sandbox compares the arguments before and after, and only a
    change is written back here): ``call_unchanged`` takes its word rather than copy every argument of every call."""
    class StandIn:
        def __init__(self, before: object) -> None:
            self.arguments_before = before

        def __call__(self, x: np.ndarray) -> int:
            x += 1  # as written back from the sandbox
            return 7

    assert call_unchanged(StandIn(None), "f", np.zeros(2)) == 7  # reported unchanged: nothing compared
    with pytest.raises(CheckFailed, match="argument #1") as failed:
        call_unchanged(StandIn(((np.zeros(2),), {})), "f", np.zeros(2))
    assert failed.value.kind == "modified"
    assert call_unchanged(StandIn(((np.ones(2),), {})), "f", np.zeros(2)) == 7  # the values it reports as before
