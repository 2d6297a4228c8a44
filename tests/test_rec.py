"""Relative entropy coding: shared randomness, index codes, samplers, the high-level API,
sampling-distribution checks and the MIRACLE warm-up on digits."""
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurcomp.entropy import CodingError
from neurcomp.rec import METHODS, rec_decode, rec_encode, stream_method
from neurcomp.entropy.bits import BitReader, BitWriter, elias_delta_decode, elias_delta_encode, elias_delta_length
from neurcomp.entropy.integer_codes import RangeReader, RangeWriter
from neurcomp.rec.randomness import (base_key, group_keys, normals, normals_from_bits, random_bits,
                                     splitmix64_stream, uniform53)
from neurcomp.rec.samplers import (adaptive_groups, harsha_bound_bits, harsha_encode, kl_bits, size_classes)

FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- shared randomness


def test_splitmix64_known_answer():
    """SplitMix64 seeded with 0 (Steele et al. 2014 / Vigna's reference implementation)."""
    assert [int(v) for v in splitmix64_stream(0, 4)] == [
        0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F, 0xF88BB8A8724C81EC]


def test_generator_fixed_vectors():
    """Hard-coded outputs: a change here breaks every stream written before it."""
    assert int(base_key(0, 0)) == 258863698125685209 and int(base_key(1, 0)) == 15979313559291895140
    k = group_keys(1, 0, np.arange(2))
    assert [int(v) for v in k] == [6654953048204110715, 16628365226939613132]
    b = random_bits(k[0], np.arange(3), 5)
    assert [int(v) for v in b] == [7959037061609565097, 15119269585912702043, 14558122375382301061]
    assert uniform53(b).tolist() == [0.43146026365448675, 0.8196172465720282, 0.7891973953349661]
    np.testing.assert_allclose(normals_from_bits(b), [1.1344771839030583, -0.057106220637597224, 0.6516086752224031],
                               rtol=1e-13)
    eps = normals(k[:, None], np.zeros((2, 1), np.uint64), np.arange(3)[None, :])
    np.testing.assert_allclose(eps, [[0.8262943549339141, -0.0329172405848273, 1.5052112681640448],
                                     [-0.7480627165313691, 0.23628279284782924, 0.4652348142202283]], rtol=1e-13)
    # extreme counters and keys wrap modulo 2^64 instead of failing
    np.testing.assert_allclose(normals(group_keys(2 ** 64 - 1, 7, np.array([123456]))[0], 2 ** 31 - 1, 2 ** 32 - 1),
                               -1.8792402629623457, rtol=1e-13)


def test_normals_look_standard_and_are_random_access():
    keys = group_keys(5, 0, np.arange(500))
    x = normals(keys[:, None], np.arange(400)[None, :], 0)
    assert abs(x.mean()) < 0.01 and abs(x.std() - 1) < 0.01 and abs((x ** 4).mean() - 3) < 0.05
    # candidate 123 of group 7 regenerated on its own equals the batch value
    assert normals(keys[7], 123, 0) == x[7, 123]
    # different domains and seeds give unrelated streams
    assert not np.allclose(normals(group_keys(5, 1, np.arange(3)), 0, 0), x[:3, 0])


# ----------------------------------------------------------------------------- index codes


@given(st.lists(st.integers(1, 2 ** 62), min_size=1, max_size=30))
@FAST
def test_elias_delta_round_trip(values):
    w = BitWriter()
    for v in values:
        elias_delta_encode(w, v)
    r = BitReader(w.getvalue())
    assert [elias_delta_decode(r) for _ in values] == values
    assert w.bits == int(elias_delta_length(values).sum())


def test_elias_delta_lengths_and_errors():
    assert elias_delta_length([1, 2, 3, 4, 16, 17]).tolist() == [1, 4, 4, 5, 9, 9]
    with pytest.raises(ValueError):
        elias_delta_encode(BitWriter(), 0)
    with pytest.raises(CodingError):
        elias_delta_decode(BitReader(b"\x00"))


@given(st.lists(st.integers(0, 2 ** 20 - 1), max_size=40), st.lists(st.integers(0, 9), max_size=40))
@FAST
def test_range_codes_round_trip(values, symbols):
    rw = RangeWriter()
    rw.log_classes(values, 20)
    rw.gamma(values)
    rw.histogram_coded(symbols, 10)
    rw.uint(values, 20)
    rr = RangeReader(rw.getvalue())
    n, m = len(values), len(symbols)
    assert rr.log_classes(n, 20).tolist() == values
    assert rr.gamma(n).tolist() == values
    assert rr.histogram_coded(m, 10).tolist() == symbols
    assert rr.uint(n, 20).tolist() == values


# ----------------------------------------------------------------------------- samplers


def test_adaptive_grouping_follows_algorithm_2():
    kl = np.array([1, 2, 3, 4, 5, 0.1, 0.1, 0.1, 13, 1.0])
    assert adaptive_groups(kl, 6, 64).tolist() == [3, 1, 4, 1, 1]
    assert adaptive_groups(kl, 6, 2).tolist() == [2, 1, 1, 2, 2, 1, 1]
    assert adaptive_groups(kl, 6, 64, size_classes(1, 64)).tolist() == [2, 1, 1, 4, 1, 1]
    assert size_classes(2, 64).tolist() == [1, 2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64]


def test_harsha_index_bound():
    """E[log2 i*] of Harsha et al.'s sampler stays below KL + 2 log2(KL + 1) + O(1) (Flamich et al. 2020 Eq. 3)."""
    for m, s in [(1.0, 0.3), (2.0, 0.1)]:
        kl = float(kl_bits([m], [s])[0])
        logs = [math.log2(harsha_encode(m, s, seed)[0] + 1) for seed in range(200)]
        assert np.mean(logs) <= harsha_bound_bits(kl, const=1.0), (kl, np.mean(logs))
        assert np.mean(logs) >= kl - 3  # and it is not trivially small


def _gaussians(draw_dims, seed):
    rng = np.random.default_rng(seed)
    mp = rng.normal(0, 1, draw_dims)
    sp = np.exp(rng.uniform(-1, 1, draw_dims))
    active = rng.random(draw_dims) < 0.6
    mq = mp + sp * np.where(active, rng.normal(0, 1.2, draw_dims), rng.normal(0, 0.02, draw_dims))
    sq = sp * np.where(active, np.exp(rng.uniform(-3, 0.3, draw_dims)), 1.0)
    return mq, sq, mp, sp


PARAMS = {"orc": {"budget_bits": 8}, "seed": {"budget_bits": 8}, "miracle": {}, "harsha": {},
          "orc-hint": {"budget_bits": 8}}


def _hint(mq, sq, mp, sp):
    """A stand-in for a decoder-side KL prediction: the true KL, blurred (any array both sides share works)."""
    return np.round(kl_bits((mq - mp) / sp, sq / sp) * 1.3 + 0.2, 1)


@pytest.mark.parametrize("method", METHODS)
@given(dims=st.integers(1, 12), seed=st.integers(0, 2 ** 64 - 1), data_seed=st.integers(0, 1000))
@FAST
def test_round_trip_reproduces_the_sample_exactly(method, dims, seed, data_seed):
    mq, sq, mp, sp = _gaussians(dims, data_seed)
    if method in ("miracle", "harsha"):  # one block / per-dim rejection sampling: keep the KL small
        mq, sq = mp + 0.3 * (mq - mp), np.maximum(sq, 0.5 * sp)
        if method == "miracle" and kl_bits((mq - mp) / sp, sq / sp).sum() > 14:
            return
    hint = {"kl_hint": _hint(mq, sq, mp, sp)} if method == "orc-hint" else {}
    data, z, info = rec_encode(mq, sq, mp, sp, seed, method, **PARAMS[method], **hint)
    assert z.shape == (dims,) and z.dtype == np.float64
    assert stream_method(data) == method and info["coded_bits"] == 8 * len(data)
    assert abs(info["kl_bits"] - kl_bits((mq - mp) / sp, sq / sp).sum()) < 1e-9
    z2 = rec_decode(data, mp, sp, seed, (dims,), method, **hint)
    assert np.array_equal(z, z2)


def test_grouped_round_trip_with_outliers_wide_posteriors_and_shapes():
    rng = np.random.default_rng(1)
    shape = (1, 3, 8, 8)
    mp, sp = rng.normal(size=shape), np.exp(rng.uniform(-1, 1, shape))
    mq, sq = mp + sp * rng.normal(0, 1, shape), sp * np.exp(rng.uniform(-2, 0.5, shape))
    mq[0, 0, 0, :3] = mp[0, 0, 0, :3] + sp[0, 0, 0, :3] * np.array([0.1, 30.0, -70.0])  # far outliers (clipped)
    sq[0, 0, 0, 3] = 1e-6 * sp[0, 0, 0, 3]  # a very precise one
    for method in ("orc", "seed"):
        data, z, info = rec_encode(torch.from_numpy(mq), sq, mp, sp, 9, method, budget_bits=8)
        assert info["n_outliers"] >= 3 and z.shape == shape
        assert np.array_equal(z, rec_decode(data, mp, sp, 9, shape, method))
        # the precise outlier is coded to within its posterior scale
        assert abs(z[0, 0, 0, 3] - mq[0, 0, 0, 3]) < 6 * sq[0, 0, 0, 3] + 1e-12
    with pytest.raises(CodingError):
        rec_decode(data, mp, sp, 9, (1, 3, 8, 7))
    with pytest.raises(CodingError):
        rec_decode(data[: len(data) // 2], mp, sp, 9, shape)
    with pytest.raises(CodingError):
        rec_decode(data, mp, sp, 9, shape, method="orc")


def test_orc_beats_the_seed_coder_on_a_grouped_latent():
    """Actual / KL: Flamich et al. 2020's coder (argmax importance sampler + Elias-delta) vs ordered random coding."""
    mq, sq, mp, sp = _gaussians(3000, 4)
    ratios = {}
    for method in ("seed", "orc"):
        data, z, info = rec_encode(mq, sq, mp, sp, 2, method, budget_bits=10)
        ratios[method] = info["coded_bits"] / info["kl_bits"]
    assert ratios["orc"] < ratios["seed"] - 0.15, ratios
    assert 1.0 < ratios["orc"] < 1.8, ratios


def test_hinted_groups_split_outliers_and_errors():
    """orc-hint: groups from a shared hint (none sent), split flags where the hint was wrong, outliers."""
    rng = np.random.default_rng(1)
    shape = (1, 3, 8, 8)
    mp, sp = rng.normal(size=shape), np.exp(rng.uniform(-1, 1, shape))
    mq, sq = mp + sp * rng.normal(0, 1, shape), sp * np.exp(rng.uniform(-2, 0.5, shape))
    mq[0, 0, 0, 1] = mp[0, 0, 0, 1] + 30 * sp[0, 0, 0, 1]
    for hint in (np.zeros(shape), _hint(mq, sq, mp, sp), np.full(shape, 50.0)):
        data, z, info = rec_encode(mq, sq, mp, sp, 9, "orc-hint", kl_hint=hint, budget_bits=8)
        assert info["n_outliers"] >= 1
        assert np.array_equal(z, rec_decode(data, mp, sp, 9, shape, kl_hint=hint))
        if not hint.any():  # one hint group for everything: the encoder splits it down to the budget
            assert info["n_splits"] > 0 and info["n_groups"] > 10
    with pytest.raises(ValueError, match="kl_hint"):
        rec_encode(mq, sq, mp, sp, 9, "orc-hint")
    with pytest.raises(ValueError, match="kl_hint"):
        rec_decode(data, mp, sp, 9, shape)
    with pytest.raises(CodingError):
        rec_decode(data[: len(data) // 2], mp, sp, 9, shape, kl_hint=hint)


def test_hinted_groups_beat_sent_group_sizes():
    """With a hint that predicts the KL (here the expected KL of a latent whose posterior scale is
    known), sending no group sizes lowers actual / KL."""
    rng = np.random.default_rng(4)
    n = 6000
    mp, sp = np.zeros(n), np.exp(rng.uniform(-1, 1.5, n))
    sl = 0.4
    sq = 1 / np.sqrt(1 / sl ** 2 + 1 / sp ** 2)
    mq = np.sqrt(sp ** 2 - sq ** 2) * rng.normal(size=n)  # z ~ p marginally
    hint = np.log2(sp / sq)
    r = {}
    for method, kw in (("orc", {}), ("orc-hint", {"kl_hint": hint})):
        data, z, info = rec_encode(mq, sq, mp, sp, 2, method, budget_bits=10, **kw)
        r[method] = info["coded_bits"] / info["kl_bits"]
        assert np.array_equal(z, rec_decode(data, mp, sp, 2, **kw))
    assert r["orc-hint"] < r["orc"] - 0.08, r


def test_threads_do_not_change_the_stream():
    mq, sq, mp, sp = _gaussians(20000, 5)
    a = rec_encode(mq, sq, mp, sp, 3, "orc", budget_bits=6, extra_bits=1, threads=1)[0]
    b = rec_encode(mq, sq, mp, sp, 3, "orc", budget_bits=6, extra_bits=1, threads=2)[0]
    assert a == b
    h = _hint(mq, sq, mp, sp)
    a = rec_encode(mq, sq, mp, sp, 3, "orc-hint", kl_hint=h, budget_bits=6, extra_bits=1, threads=1)[0]
    b = rec_encode(mq, sq, mp, sp, 3, "orc-hint", kl_hint=h, budget_bits=6, extra_bits=1, threads=2)[0]
    assert a == b


# ----------------------------------------------------------------------------- do REC samples follow q?


def _many_copies(mq, sq, n, method, **kw):
    """n independent REC samples of a small q in one call: one group per copy."""
    d = len(mq)
    data, z, _ = rec_encode(np.tile(mq, n), np.tile(sq, n), np.zeros(d * n), np.ones(d * n), 17, method,
                            max_group=d, **kw)
    return z.reshape(n, d)


def test_samples_follow_q_in_1d():
    from scipy import stats

    from neurcomp.rec.digits import histogram_vs_density, sample_check_1d

    q = stats.norm(0.8, 0.4)
    for method, kw in [("harsha", {}), ("miracle", {"extra_bits": 4})]:
        r = sample_check_1d(0.8, 0.4, n_seeds=300, method=method, **kw)
        assert r["p_value"] > 1e-3, (method, r["p_value"])
    h = histogram_vs_density(r["samples"], 0.8, 0.4, bins=10)
    assert np.abs(h["histogram"] - h["density"]).max() < 0.35
    z = _many_copies([0.8], [0.4], 3000, "orc", budget_bits=4, extra_bits=5)[:, 0]
    assert stats.kstest(z, q.cdf).pvalue > 1e-3
    z = _many_copies([0.8], [0.4], 3000, "orc-hint", budget_bits=4, extra_bits=5,
                     kl_hint=np.full(3000, float(kl_bits([0.8], [0.4])[0])))[:, 0]
    assert stats.kstest(z, q.cdf).pvalue > 1e-3
    # the seed's argmax rule with many candidates is biased towards the mode (smaller spread)
    z = _many_copies([0.8], [0.4], 1000, "seed", budget_bits=2)[:, 0]
    assert stats.kstest(z, q.cdf).pvalue < 1e-3


def test_samples_follow_q_in_2d():
    from neurcomp.rec.digits import sample_check_2d

    r = sample_check_2d((0.6, -0.4), (0.5, 0.3), n_seeds=250, method="orc", n_permutations=100,
                        budget_bits=6, extra_bits=4)
    assert r["p_value"] > 1e-3 and r["mmd_p_value"] > 1e-3, r
    r = sample_check_2d((0.6, -0.4), (0.5, 0.3), n_seeds=250, method="harsha", n_permutations=100)
    assert r["p_value"] > 1e-3 and r["mmd_p_value"] > 1e-3, r


# ----------------------------------------------------------------------------- MIRACLE warm-up


def test_digits_warm_up():
    from neurcomp.rec.digits import code_digits, load_digits_tensor, train_digits_vae

    torch.manual_seed(0)
    vae, log = train_digits_vae(seconds=3.0, seed=0)
    assert 4 < log["kl_bits"] < 20 and log["psnr"] > 14
    X = load_digits_tensor()[:8]
    rows = code_digits(vae, X, "miracle")
    assert all(r["decoded_ok"] for r in rows)
    kl = np.mean([r["kl_bits"] for r in rows])
    idx_bits = np.mean([r["index_bits"] for r in rows])
    assert kl <= idx_bits <= 2 * kl + 12  # Elias-delta of an index below 2^(KL + 2)
    assert abs(np.mean([r["psnr_rec"] for r in rows]) - np.mean([r["psnr_exact"] for r in rows])) < 1.5


# ----------------------------------------------------------------------------- fixed group-size tables


@given(dims=st.integers(1, 400), data_seed=st.integers(0, 1000), seed=st.integers(0, 2 ** 32),
       table_seed=st.integers(0, 1000))
@FAST
def test_seed_coder_under_a_fixed_size_table_round_trips(dims, data_seed, seed, table_seed):
    """Flamich et al.'s sizes coded under a table fixed elsewhere (any table: sizes it never saw stay codable)."""
    from neurcomp.rec.size_table import table_id

    mq, sq, mp, sp = _gaussians(dims, data_seed)
    table = np.random.default_rng(table_seed).integers(0, 50, 16).tolist()
    data, z, info = rec_encode(mq, sq, mp, sp, seed, "seed", budget_bits=8, max_group=16, size_counts=table)
    assert np.array_equal(z, rec_decode(data, mp, sp, seed, (dims,), "seed", size_counts=table))
    # the same sample as without the table (the table changes how sizes are coded, nothing else)
    _, z_own, _ = rec_encode(mq, sq, mp, sp, seed, "seed", budget_bits=8, max_group=16)
    assert np.array_equal(z, z_own)
    other = list(table)
    other[0] += 1
    assert table_id(other) != table_id(table)
    with pytest.raises(CodingError, match="size table"):
        rec_decode(data, mp, sp, seed, (dims,), "seed", size_counts=other)
    with pytest.raises(ValueError, match="size_counts"):
        rec_decode(data, mp, sp, seed, (dims,), "seed")


def test_size_table_costs_the_cross_entropy_of_the_sizes():
    """The sizes section is -log2 of the sizes under the table (counts + 1), to within the range coder's
    final bytes, and a table fitted on the latent itself beats one fitted on very different KLs."""
    from neurcomp.rec.samplers import adaptive_groups
    from neurcomp.rec.size_table import coding_counts, count_group_sizes

    mq, sq, mp, sp = _gaussians(3000, 7)
    kl = kl_bits((mq - mp) / sp, sq / sp)
    own = count_group_sizes(kl, 8, 32)
    sizes = adaptive_groups(kl[kl <= 8], 8, 32)
    assert own.sum() == sizes.size and (own * np.arange(1, 33)).sum() == (kl <= 8).sum()
    probs = coding_counts(own) / coding_counts(own).sum()
    ideal = -np.log2(probs[sizes - 1]).sum()
    _, _, info = rec_encode(mq, sq, mp, sp, 1, "seed", budget_bits=8, max_group=32, size_counts=own)
    assert ideal - 1 <= info["size_bits"] <= ideal + 64, (ideal, info["size_bits"])
    skewed = count_group_sizes(kl * 6, 8, 32)  # six times the KL: mostly tiny groups
    _, _, info_skewed = rec_encode(mq, sq, mp, sp, 1, "seed", budget_bits=8, max_group=32, size_counts=skewed)
    assert info_skewed["size_bits"] > info["size_bits"] + 100
    with pytest.raises(ValueError, match="max_group"):
        rec_encode(mq, sq, mp, sp, 1, "seed", budget_bits=8, max_group=16, size_counts=own)
