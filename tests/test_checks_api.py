"""The general comparison ``expect_like`` and the one-line ``describe``: every answer shape an assignment
returns, paths that name the part that differs, the tolerance rules, strict containers, and hidden
messages that never give an expected value away."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from grader.checks import (
    DESCRIBE_LIMIT,
    CheckFailed,
    describe,
    expect_array,
    expect_like,
    expect_scalar,
    expect_tuple,
    number,
)


def failure(got: Any, expected: Any, name: str = "answer", **options: Any) -> CheckFailed:
    with pytest.raises(CheckFailed) as failed:
        expect_like(name, got, expected, **options)
    return failed.value


def parameters(seed: int = 0, dtype: Any = np.float64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"W1": rng.standard_normal((3, 2)).astype(dtype), "b1": rng.standard_normal((3, 1)).astype(dtype),
            "W2": rng.standard_normal((1, 3)).astype(dtype), "b2": rng.standard_normal((1, 1)).astype(dtype)}


# Dict of arrays ----------------------------------------------------------------------------------------

def test_a_dict_of_arrays_that_matches_passes() -> None:
    expect_like("parameters", parameters(), parameters())


def test_a_wrong_array_in_a_dict_is_named_by_its_key() -> None:
    got = parameters()
    got["b2"] = got["b2"] + 1
    failed = failure(got, parameters(), "parameters")
    assert failed.kind == "values"
    assert failed.message.startswith('parameters["b2"] has 1 wrong value out of 1')


def test_missing_and_unexpected_keys_are_named() -> None:
    got = parameters()
    del got["W2"]
    got["W3"] = got.pop("b2")
    failed = failure(got, parameters(), "parameters")
    assert failed.kind == "structure"
    assert '"W2"' in failed.message and '"b2"' in failed.message and '"W3"' in failed.message
    assert "missing" in failed.message and "unexpected" in failed.message


def test_a_wrong_shape_in_a_dict_is_named() -> None:
    got = parameters()
    got["W1"] = got["W1"].T
    failed = failure(got, parameters(), "parameters")
    assert failed.kind == "shape"
    assert failed.message == 'parameters["W1"] has shape (2, 3), expected (3, 2).'


# Tuples, nested caches, lists of tuples ----------------------------------------------------------------

def test_names_replace_indices_for_the_items_of_a_tuple() -> None:
    rng = np.random.default_rng(1)
    dW, db = rng.standard_normal((4, 3)), rng.standard_normal((4, 1))
    wrong = dW.copy()
    wrong[0, :3] += 1
    failed = failure((wrong, db), (dW, db), "linear_backward", names=("dW", "db"))
    assert failed.message.startswith("dW has 3 wrong values out of 12")
    assert "linear_backward" not in failed.message


def test_a_part_of_a_nested_cache_is_named_by_its_path() -> None:
    A, W, b = np.ones((2, 3)), np.ones((4, 2)), np.zeros((4, 1))
    expected = [((A, W, b), np.ones((4, 3))), ((A, W, b), np.ones((4, 3)))]
    got = [((A, W, b), np.ones((4, 3))), ((A, W, b + 1), np.ones((4, 3)))]
    failed = failure(got, expected, "caches")
    assert failed.message.startswith("caches[1][0][2] has 4 wrong values")


def test_names_and_paths_compose() -> None:
    expected = ({"W1": np.ones(2)}, {"dW1": np.zeros(2)})
    got = ({"W1": np.ones(2)}, {"dW1": np.full(2, 0.5)})
    assert failure(got, expected, "adam", names=("parameters", "v")).message.startswith('v["dW1"] has 2 wrong values')


def test_a_list_of_mini_batches_is_checked_batch_by_batch() -> None:
    X, Y = np.arange(12.0).reshape(2, 6), np.arange(6.0).reshape(1, 6)
    expected = [(X[:, :4], Y[:, :4]), (X[:, 4:], Y[:, 4:])]
    expect_like("mini_batches", [(X[:, :4].copy(), Y[:, :4].copy()), (X[:, 4:].copy(), Y[:, 4:].copy())], expected)
    assert failure(expected[:1], expected, "mini_batches").message == "mini_batches should have 2 items, got 1."
    swapped = [(X[:, :4], Y[:, :4]), (X[:, 4:], Y[:, 4:][:, ::-1])]
    assert failure(swapped, expected, "mini_batches").message.startswith("mini_batches[1][1] has 2 wrong values")


def test_a_list_is_not_a_tuple_and_a_tuple_is_not_a_list() -> None:
    assert failure([1.0, 2.0], (1.0, 2.0), "result").kind == "structure"
    assert "should be a tuple of 2 items, got a list" in failure([1.0, 2.0], (1.0, 2.0), "result").message
    assert "should be a list of 1 items, got a tuple" in failure((np.ones(1),), [np.ones(1)], "batches").message


def test_expect_tuple_refuses_a_list() -> None:
    assert expect_tuple("f", (1, 2), 2) == (1, 2)
    with pytest.raises(CheckFailed) as failed:
        expect_tuple("f", [1, 2], 2)
    assert failed.value.kind == "structure"
    assert "got a list of length 2" in failed.value.message


# Scalars, strings, bools, None ------------------------------------------------------------------------

@pytest.mark.parametrize("got", [0.5, np.float64(0.5), np.float32(0.5), np.array(0.5), np.array(0.5, np.float32), 0.50000001])
def test_a_python_float_a_numpy_scalar_and_a_0d_array_are_the_same_number(got: Any) -> None:
    expect_like("learning_rate", got, 0.5)
    expect_like("learning_rate", 0.5, got)  # whichever side it is on


def test_a_number_with_dimensions_is_not_a_number() -> None:
    failed = failure(np.array([[0.5]]), 0.5, "learning_rate")
    assert failed.kind == "type"
    assert ".item()" in failed.message


def test_a_wrong_number_is_shown_plainly() -> None:
    failed = failure(np.float64(0.25), 0.5, "learning_rate")
    assert failed.message == "learning_rate is wrong: expected 0.5, got 0.25."
    assert "np." not in failure({"lr": np.float32(0.25)}, {"lr": np.float64(0.5)}).message


def test_strings_bools_and_none() -> None:
    expect_like("mode", "max", "max")
    expect_like("flags", (True, None), (np.True_, None))
    assert failure("average", "max", "mode").message == "mode is wrong: expected 'max', got 'average'."
    assert failure(1, True, "flag").kind == "type"
    assert failure(0.0, None, "nothing").message == "nothing should be None, got a float."
    assert failure(b"max".decode() + "!", "max", "mode").kind == "values"


def test_a_bool_is_not_a_number() -> None:
    assert failure(True, 1.0, "count").kind == "type"


# Tolerance ---------------------------------------------------------------------------------------------

def test_float32_answers_pass_and_real_mistakes_do_not() -> None:
    expected = parameters()
    expect_like("parameters", {k: v.astype(np.float32) for k, v in expected.items()}, expected)
    nudged = {k: v * (1 + 1e-3) for k, v in expected.items()}
    assert failure(nudged, expected).kind == "values"


def test_the_tolerance_is_scaled_per_array() -> None:
    """A tiny array beside a huge one is judged on its own scale, not on the huge one's."""
    expected = {"big": np.full(3, 1e6), "small": np.full(3, 1e-2)}
    got = {"big": expected["big"].copy(), "small": expected["small"] * 1.5}
    assert failure(got, expected, "state").message.startswith('state["small"] has 3 wrong values')


def test_rtol_can_be_loosened() -> None:
    expect_like("x", np.array([1.001]), np.array([1.0]), rtol=1e-2)
    expect_array("x", np.array([1.001]), np.array([1.0]), rtol=1e-2)
    expect_scalar("x", 1.001, 1.0, rtol=1e-2)
    assert failure(np.array([1.001]), np.array([1.0])).kind == "values"


def test_nan_is_wrong_where_a_number_is_expected() -> None:
    assert failure({"s": np.array([np.nan, 1.0])}, {"s": np.array([0.0, 1.0])}).kind == "values"


# Hidden messages ---------------------------------------------------------------------------------------

EXPECTED_VALUES = (0.123456, -7.654321, 3.5)


def hidden_cases() -> list[tuple[Any, Any]]:
    a, b, c = EXPECTED_VALUES
    arrays = {"W1": np.full((2, 2), a), "b1": np.full((2, 1), b)}
    return [
        ({"W1": np.zeros((2, 2)), "b1": np.zeros((2, 1))}, arrays),
        ((0.0, np.zeros(2)), (c, np.full(2, a))),
        ([(np.zeros(2), np.zeros(1))], [(np.full(2, b), np.full(1, c))]),
        (0.0, a),
        ("wrong text", f"secret {a}"),
        (False, True),
    ]


@pytest.mark.parametrize(("got", "expected"), hidden_cases())
def test_hidden_messages_never_contain_expected_values(got: Any, expected: Any) -> None:
    failed = failure(got, expected, "answer", show_values=False)
    assert failed.expected is None and failed.got is None
    for value in (*EXPECTED_VALUES, "secret", "True"):
        text = str(value)
        assert text not in failed.message
        assert text[:5] not in failed.message
    assert not re.search(r"expected \S", failed.message)


@pytest.mark.parametrize(("got", "expected"), hidden_cases())
def test_public_messages_show_them(got: Any, expected: Any) -> None:
    assert "expected" in failure(got, expected, "answer").message


def test_a_test_bug_is_not_a_wrong_answer() -> None:
    """An expected value the comparison cannot read, or names that do not fit, are the test's fault: not CheckFailed."""
    with pytest.raises(TypeError):
        expect_like("x", object(), object())
    with pytest.raises(ValueError):
        expect_like("x", (1.0,), (1.0,), names=("a", "b"))


# describe ----------------------------------------------------------------------------------------------

def test_describe_gives_shapes_not_values() -> None:
    assert describe(parameters()) == ("{'W1': array of shape (3, 2) (float64), 'b1': array of shape (3, 1) (float64), "
                                      "'W2': array of shape (1, 3) (float64), 'b2': array of shape (1, 1) (float64)}")
    assert describe((np.zeros((2, 3), np.float32),)) == "(array of shape (2, 3) (float32),)"
    assert describe([np.float64(0.01), 2, None, True]) == "[0.01, 2, None, True]"


def test_describe_is_one_bounded_line_for_any_structure() -> None:
    batches = [(np.zeros((5, 64)), np.zeros((1, 64)))] * 200
    deep: Any = 1.0
    for _ in range(50):
        deep = [deep, {"key": deep}]
    for value in (batches, deep, "line one\nline two" * 100, {f"k{i}": np.ones(i) for i in range(100)}):
        text = describe(value)
        assert "\n" not in text
        assert len(text) <= DESCRIBE_LIMIT
    assert "198 more" in describe(batches)


def test_number_is_plain() -> None:
    assert [number(v) for v in (np.float64(0.5), np.float32(0.25), np.int64(3), 1e-8, np.bool_(True))] == [
        "0.5", "0.25", "3", "1e-08", "True"]
    assert number(1 / 3) == "0.3333333333"


# Recognisers compare with the same rules and never raise -----------------------------------------------

def test_recognisers_compare_any_structure_and_never_raise() -> None:
    from grader.mistakes import Call, Mistake, close, like, recognise, returns

    expected = {"W1": np.ones((2, 2)), "b1": np.zeros((2, 1))}
    assert close({k: v.astype(np.float32) for k, v in expected.items()}, expected)
    assert not close([np.ones(2)], (np.ones(2),))
    assert not close({"W1": np.ones((2, 2))}, expected)
    assert not close(object(), object())  # a value the comparison does not know is simply not close

    def reference(p: dict) -> dict:
        return {k: v * 2 for k, v in p.items()}

    def halved(p: dict) -> dict:
        return {k: v / 2 for k, v in p.items()}

    recogniser = like(halved)
    for value in (None, "text", [1, [2]], {"W1": "x"}, {"W1": np.ones((5, 5))}, np.ones(3), 1e308, object()):
        assert recogniser(Call(({"W1": np.full((2, 2), 3.0)},), {}, value=value), reference) is False
    assert recogniser(Call(({"W1": np.full((2, 2), 3.0)},), {}, value={"W1": np.full((2, 2), 1.5)}), reference)
    assert returns(0.5)(Call((1.0,), {}, value={"a": 1}), lambda x: x) is False

    def broken(call: Call, reference: Any) -> bool:
        raise KeyError("a bug of the catalogue")

    heard: list[str] = []
    catalogue = [Mistake("broken", "Broken", "", broken), Mistake("halved", "Halved", "", recogniser)]
    call = Call(({"W1": np.full((2, 2), 3.0)},), {}, value={"W1": np.full((2, 2), 1.5)})
    found = recognise(catalogue, "f", [call], reference, on_error=lambda mistake, error: heard.append(mistake.id))
    assert [m.id for m in found] == ["halved"]
    assert heard == ["broken"]
    assert [m.id for m in recognise(catalogue, "f", [call], reference)] == ["halved"]
