"""Tests for neurcomp.metrics: PSNR, MS-SSIM, bpp, Bjontegaard deltas, R-D curves."""

import math

import numpy as np
import pytest
import torch

from neurcomp import metrics as M

RATES = [0.15, 0.3, 0.55, 0.9, 1.4, 2.1]
PSNRS = [26.0, 28.7, 31.0, 33.1, 35.4, 37.6]


@pytest.fixture(autouse=True)
def _one_thread():
    """MS-SSIM on small images gains nothing from threads, and shared cores make them slow."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ----------------------------------------------------------------------------- PSNR / MSE


def test_psnr_known_values():
    x = torch.zeros(3, 8, 8)
    assert M.psnr(x, x) == float("inf")
    assert M.psnr(x, x + 1 / 255) == pytest.approx(10 * math.log10(255**2), abs=1e-9)
    y = x.clone()
    y[0, 0, 0] = 10 / 255  # one channel value off by 10 -> MSE = 100 / 192
    assert M.mse_8bit(x, y) == pytest.approx(100 / 192)
    assert M.psnr(x, y) == pytest.approx(10 * math.log10(255**2 * 192 / 100))


def test_psnr_rounds_to_8_bits_first():
    x = torch.full((3, 4, 4), 100 / 255)
    assert M.psnr(x, x + 0.4 / 255) == float("inf")  # below half a grey level
    assert M.psnr(x, x.clamp(0, 1) + 5.0) == M.psnr(x, torch.ones(3, 4, 4))  # clamped to 1


def test_psnr_accepts_uint8_arrays_batches_and_max_val():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    t = torch.from_numpy(a).permute(2, 0, 1).float() / 255
    assert M.psnr(a, b) == pytest.approx(M.psnr(t, b))
    assert M.psnr(t.unsqueeze(0).repeat(2, 1, 1, 1), np.stack([b, b])) == pytest.approx(M.psnr(a, b))
    assert M.psnr(t * 255, b, max_val=255.0) == pytest.approx(M.psnr(a, b))
    with pytest.raises(TypeError):
        M.psnr(a.astype(np.float32), b)
    with pytest.raises(ValueError):
        M.psnr(a, b[:8])


# ----------------------------------------------------------------------------- MS-SSIM


def test_ms_ssim_identical_and_noisy():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 176, 180, generator=g)
    assert M.ms_ssim(x, x) == pytest.approx(1.0, abs=1e-6)
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    v = M.ms_ssim(x, y)
    assert 0 < v < 1
    assert M.ms_ssim(x, y) == pytest.approx(M.ms_ssim(x.unsqueeze(0), y.unsqueeze(0)))


def test_ms_ssim_small_image_raises():
    x = torch.rand(3, 128, 300)
    with pytest.raises(ValueError, match="161"):
        M.ms_ssim(x, x)


def test_ms_ssim_db():
    assert M.ms_ssim_db(0.99) == pytest.approx(20.0)
    assert M.ms_ssim_db(0.999) == pytest.approx(30.0)
    assert M.ms_ssim_db(1.0) == float("inf")
    assert np.allclose(M.ms_ssim_db(np.array([0.9, 0.99])), [10.0, 20.0])


def test_bpp():
    assert M.bpp(49152, 512, 768) == 1.0
    assert M.bpp(b"\x00" * 12, 4, 6) == 4.0


# ----------------------------------------------------------------------------- Bjontegaard


def test_bd_rate_same_curve_is_zero():
    assert abs(M.bd_rate(RATES, PSNRS, RATES, PSNRS)) < 1e-9
    assert abs(M.bd_psnr(RATES, PSNRS, RATES, PSNRS)) < 1e-9


def test_bd_rate_scaled_rates():
    assert M.bd_rate(RATES, PSNRS, [0.9 * r for r in RATES], PSNRS) == pytest.approx(-10.0, abs=0.1)
    assert M.bd_rate(RATES, PSNRS, [1.2 * r for r in RATES], PSNRS) == pytest.approx(20.0, abs=0.1)


def test_bd_psnr_shifted_curve():
    assert M.bd_psnr(RATES, PSNRS, RATES, [p + 1 for p in PSNRS]) == pytest.approx(1.0, abs=1e-9)


def test_bd_sorting_and_four_points():
    order = [3, 0, 2, 1]
    r4, p4 = [RATES[i] for i in order], [PSNRS[i] for i in order]
    assert M.bd_rate(RATES[:4], PSNRS[:4], r4, p4) == pytest.approx(0.0, abs=1e-9)


def test_bd_errors():
    with pytest.raises(ValueError, match="at least 4"):
        M.bd_rate(RATES[:3], PSNRS[:3], RATES, PSNRS)
    with pytest.raises(ValueError, match="overlap"):
        M.bd_rate(RATES, PSNRS, RATES, [p + 20 for p in PSNRS])
    with pytest.raises(ValueError, match="overlap"):
        M.bd_psnr(RATES, PSNRS, [r * 100 for r in RATES], PSNRS)
    with pytest.raises(ValueError, match="same length"):
        M.bd_rate(RATES, PSNRS[:-1], RATES, PSNRS)


# ----------------------------------------------------------------------------- curves from records


def _records():
    recs = []
    for img, off in (("a", 0.0), ("b", 2.0)):
        for q, r, p in zip((10, 30, 50, 70), (0.2, 0.4, 0.8, 1.6), (27.0, 30.0, 33.0, 36.0)):
            recs.append({"image": img, "codec": "jpeg", "quality": q, "bpp": r + off / 10, "psnr": p + off,
                         "ms_ssim": 0.9 + q / 1000})
            recs.append({"image": img, "codec": "webp", "quality": q, "bpp": 0.9 * (r + off / 10),
                         "psnr": p + off, "ms_ssim_db": 12.0})
    return recs


def test_mean_curve_and_rd_points():
    recs = [r for r in _records() if r["codec"] == "jpeg"]
    b, p, m = M.mean_curve(recs, "quality")
    assert np.allclose(b, [0.3, 0.5, 0.9, 1.7]) and np.allclose(p, [28, 31, 34, 37])
    assert np.allclose(m, M.ms_ssim_db(np.array([0.91, 0.93, 0.95, 0.97])))
    xs, ys = M.rd_points(recs, x="bpp", y="psnr", group_by="quality")
    assert np.allclose(xs, b) and np.allclose(ys, p)


def test_curves_from_records_and_bd():
    curves = M.curves_from_records(_records(), "codec", "quality")
    assert list(curves) == ["jpeg", "webp"]
    assert np.allclose(curves["webp"]["ms_ssim_db"], 12.0)
    j, w = curves["jpeg"], curves["webp"]
    assert M.bd_rate(j["bpp"], j["psnr"], w["bpp"], w["psnr"]) == pytest.approx(-10.0, abs=0.1)
    # crops too small for MS-SSIM record None: the curve gets NaN there, not an error
    small = M.curves_from_records([{"codec": "x", "quality": 1, "bpp": 0.5, "psnr": 30.0, "ms_ssim": None}])
    assert np.isnan(small["x"]["ms_ssim_db"]).all() and small["x"]["psnr"][0] == 30.0
