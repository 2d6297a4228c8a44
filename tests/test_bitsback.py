"""Lossy bits-back coding: ANS push/pop, the toy model's net rate, the bits-back hyperprior's streams
with side information, archives, fresh-process decoding with another thread count, and errors."""
from __future__ import annotations

import os
import subprocess
import sys

import constriction
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurcomp import BitstreamError
from neurcomp.entropy import OffsetGaussianConditional, PmfTables, pop_symbols, push_symbols
from neurcomp.entropy.toy_bits_back import ToyLatentModel
from neurcomp.models import BitsBackHyperprior
from neurcomp.models.bitsback import SideInfoTooShort

from conftest import TINY_BITSBACK as TINY, picture


def stack(words=(0x9E3779B9, 0x7F4A7C15, 0x2545F491, 0x4F6CDD1D)):
    return constriction.stream.stack.AnsCoder(np.array(words, np.uint32), seal=True)


# ----------------------------------------------------------------------------- the ANS primitives

@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-40, 40), min_size=1, max_size=60), st.integers(0, 2 ** 32 - 1))
def test_push_pop_round_trip_with_escapes(values, seed):
    rng = np.random.default_rng(seed)
    probs = [rng.dirichlet(np.ones(n)) * 0.999 for n in (3, 7, 12)]
    tables = PmfTables.from_probabilities(probs, offsets=[-1, -3, 0])
    idx = rng.integers(0, 3, len(values))
    ans = stack()
    push_symbols(ans, np.array(values), idx, tables)
    assert pop_symbols(ans, idx, tables).tolist() == values
    assert ans.get_compressed(unseal=True).tolist() == [0x9E3779B9, 0x7F4A7C15, 0x2545F491, 0x4F6CDD1D]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 200))
def test_offset_gaussian_round_trip_and_cost(seed, n):
    """Integer y under N(mean, scale) with fractional means: exact round trip, and the stack grows by the
    information content (to within the stack's one word of state)."""
    rng = np.random.default_rng(seed)
    g = OffsetGaussianConditional()
    mean = torch.from_numpy(rng.normal(0, 5, (1, n)))
    scale = torch.from_numpy(np.exp(rng.uniform(np.log(0.05), np.log(60), (1, n))))
    y = torch.round(mean + scale * torch.from_numpy(rng.normal(size=(1, n))))
    ans = constriction.stream.stack.AnsCoder()
    g.push(ans, y, mean, scale)
    assert abs(ans.num_valid_bits() - g.information_bits(y, mean, scale)) <= 33
    assert torch.equal(g.pop(ans, mean, scale), y.double()) and ans.is_empty()


def test_offset_tables_beat_ignoring_the_fractional_mean():
    """A table per fractional part of the mean pays off at small scales (the reason it exists)."""
    g = OffsetGaussianConditional()
    mean = torch.full((1, 2000), 0.4)
    scale = torch.full((1, 2000), 0.3)
    y = torch.round(mean + scale * torch.randn(1, 2000, generator=torch.Generator().manual_seed(0)))
    centred = g.information_bits(y, torch.round(mean), scale)  # as if the mean were the nearest integer
    assert g.information_bits(y, mean, scale) < 0.8 * centred


# ----------------------------------------------------------------------------- the toy model

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 12), st.integers(2, 16), st.integers(1, 80), st.booleans(), st.integers(0, 2 ** 32 - 1))
def test_toy_ans_net_rate_is_the_nelbo(K, V, n, exact, seed):
    """Over random toy models: the stack grows by the NELBO of the items (bits written minus bits taken)
    within a few bits per item, everything decodes, and the initial bits come back exactly."""
    rng = np.random.default_rng(seed)
    toy = ToyLatentModel.random(K, V, rng, exact_posterior=exact)
    xs = rng.integers(0, V, n)
    init = rng.integers(1, 2 ** 32, 8, dtype=np.uint64).astype(np.uint32)
    ans = constriction.stream.stack.AnsCoder(init, seal=True)
    start = ans.num_valid_bits()
    zs = toy.encode(ans, xs)
    nelbo = sum(toy.nelbo_bits(x, z) for x, z in zip(xs, zs))
    assert abs((ans.num_valid_bits() - start) - nelbo) <= 2 * n ** 0.5 + 33
    assert toy.decode(ans, n).tolist() == xs.tolist()
    assert np.array_equal(ans.get_compressed(unseal=True), init)


def test_toy_exact_posterior_closes_the_gap():
    """With the exact posterior the net rate approaches -log2 P(x), below sending z and x."""
    rng = np.random.default_rng(3)
    toy = ToyLatentModel.random(8, 10, rng)
    xs = rng.integers(0, 10, 3000)
    ans = stack()
    start = ans.num_valid_bits()
    zs = toy.encode(ans, xs)
    net = (ans.num_valid_bits() - start) / len(xs)
    marginal = np.mean([toy.marginal_bits(x) for x in xs])
    joint = np.mean([toy.joint_bits(x, z) for x, z in zip(xs, zs)])
    assert abs(net - marginal) < 0.05 and net < joint - 0.2


# ----------------------------------------------------------------------------- the bits-back hyperprior

@pytest.fixture(scope="module")
def tiny(tiny_bitsback):
    return tiny_bitsback


@pytest.mark.parametrize("method", BitsBackHyperprior.methods)
def test_side_information_comes_back_exactly(tiny, method):
    side = np.random.default_rng(1).bytes(3001)  # not a multiple of 4 bytes
    c = tiny.compress(picture(), 1, method=method, steps=15, side_info=side)
    x_hat, back = tiny.decompress_with_side_info(c.sections, c.latent_shape, 1, extra=c.extra)
    assert back == side and torch.equal(x_hat, c.x_hat)
    assert c.info["taken_bits"] > 0 and c.info["written_bits"] > c.info["taken_bits"]
    # the bits taken are Q's information content, measured on the stack
    assert abs(c.info["taken_bits"] + c.bits["z_back"]) <= 33


def test_without_side_information_the_file_carries_initial_bits(tiny):
    c = tiny.compress(picture(), 0, method="bitsback_no_iter")
    assert c.info["initial_bits"] == c.info["side_info_bits"] > 0
    x_hat, back = tiny.decompress_with_side_info(c.sections, c.latent_shape, 0, extra=c.extra)
    assert torch.equal(x_hat, c.x_hat) and 8 * len(back) == c.info["initial_bits"]
    # the initial bits are enough, not extravagant: at most 25 % + 3 words above what Q takes
    assert c.info["initial_bits"] <= 1.25 * (-c.bits["z_back"]) + 3 * 32 + 64


def test_side_information_too_short_for_push_image_is_one_clear_error(tiny):
    """push_image (the archive interface) refuses a stack that runs out of bits; compress tops such a side
    information up instead (tests/test_side_info_topup.py)."""
    prepared = tiny.prepare_image(picture(), 1, method="bitsback_no_iter")
    with pytest.raises(SideInfoTooShort, match="side information too short"):
        tiny.push_image(stack([0x61626364]), prepared)
    c = tiny.compress(picture(), 1, method="bitsback_no_iter", side_info=b"abcd")
    assert c.info["initial_bits"] > 0 and len(c.extra) == 13
    assert tiny.decompress_with_side_info(c.sections, c.latent_shape, 1, extra=c.extra)[1] == b"abcd"


def test_joint_loss_of_a_batch_is_each_images_own_loss(tiny):
    """Line 2 on a batch optimizes every image's own loss (a regression: the batch once shared one
    distortion term, which weighted rate B times too much)."""
    from neurcomp.inference.bbvi import joint_loss

    x = torch.cat([picture(64, 64, 1), picture(64, 64, 2)])
    g = torch.Generator().manual_seed(0)
    _, inv_gain, idx = tiny.gains(1, 2, "cpu")
    _, inv_hgain = tiny.hgains(idx)
    y_t = torch.randn(2, 12, 4, 4, generator=g)
    z = torch.randn(2, 8, 1, 1, generator=g)
    mu, sigma = torch.zeros_like(z), torch.ones_like(z)
    with torch.no_grad():
        both = joint_loss(tiny, x, y_t, z, mu, sigma, inv_gain, inv_hgain, 0.05)
        alone = [joint_loss(tiny, x[i:i + 1], y_t[i:i + 1], z[i:i + 1], mu[i:i + 1], sigma[i:i + 1], inv_gain[i:i + 1],
                            inv_hgain[i:i + 1], 0.05) for i in range(2)]
    assert torch.allclose(both, torch.cat(alone), rtol=1e-5)


@pytest.mark.slow
def test_reproducible_bbvi_is_identical_in_a_fresh_process_with_other_threads(tiny, tmp_path):
    from neurcomp.inference.bbvi import reproducible_bbvi

    y_hat = torch.round(4 * torch.randn(1, 12, 8, 8, generator=torch.Generator().manual_seed(5)))
    torch.save({"state": tiny.state_dict(), "y": y_hat}, tmp_path / "m.pt")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        mu, sigma = reproducible_bbvi(tiny, y_hat, 1, steps=40, seed=7)
    finally:
        torch.set_num_threads(threads)
    code = ("import sys, torch; torch.set_num_threads(1); from neurcomp.models import BitsBackHyperprior; "
            "from neurcomp.inference.bbvi import reproducible_bbvi; d = torch.load(sys.argv[1]); "
            f"m = BitsBackHyperprior(**{TINY!r}); m.load_state_dict(d['state']); m.eval(); "
            "mu, s = reproducible_bbvi(m, d['y'], 1, steps=40, seed=7); torch.save((mu, s), sys.argv[2])")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.pt"), str(tmp_path / "out.pt")], check=True,
                   timeout=300)
    mu2, sigma2 = torch.load(tmp_path / "out.pt")
    assert torch.equal(mu, mu2) and torch.equal(sigma, sigma2)


# ----------------------------------------------------------------------------- codec, archive and CLI

@pytest.fixture
def with_zoo(bitsback_zoo):
    return bitsback_zoo


def _images():
    return [("first", picture(96, 128, 1)[0]), ("second", picture(64, 80, 2)[0]), ("third", picture(130, 70, 3)[0])]


@pytest.mark.slow
def test_archive_round_trip_in_a_fresh_process(with_zoo, tmp_path):
    from neurcomp.bitsback import compress_archive

    side = b"a caption that rides along with the photos"
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        data, report = compress_archive(_images(), "tbb@0.05", method="bitsback", steps=10, side_info=side)
    finally:
        torch.set_num_threads(threads)
    (tmp_path / "a.nca").write_bytes(data)
    # every image after the first takes its z bits from the images before it: the cumulative net rate
    # is the sum of the per-image net rates
    assert report["cumulative"][-1]["stack_bits"] - report["side_info_bits"] == pytest.approx(
        sum(r["net_bits"] for r in report["images"]), abs=64)
    code = ("import sys, torch; torch.set_num_threads(1); from neurcomp.cli import main; "
            "sys.exit(main(['decompress', sys.argv[1], sys.argv[2], '--side-info-out', sys.argv[3]]))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.nca"), str(tmp_path / "out"),
                        str(tmp_path / "side.bin")], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "NEURCOMP_WEIGHTS_PATH": str(with_zoo)})
    assert r.returncode == 0, r.stderr
    from PIL import Image
    for row in report["images"]:
        assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / f"{row['name']}.png")), row["x_hat"])
    assert (tmp_path / "side.bin").read_bytes() == side


@pytest.mark.slow
def test_cli_stream_with_side_information_and_errors(with_zoo, tmp_path, capsys):
    from neurcomp.cli import main
    from neurcomp.data import save_png, to_uint8

    save_png(to_uint8(picture(70, 90)[0]), tmp_path / "in.png")
    (tmp_path / "side.bin").write_bytes(os.urandom(999))
    assert main(["compress", str(tmp_path / "in.png"), str(tmp_path / "s.ncz"), "--model", "tbb@0.01",
                 "--method", "bitsback_no_sga", "--steps", "5", "--side-info", str(tmp_path / "side.bin")]) == 0
    code = ("import sys, torch; torch.set_num_threads(1); from neurcomp.cli import main; "
            "sys.exit(main(['decompress', sys.argv[1], sys.argv[2], '--side-info-out', sys.argv[3]]))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.ncz"), str(tmp_path / "out.png"),
                        str(tmp_path / "back.bin")], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "NEURCOMP_WEIGHTS_PATH": str(with_zoo)})
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "back.bin").read_bytes() == (tmp_path / "side.bin").read_bytes()
    cases = [
        (["compress", str(tmp_path / "in.png"), str(tmp_path / "x.ncz"), "--side-info", str(tmp_path / "side.bin")],
         2, "only used by the bits-back methods"),
        (["compress", str(tmp_path / "in.png"), str(tmp_path / "in.png"), str(tmp_path / "x.nca")], 2,
         "only with a bits-back --method"),
        (["compress", str(tmp_path / "in.png"), str(tmp_path / "x.ncz"), "--model", "mshp@0.0067", "--method",
          "bitsback"], 2, "needs a bitsback model"),
        (["compress", str(tmp_path / "in.png"), str(tmp_path / "x.ncz"), "--model", "tbb@0.01", "--method",
          "bitsback", "--steps", "20000"], 2, "steps must be between 1 and 10000"),
        (["compress", str(tmp_path / "in.png"), str(tmp_path / "x.ncz"), "--model", "tbb@0.01", "--method",
          "bitsback_no_iter", "--seed", "-1"], 2, "seed is a whole number"),
        (["decompress", str(tmp_path / "in.png"), str(tmp_path / "y.png")], 1, "not a neurcomp stream"),
    ]
    capsys.readouterr()
    for argv, rc, message in cases:  # in this process (the fresh-process paths are the round trips above)
        code = main(argv)
        err = capsys.readouterr().err
        assert code == rc and message in err and len(err.strip().splitlines()) == 1, (argv, err)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_archives_are_refused(with_zoo, data):
    from neurcomp.bitsback import compress_archive, decompress_archive

    global _ARCHIVE
    if "_ARCHIVE" not in globals():
        _ARCHIVE = compress_archive(_images()[:2], "tbb@0.05", method="bitsback_no_iter")[0]
    blob = bytearray(_ARCHIVE)
    kind = data.draw(st.sampled_from(["truncate", "flip", "append"]))
    if kind == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    elif kind == "flip":
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] ^= data.draw(st.integers(1, 255))
    else:
        blob += data.draw(st.binary(min_size=1, max_size=8))
    with pytest.raises(BitstreamError):
        decompress_archive(bytes(blob))
