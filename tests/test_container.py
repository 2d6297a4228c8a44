import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurcomp import BitstreamError
from neurcomp.container import METHODS, Stream, pack, unpack
from neurcomp.fileio import atomic_write

streams = st.builds(
    Stream,
    method=st.sampled_from(METHODS),
    model=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40),
    weights=st.binary(min_size=8, max_size=8),
    height=st.integers(1, 1 << 20), width=st.integers(1, 1 << 20),
    latent_shape=st.tuples(st.integers(0, 5000), st.integers(0, 5000)),
    extra=st.binary(max_size=64),
    sections=st.lists(st.binary(max_size=300), max_size=5),
)


@given(streams)
def test_round_trip(s):
    assert unpack(pack(s)) == s


@settings(max_examples=50, deadline=None)
@given(streams, st.data())
def test_truncated_or_corrupted_streams_raise(s, data):
    blob = pack(s)
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(BitstreamError):
        unpack(blob[:cut])
    pos = data.draw(st.integers(0, len(blob) - 1))
    bit = data.draw(st.integers(0, 7))
    flipped = bytearray(blob)
    flipped[pos] ^= 1 << bit
    with pytest.raises(BitstreamError):
        unpack(bytes(flipped))


@given(st.binary(max_size=200))
def test_random_bytes_are_refused_with_a_bitstream_error(blob):
    with pytest.raises(BitstreamError):  # nothing else (no IndexError, struct.error, ...), and no stream
        unpack(blob)


def test_header_is_small():
    s = Stream("amortized", "mshp@0.0067", b"\0" * 8, 512, 768, (8, 12), b"", [b"x" * 1000, b"y" * 5000])
    assert s.header_bytes() < 45


def test_write_atomic(tmp_path):
    p = atomic_write(tmp_path / "a.bin", b"hello")
    assert p.read_bytes() == b"hello"
    assert [q.name for q in tmp_path.iterdir()] == ["a.bin"]
