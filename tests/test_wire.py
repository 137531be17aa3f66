"""The sandbox's messages: plain data round-trips exactly; anything else is refused, nothing is unpickled."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader.grading import wire


def round_trip(value: object) -> object:
    blobs: list[bytes] = []
    read, write = os.pipe()
    try:
        wire.send(write, {"value": wire.encode(value, blobs)}, blobs)
        message, received = wire.receive(read)
    finally:
        os.close(read)
        os.close(write)
    return wire.decode(message["value"], received)


def same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        return type(b) is np.ndarray and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return type(b) is dict and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (float, np.floating)) and a != a:
        return type(a) is type(b) and b != b
    return type(a) is type(b) and a == b


# Text that needs no cleaning: control characters and lone surrogates come back replaced (see below).
safe_text = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\ufffe\uffff"), max_size=20)
plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | safe_text
    | hnp.arrays(st.sampled_from([np.float64, np.float32, np.int64, np.bool_]), hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
    | st.builds(np.float32, st.floats(width=32)) | st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)),
    lambda inner: st.lists(inner, max_size=4) | st.lists(inner, max_size=4).map(tuple)
    | st.dictionaries(safe_text, inner, max_size=4),
    max_leaves=12,
)


@given(plain)
def test_plain_data_round_trips_exactly(value: object) -> None:
    assert same(value, round_trip(value))


def test_scalar_types_survive() -> None:
    assert type(round_trip(np.float32(1.5))) is np.float32
    assert type(round_trip(np.float64(-6.99))) is np.float64
    assert type(round_trip(1.5)) is float


@pytest.mark.parametrize("value", [np.bool_(True), np.bool_(False), np.int8(-128), np.uint64(2**64 - 1), np.float16(0.1),
                                   np.float32(-np.inf), np.float64(np.nan), np.float64(-6.999089450680221),
                                   np.complex64(1 - 2j), np.complex128(complex(np.nan, np.inf)), np.int64(-2**63)])
def test_every_kind_of_numpy_scalar_comes_back_as_it_left(value: np.generic) -> None:
    back = round_trip(value)
    assert type(back) is type(value) and (back == value or (np.isnan(back) and np.isnan(value)))


class Liar:
    def __eq__(self, other: object) -> bool:
        return True


class Sub(np.ndarray):
    pass


@pytest.mark.parametrize("value", [Liar(), np.zeros(2).view(Sub), np.array([object()]), {1: 2}, {1, 2}, lambda: 1,
                                   np.zeros(2, dtype=[("a", "f8")])])
def test_everything_else_is_refused(value: object) -> None:
    with pytest.raises(wire.WireError):
        wire.encode(value, [])


def test_pickled_arrays_are_never_loaded() -> None:
    import io
    import pickle

    buffer = io.BytesIO()
    np.save(buffer, np.array([Liar()], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"allow_pickle|malformed"):
        wire.decode({"$array": 0}, [buffer.getvalue()])
    with pytest.raises(wire.WireError):
        wire.decode({"$pickle": pickle.dumps(1).hex()}, [])


@pytest.mark.parametrize("data", [{"$scalar": "|O", "value": "1"}, {"$scalar": "<f8", "value": "__import__('os')"},
                                  {"$tuple": [], "$dict": []}, {"unknown": 1}])
def test_malformed_values_are_refused(data: dict) -> None:
    with pytest.raises((wire.WireError, TypeError)):
        wire.decode(data, [])


def test_malformed_frames_are_refused() -> None:
    read, write = os.pipe()
    os.write(write, (2**31).to_bytes(4, "big"))
    with pytest.raises(wire.WireError):
        wire.receive(read)
    os.close(read)
    os.close(write)


def test_strings_from_the_other_side_come_back_clean_and_bounded() -> None:
    assert round_trip("a\ud800b\x00c\x1b[31m\nd\te") == "a\ufffdb\ufffdc\ufffd[31m\nd\te"
    assert round_trip({"\udcff": "x"}) == {"\ufffd": "x"}
    assert len(wire.decode("x" * (wire.MAX_STRING + 10), [])) == wire.MAX_STRING


def test_the_decoder_refuses_oversized_and_forged_messages() -> None:
    with pytest.raises(wire.WireError, match="larger than"):
        wire.receive(0, lambda fd, n: {4: (wire.MAX_HEADER).to_bytes(4, "big")}.get(n, b'{"$blobs": [67108864]}'))
    data = wire.frame({}, [b""] * (wire.MAX_BLOBS + 1))
    chunks = iter([data[:4], data[4:]])
    with pytest.raises(wire.WireError):
        wire.receive(0, lambda fd, n: next(chunks))
    with pytest.raises(wire.WireError, match="too many items"):
        wire.decode([[0] * 1000] * 200, [])
    with pytest.raises(wire.WireError, match="array reference"):
        wire.decode({"$array": 3}, [])
    structured = {"names": ["a"], "formats": ["f8"], "offsets": [2**70]}  # np.dtype raised OverflowError on it
    with pytest.raises(wire.WireError, match="malformed scalar"):
        wire.decode({"$scalar": structured, "value": "1"}, [])
    blobs: list[bytes] = []
    one = wire.encode(np.zeros(4), blobs)
    with pytest.raises(wire.WireError, match="array reference"):  # each blob once: 100,000 names were 100,000 copies
        wire.decode([one, {"$tuple": [one]}], blobs)


def test_an_array_header_that_lies_about_its_size_is_refused_before_allocation() -> None:
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.zeros(4, dtype=np.uint8), allow_pickle=False)
    honest = buffer.getvalue()
    assert b"(4,)" in honest
    assert wire.decode({"$array": 0}, [honest]).shape == (4,)
    for forged in (honest.replace(b"(4,)", b"(9,)"), honest.replace(b"(4,)", b"(999999999999,)"[:4]), honest[:-2],
                   honest.replace(b"|u1", b"|O8")):
        with pytest.raises(wire.WireError):
            wire.decode({"$array": 0}, [forged])


def test_integers_beyond_64_bits_round_trip_exactly() -> None:
    for value in (2**63, -(2**63) - 1, 3**200):
        assert round_trip(value) == value and type(round_trip(value)) is int
    assert wire.encode(2**63 - 1, []) == 2**63 - 1  # the largest that stays a plain JSON number
    assert round_trip(-(10**3900)) == -(10**3900)
    with pytest.raises(wire.WireError, match="about 5000 digits is too large"):  # str() itself would raise ValueError
        wire.encode(10**5000, [])


def test_numpy_string_keys_arrive_as_the_strings_they_equal() -> None:
    """Keys taken from an array of names (``for key in np.array(list(parameters))``) are np.str_: a str, sent as one."""
    decoded = round_trip({np.str_("W1"): 1.5, "b1": 2})
    assert decoded == {"W1": 1.5, "b1": 2} and all(type(key) is str for key in decoded)


def test_values_too_deep_or_too_long_are_refused_both_ways() -> None:
    deep: list = []
    for _ in range(wire.MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(wire.WireError, match="nested too deeply"):
        wire.encode(deep, [])
    with pytest.raises(wire.WireError, match="nested too deeply"):
        wire.decode(deep, [])
    with pytest.raises(wire.WireError, match="sequence is too long"):
        wire.encode((0,) * (wire.MAX_ITEMS + 1), [])


@pytest.mark.parametrize(("data", "message"), [
    ({"$scalar": "not a dtype", "value": "1"}, "malformed scalar"),
    ({"$scalar": "<f8", "value": "1j"}, "malformed scalar"),  # a complex number is no float64
    ({"$scalar": "|i1", "value": "1000"}, "malformed scalar"),  # out of int8's range
    ({"$scalar": "<f8", "value": "'text'"}, "malformed scalar"),
    ({"$scalar": "<f8", "value": "1" * 101}, "malformed scalar"),
    ({"$float": "one"}, "malformed float"),
    ({"$float": 1.5}, "malformed value"),
    ({"$bigint": "12x"}, "malformed integer"),
    ({"$bigint": "9" * 4001}, "malformed value"),  # int() of a huge string would cost quadratic time
    ({"$dict": [["a"]]}, "malformed dict"),
    ({"$dict": [[1, 2]]}, "malformed dict"),
    ({"$tuple": "ab"}, "malformed value"),
])
def test_each_malformed_encoding_is_refused_by_name(data: dict, message: str) -> None:
    with pytest.raises(wire.WireError, match=message):
        wire.decode(data, [])


def test_the_encodings_that_are_well_formed_decode_to_their_value() -> None:
    assert wire.decode({"$scalar": "<c16", "value": "(1+2j)"}, []) == np.complex128(1 + 2j)
    assert np.isnan(wire.decode({"$float": "nan"}, []))
    assert wire.decode({"$bigint": "-12"}, []) == -12
    assert wire.decode({"$dict": [["k", {"$tuple": [1, "x"]}]]}, []) == {"k": (1, "x")}


@pytest.mark.parametrize("header", [b"\xff\xfe", b"{not json", b"[1, 2]", b'"text"', b'{"op": "x"}',
                                    b'{"op": "x", "$blobs": [-1]}', b'{"op": "x", "$blobs": ["1"]}',
                                    # what json itself refuses with other errors than JSONDecodeError
                                    b'{"v": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", b'{"v": ' + b"9" * 5000 + b"}"])
def test_a_frame_whose_header_is_not_a_message_is_refused(header: bytes) -> None:
    data = len(header).to_bytes(4, "big") + header
    chunks = iter([data[:4], data[4:]])
    with pytest.raises(wire.WireError, match="malformed message"):
        wire.receive(0, lambda fd, n: next(chunks))


def test_a_frame_cut_short_is_the_end_of_the_channel() -> None:
    read, write = os.pipe()
    os.write(write, wire.frame({"op": "x"})[:-3])
    os.close(write)
    try:
        with pytest.raises(EOFError):
            wire.receive(read)
    finally:
        os.close(read)


def test_arrays_are_written_as_npy_files_numpy_reads_back() -> None:
    """wire writes the .npy header itself (np.save costs ~7 us an array, and a call moves several each way): NumPy must
    read every array back as it was, whatever the dtype, byte order, strides or number of dimensions, from a version
    1.0 header whose data starts at a multiple of 64 bytes, as np.save's does."""
    import io

    base = np.random.default_rng(0).standard_normal((2, 5, 7, 4))
    arrays = [base, base[:, ::2], base.T, np.asfortranarray(base), np.ones(3, dtype=np.float32), np.zeros((1, 1, 1, 8)),
              np.arange(5), np.array(3.0), np.zeros((0, 3)), np.ones((2, 3), dtype=np.complex128), np.ones(3, dtype=bool),
              np.arange(6, dtype=">i4").reshape(2, 3), np.zeros((1,) * 32), np.ones(2, dtype=np.uint8),
              np.ones((2, 2), dtype=np.float16)]
    # headers of every length modulo 64, so every padding (empty arrays: their shapes cost no memory)
    arrays += [np.zeros((0,) + (1,) * ones + (10,) * tens, dtype=np.int8) for ones in range(22) for tens in range(10)]
    for array in arrays:
        blobs: list[bytes] = []
        wire.encode(array, blobs)
        (blob,) = blobs
        stream = io.BytesIO(blob)
        assert np.lib.format.read_magic(stream) == (1, 0)
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        assert stream.tell() % 64 == 0 and (shape, dtype) == (array.shape, array.dtype)
        read = np.load(io.BytesIO(blob), allow_pickle=False)
        assert read.dtype == array.dtype and read.shape == array.shape and np.array_equal(read, array)
        assert wire._canonical_header(blob) is not None  # and the reader's own short path takes it
