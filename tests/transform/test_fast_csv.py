"""The fast CSV decoder (pandas' C tokenizer, what makes batch transform's mini-batches
cheap) never decides differently from the careful one: on any body it either returns
exactly the careful decoder's rows or steps aside so the careful one answers, with its
message."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stackyard.inference._codecs import InputError, _csv, _csv_fast, decode

TOKENS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**20, 10**20).map(str),
    st.sampled_from(["", " ", "a", " 1", "1 ", "1_0", "١", "0x10", "1e999", "+1", ".5", "5.",
                     "NaN", "nan", "-Infinity", "inf", '"1"', '"1,2"', "1e", "--1", "\t2",
                     "NA", "null", "\ufeff1", "1\x00"]))
ROW = st.lists(TOKENS, min_size=1, max_size=5).map(",".join)
BODY = st.tuples(st.lists(st.one_of(ROW, st.just("")), min_size=0, max_size=8),
                 st.sampled_from(["\n", "\r\n"]), st.booleans()).map(
    lambda t: (t[1].join(t[0]) + (t[1] if t[2] else "")).encode())


def _careful(body: bytes) -> np.ndarray | str:
    try:
        return _csv(body)
    except InputError as e:
        return str(e)


@settings(max_examples=600, deadline=None)
@given(BODY)
def test_the_fast_path_agrees_with_the_careful_one_or_steps_aside(body: bytes) -> None:
    fast = _csv_fast(body)
    if fast is not None:
        careful = _careful(body)
        assert isinstance(careful, np.ndarray), (body, careful)
        assert careful.shape == fast.shape and np.array_equal(careful, fast, equal_nan=True)


def test_a_large_well_formed_body_takes_the_fast_path_with_the_same_numbers() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 7)) * 10.0 ** rng.integers(-8, 8, size=(2000, 7))
    body = "".join(",".join(repr(float(v)) for v in row) + "\r\n" for row in x).encode()
    assert _csv_fast(body) is not None
    assert np.array_equal(decode(body, "text/csv"), x)
    ragged = body + b"1,2\n"  # pandas would pad this row with NaN; the careful path refuses it
    assert _csv_fast(ragged) is None
    try:
        decode(ragged, "text/csv")
    except InputError as e:
        assert "different numbers of columns [2, 7]" in str(e)
    else:
        raise AssertionError("a ragged body was accepted")
