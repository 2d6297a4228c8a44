"""Tests for neurcomp.baselines: Pillow codecs, sweeps, bpp targeting, JSON output."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from neurcomp import baselines as B
from neurcomp import metrics as M


def _photo(h=176, w=184, seed=0):
    """A smooth image with some texture: compresses like a (tiny) photograph."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * xx + c) * np.cos(4 * yy - c) for c in (0.0, 1.0, 2.0)], axis=-1)
    img = 127.5 + 90 * base + rng.normal(0, 6, (h, w, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


AVAILABLE = B.available_codecs()
CODECS = [c for c, ok in AVAILABLE.items() if ok]


@pytest.fixture(autouse=True)
def _one_thread():
    """MS-SSIM on small images gains nothing from threads, and shared cores make them slow."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_available_codecs():
    assert set(AVAILABLE) == {"jpeg", "webp", "jpeg2000", "avif"}
    assert all(isinstance(v, bool) for v in AVAILABLE.values())
    assert AVAILABLE["jpeg"] and AVAILABLE["webp"]


@pytest.mark.parametrize("codec", CODECS)
def test_roundtrip_and_rate_grows_with_quality(codec):
    img = _photo(64, 72)
    qs = B.CODEC_QUALITIES[codec]
    lo, hi = qs[1], qs[-2]
    small, big = B.encode(img, codec, lo), B.encode(img, codec, hi)
    assert len(small) < len(big)
    rec = B.decode(big)
    assert rec.shape == img.shape and rec.dtype == np.uint8
    assert M.psnr(img, rec) > M.psnr(img, B.decode(small)) > 20


def test_encode_accepts_tensors():
    img = _photo(32, 32)
    t = torch.from_numpy(img).permute(2, 0, 1).float() / 255
    assert B.encode(t, "jpeg", 80) == B.encode(img, "jpeg", 80)
    assert B.encode(t.unsqueeze(0), "webp", 50) == B.encode(img, "webp", 50)


def test_errors(monkeypatch):
    img = _photo(16, 16)
    with pytest.raises(ValueError, match="unknown codec"):
        B.encode(img, "gif", 50)
    with pytest.raises(ValueError, match="quality"):
        B.encode(img, "jpeg", 150)
    monkeypatch.setattr(B, "_works", lambda name: name != "avif")
    with pytest.raises(B.CodecUnavailable, match="not available"):
        B.encode(img, "avif", 50)
    assert B.available_codecs()["avif"] is False


def test_evaluate_and_run_baseline(tmp_path):
    Image.fromarray(_photo(seed=1)).save(tmp_path / "one.png")
    Image.fromarray(_photo(seed=2)).save(tmp_path / "two.png")
    out = tmp_path / "res" / "jpeg.json"
    recs = B.run_baseline(tmp_path, "jpeg", out, qualities=[20, 80], progress=False)
    assert len(recs) == 4
    r = recs[0]
    assert {"image", "codec", "quality", "bpp", "psnr", "ms_ssim", "ms_ssim_db"} <= set(r)
    assert r["image"] == "one" and r["codec"] == "jpeg" and r["quality"] == 20
    assert r["bpp"] == pytest.approx(8 * r["bytes"] / (176 * 184))
    assert 0 < r["ms_ssim"] < 1 and r["ms_ssim_db"] == pytest.approx(M.ms_ssim_db(r["ms_ssim"]))
    assert recs[1]["bpp"] > r["bpp"] and recs[1]["psnr"] > r["psnr"]
    assert json.loads(out.read_text()) == recs
    assert [p.name for p in out.parent.iterdir()] == ["jpeg.json"]


def test_evaluate_small_images_have_no_ms_ssim(tmp_path):
    Image.fromarray(_photo(40, 40)).save(tmp_path / "s.png")
    (rec,) = B.evaluate(tmp_path, "webp", [50], progress=False)
    assert rec["ms_ssim"] is None and rec["psnr"] > 20


@pytest.mark.parametrize("codec", ["jpeg", "webp"] + (["jpeg2000"] if AVAILABLE["jpeg2000"] else []))
def test_quality_for_bpp(codec):
    img = _photo(96, 96)
    target = 1.0
    q, rate, blob = B.quality_for_bpp(img, codec, target)
    assert rate <= target and rate == pytest.approx(M.bpp(len(blob), 96, 96))
    step = 1 if codec != "jpeg2000" else 0.01
    assert M.bpp(len(B.encode(img, codec, q + step)), 96, 96) > target  # the highest such quality
    q0, rate0, _ = B.quality_for_bpp(img, codec, 1e-4)  # unreachable: lowest quality back
    assert q0 == B.QUALITY_RANGE[codec][0] and rate0 > 1e-4
