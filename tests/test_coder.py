import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurcomp.entropy import CodingError, PmfTables, decode_symbols, encode_symbols, quantize_pmf
from neurcomp.entropy.coder import PRECISION_BITS


@given(st.lists(st.floats(0, 1), min_size=1, max_size=50), st.floats(0, 0.5))
def test_quantize_pmf_sums_and_floors(probs, tail):
    if sum(probs) + tail == 0:
        probs = [1.0] + probs[1:]
    counts = quantize_pmf(np.array(probs), tail)
    assert counts.sum() == 1 << PRECISION_BITS
    assert counts.min() >= 1
    assert counts.size == len(probs) + 1


tables_strategy = st.lists(
    st.tuples(st.lists(st.floats(1e-6, 1.0), min_size=1, max_size=20), st.integers(-50, 50)),
    min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(tables_strategy, st.data())
def test_round_trip_any_values(spec, data):
    tables = PmfTables.from_probabilities([np.array(p) for p, _ in spec], offsets=[o for _, o in spec])
    n = data.draw(st.integers(0, 200))
    values = np.array(data.draw(st.lists(st.integers(-10 ** 9, 10 ** 9) | st.integers(-60, 80), min_size=n, max_size=n)),
                      np.int64)
    idx = np.array(data.draw(st.lists(st.integers(0, len(spec) - 1), min_size=n, max_size=n)), np.int64)
    blob = encode_symbols(values, idx, tables)
    assert np.array_equal(decode_symbols(blob, idx, tables), values)
    # the information content counts escapes exactly as coded: the stream is never much shorter
    assert 8 * len(blob) >= tables.information_bits(values, idx) - 64


def test_size_close_to_information_content():
    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.2, 0.1, 0.1, 0.05, 0.05])
    tables = PmfTables.from_probabilities([p], offsets=[0])
    values = rng.choice(6, size=20000, p=p)
    idx = np.zeros_like(values)
    blob = encode_symbols(values, idx, tables)
    ideal_bytes = tables.information_bits(values, idx) / 8
    assert ideal_bytes <= len(blob) <= ideal_bytes * 1.002 + 8


def test_bad_input_raises():
    tables = PmfTables.from_probabilities([np.array([0.5, 0.5])], offsets=[0])
    with pytest.raises(CodingError):
        encode_symbols(np.array([0]), np.array([3]), tables)
    with pytest.raises(CodingError):
        decode_symbols(b"abc", np.array([0]), tables)


def test_escapes_are_counted_in_the_information_content():
    rng = np.random.default_rng(1)
    tables = PmfTables.from_probabilities([np.array([0.25, 0.5, 0.25])], offsets=[-1])
    values = rng.integers(-1, 2, size=5000)
    values[::50] = rng.integers(-10 ** 6, 10 ** 6, size=100)  # 100 escapes of up to 20 bits each
    idx = np.zeros_like(values)
    blob = encode_symbols(values, idx, tables)
    ideal_bits = tables.information_bits(values, idx)
    assert ideal_bits - 64 <= 8 * len(blob) <= ideal_bits * 1.005 + 64


def test_sections_with_trailing_missing_or_altered_bytes_and_huge_symbols_are_refused():
    tables = PmfTables.from_probabilities([np.array([0.2, 0.5, 0.3])], offsets=[-1])
    values = np.array([0, 1, -1, 0, 40, -3] * 30, np.int64)
    idx = np.zeros(values.size, np.int64)
    blob = encode_symbols(values, idx, tables)
    assert np.array_equal(decode_symbols(blob, idx, tables), values)
    for bad in (blob + b"\0\0\0\0", blob[:-4], blob + blob[-4:], b"", blob[:4] + bytes([blob[4] ^ 1]) + blob[5:]):
        with pytest.raises(CodingError):
            decode_symbols(bad, idx, tables)
    with pytest.raises(CodingError, match="magnitude"):
        encode_symbols(np.array([1 << 40]), np.zeros(1, np.int64), tables)
