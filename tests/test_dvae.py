"""Discretized VAEs (Duan 2022): prior pmf, rates (training / eval / coded), codec round trips, samples."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import SHARED_DATA, have_data, train_into_zoo, use_zoo
from neurcomp.entropy import CodingError, GaussianConditional
from neurcomp.models import MODEL_CLASSES, build_model
from neurcomp.models.dvae import DiscretizedVAE, HierarchicalDVAE, coding_scale, discretized_gaussian_pmf
from neurcomp.train import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ["dvae_tiny", "hdvae_tiny", "dvae", "hdvae", "dvae_full", "hdvae_full"]
#: the tiny test models are the models of configs/dvae_tiny.yaml and configs/hdvae_tiny.yaml
TINY = {"tdvae": load_config(ROOT / "configs" / "dvae_tiny.yaml")["model"],
        "thdvae": load_config(ROOT / "configs" / "hdvae_tiny.yaml")["model"]}
#: How close the training-mode rate (uniform noise, mean of 4 draws) must be to the eval-mode rate
#: (rounding; = the coded size) of the 40-step tiny models, relative to the eval rate, at the
#: lowest and highest lambda: 10 %. Measured (kodim23, 256x256 centre crop): dvae +6.8 % / +0.2 %,
#: hdvae -6 % / -2 %. The noise relaxation overestimates the rate of low-entropy latents (prior
#: scale below ~0.5: the noisy latent leaves the prior's bulk, the rounded one does not), most of
#: them at a low lambda; with more training that gap grows at the lowest lambda (dvae after 300
#: steps: +22 %) and stays small at the highest (+0.6 %). In the hierarchy the lower levels are
#: also conditioned on noisy (training) vs rounded (eval) upper latents, which moves both ways.
TRAIN_EVAL_RATE_TOL = {"tdvae": 0.10, "thdvae": 0.10}


def _synthetic(h, w, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    arr = np.stack([np.sin(6 * xx + 2 * yy), np.cos(5 * yy - 3 * xx), np.sin(4 * (xx + yy))], -1)
    arr = (arr + 1) * 110 + rng.normal(0, 8, arr.shape)
    return np.clip(arr, 0, 255).astype(np.uint8)


def _test_image(h=256, w=256) -> torch.Tensor:
    """Centre crop of kodim23 (or a synthetic image without data), ``[1, 3, h, w]`` in [0, 1]."""
    if have_data():
        from neurcomp.data import load_image
        x = load_image(os.path.join(os.environ["NEURCOMP_DATA"], "kodak", "kodim23.png"))
        t, l = (x.shape[1] - h) // 2, (x.shape[2] - w) // 2
        return x[None, :, t : t + h, l : l + w].contiguous()
    return torch.from_numpy(_synthetic(h, w)).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module")
def dvae_weights(tmp_path_factory):
    """Train a tiny DVAE and a tiny hierarchical DVAE for a few steps on 8 training images
    (synthetic ones without data) and export them as 'tdvae' and 'thdvae' into a temp zoo."""
    from neurcomp.train import DEFAULTS

    root = tmp_path_factory.mktemp("dvae")
    train_dir = root / "data" / "train"
    train_dir.mkdir(parents=True)
    real = sorted((SHARED_DATA / "train" / "wikipedia_photos").glob("*.png"))[:8] if have_data() else []
    for i in range(8):
        if real:
            (train_dir / real[i].name).symlink_to(real[i])
        else:
            Image.fromarray(_synthetic(96, 96, seed=i)).save(train_dir / f"{i}.png")
    zoo = root / "zoo"
    for name, model in TINY.items():
        cfg = {**DEFAULTS, "model": model, "steps": 40, "batch_size": 4, "crop": 64, "lr": 3e-3,
               "warmup_steps": 5, "eval_images": 0, "data": str(root / "data")}
        train_into_zoo(cfg, zoo, name)
    return zoo


@pytest.fixture()
def dvae_zoo(dvae_weights, monkeypatch):
    yield from use_zoo(dvae_weights, monkeypatch)


# ----------------------------------------------------------------------------- prior


def test_registered():
    assert MODEL_CLASSES["dvae"] is DiscretizedVAE and MODEL_CLASSES["hdvae"] is HierarchicalDVAE


@pytest.mark.parametrize("name", CONFIGS)
def test_configs_build(name):
    cfg = load_config(ROOT / "configs" / f"{name}.yaml")
    model = build_model(cfg["model"])
    assert model.kind == ("hdvae" if name.startswith("hdvae") else "dvae")
    assert cfg["crop"] % model.stride == 0
    if not name.endswith("_tiny"):
        assert len(model.lambdas) >= 3
    if model.kind == "hdvae":
        assert model.levels >= 3


def test_prior_pmf_sums_to_one_over_the_integers():
    k = torch.arange(-3000, 3001, dtype=torch.float64)
    for mean in (0.0, 0.37, -2.5):
        for scale in (0.05, 0.11, 1.0, 7.3, 200.0):
            assert abs(float(discretized_gaussian_pmf(k, mean, scale).sum()) - 1.0) < 1e-12
    torch.manual_seed(0)
    m = DiscretizedVAE(N=8, M=6, lambdas=[0.003, 0.03])
    with torch.no_grad():
        m.prior_raw_scale.normal_(0, 2)
        m.prior_mean.normal_(0, 3)
    for r in range(2):
        pmf = m.prior_pmf(r, k)
        assert pmf.shape == (6, k.numel()) and torch.all(pmf >= 0)
        assert torch.allclose(pmf.sum(1), torch.ones(6, dtype=torch.float64), atol=1e-12)
    # the library's discretized Gaussian is the same pmf (relative to the mean)
    gc = GaussianConditional()
    z = torch.linspace(-6, 6, 97, dtype=torch.float64)
    ref = discretized_gaussian_pmf(z, 0.4, 1.7)
    lik = gc.likelihood(z, torch.full_like(z, 0.4), torch.full_like(z, 1.7))
    assert torch.allclose(lik, ref.clamp_min(gc.likelihood_bound), rtol=1e-9, atol=0)
    # ... and the coder's integer table for a scale is that pmf, quantized
    t = gc.tables()
    j = int(gc.scale_index(torch.tensor(1.7)))
    s = float(gc.scale_table()[j])
    n = int(t.lengths[j])
    kk = torch.arange(n, dtype=torch.float64) + int(t.offsets[j])
    probs = t.counts[j, :n] / float(t.counts[j].sum())
    assert np.allclose(probs, discretized_gaussian_pmf(kk, 0.0, s).numpy(), atol=1e-5)


@pytest.mark.parametrize("kind", ["dvae", "hdvae"])
def test_forward_loss_config(kind):
    torch.manual_seed(0)
    m = build_model(TINY["tdvae" if kind == "dvae" else "thdvae"])
    x = torch.rand(2, 3, 64, 64)
    r = torch.tensor([0, 3])
    out = m(x, r)
    assert out["x_hat"].shape == x.shape
    assert all(torch.all(b >= 0) for b in out["rate_bits"].values())
    loss = m.rd_loss(x, out, r)
    assert {"loss", "bpp", "mse", "psnr"} <= set(loss)
    loss["loss"].backward()
    assert m.log_gain.grad is not None and m.log_gain.grad.abs().sum() > 0
    assert build_model(m.config).config == m.config
    if kind == "hdvae":
        assert sorted(out["rate_bits"]) == ["z0", "z1", "z2"] and m.stride == 32
        assert out["rate_bits"]["z0"].shape[2:] == (8, 8) and out["rate_bits"]["z2"].shape[2:] == (2, 2)
    m.eval()
    with torch.no_grad():
        c = m.compress(x[:1], 0)
    with pytest.raises(CodingError):
        m.decompress(c.sections + [b""], c.latent_shape, 0)


# ----------------------------------------------------------------------------- rates of trained models


def _eval_bits(model, x, rate_idx):
    with torch.no_grad():
        out = model(x, rate_idx)
    return out, sum(float(b.sum()) for b in out["rate_bits"].values())


@pytest.mark.parametrize("name", ["tdvae", "thdvae"])
def test_eval_rate_equals_coded_rate(dvae_zoo, name):
    """Eval-mode rate_bits give the coded size within 1 % (no slack), and decoding is exact."""
    from neurcomp.zoo import load_pretrained

    model, _, _ = load_pretrained(f"{name}@0.013")
    x = _test_image()
    for r in (0, 3):
        out, ideal = _eval_bits(model, x, r)
        c = model.compress(x, r)
        coded = 8 * sum(len(s) for s in c.sections)
        assert abs(coded - ideal) <= 0.01 * ideal, (r, coded, ideal)
        assert abs(sum(c.bits.values()) - ideal) <= 1e-4 * ideal  # the same numbers, float32 vs float64
        x_hat = model.decompress(c.sections, c.latent_shape, r)
        assert torch.equal(x_hat, c.x_hat)
        assert torch.allclose(x_hat, out["x_hat"], atol=1e-4)


@pytest.mark.parametrize("name", ["tdvae", "thdvae"])
def test_training_rate_close_to_eval_rate(dvae_zoo, name):
    """Uniform noise (training) and rounding (eval) give rates within TRAIN_EVAL_RATE_TOL[name]."""
    from neurcomp.zoo import load_pretrained

    model, _, _ = load_pretrained(f"{name}@0.013")
    x = _test_image()
    torch.manual_seed(0)
    for r in (0, 3):
        _, eval_bits = _eval_bits(model, x, r)
        model.train()
        try:
            noisy = np.mean([_eval_bits(model, x, r)[1] for _ in range(4)])
        finally:
            model.eval()
        assert abs(noisy - eval_bits) <= TRAIN_EVAL_RATE_TOL[name] * eval_bits, (r, noisy, eval_bits)


def test_eval_likelihood_uses_the_coders_scale():
    gc = GaussianConditional()
    s = torch.tensor([0.01, 0.3, 1.0, 5.55, 1000.0])
    cs = coding_scale(gc, s)
    table = torch.from_numpy(gc.scale_table()).float()
    assert all(bool((table == v).any()) for v in cs)
    assert torch.all((cs / s.clamp(0.11, 256)).log().abs() <= gc.log_step / 2 + 1e-6)


# ----------------------------------------------------------------------------- codec, CLI, fresh process


def _fresh_decode(pairs, threads, env):
    """Decode ``[(stream, png), ...]`` with the CLI in one fresh process with ``threads`` threads."""
    code = ("import sys, torch; torch.set_num_threads(int(sys.argv[1])); from neurcomp.cli import main; "
            "a = sys.argv[2:]; sys.exit(max(main(['decompress', a[i], a[i + 1]]) for i in range(0, len(a), 2)))")
    args = [str(p) for pair in pairs for p in pair]
    return subprocess.run([sys.executable, "-c", code, str(threads), *args], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.mark.slow
def test_cli_round_trip_fresh_process_other_thread_count(dvae_zoo, tmp_path):
    """Both models: CLI compress here with 2 threads, CLI decompress in a fresh 1-thread process,
    the decoded PNG equal to the encoder's reconstruction (image size not a multiple of the stride)."""
    from neurcomp.cli import main
    from neurcomp.codec import compress_image
    from neurcomp.data import load_image

    src = tmp_path / "img.png"
    Image.fromarray(_synthetic(80, 112, seed=3)).save(src)
    models = ["tdvae@0.0067", "thdvae@0.025"]
    expected = {}
    torch.set_num_threads(2)
    try:
        for i, model in enumerate(models):
            assert main(["compress", str(src), str(tmp_path / f"{i}.ncz"), "--model", model]) == 0
            data, info = compress_image(load_image(src), model)
            assert (tmp_path / f"{i}.ncz").read_bytes() == data
            expected[i] = info["x_hat"]
    finally:
        torch.set_num_threads(1)
    pairs = [(tmp_path / f"{i}.ncz", tmp_path / f"{i}.png") for i in range(len(models))]
    r = _fresh_decode(pairs, 1, dict(os.environ))
    assert r.returncode == 0, r.stderr
    for i in range(len(models)):
        decoded = np.asarray(Image.open(tmp_path / f"{i}.png"))
        assert decoded.shape == (80, 112, 3)
        assert np.array_equal(decoded, expected[i]), models[i]


def test_models_listing(dvae_zoo):
    from neurcomp.zoo import list_models

    kinds = {e["name"]: e["kind"] for e in list_models()}
    assert kinds["tdvae@0.0035"] == "dvae" and kinds["thdvae@0.025"] == "hdvae"


# ----------------------------------------------------------------------------- samples


def test_unconditional_samples_continuous_and_integer():
    torch.manual_seed(0)
    m = HierarchicalDVAE(channels=8, latent_channels=4, levels=3, lambdas=[0.01, 0.05])
    cont = m.unconditional_sample(3, (64, 96), seed=7, discrete=False)
    disc = m.unconditional_sample(3, (64, 96), seed=7, discrete=True)
    again = m.unconditional_sample(3, (64, 96), seed=7, discrete=True)
    for s in (cont, disc):
        assert s["x"].shape == (3, 3, 64, 96) and float(s["x"].min()) >= 0 and float(s["x"].max()) <= 1
        assert [tuple(z.shape) for z in s["symbols"]] == [(3, 4, 2, 3), (3, 4, 4, 6), (3, 4, 8, 12)]
        assert len(s["latents"]) == 3
    assert all(torch.equal(k, k.round()) for k in disc["symbols"])  # integer latents (offsets from the mean)
    assert not all(torch.equal(k, k.round()) for k in cont["symbols"])
    # same seed, same random numbers: the top level's integer latents are the rounded continuous ones
    assert torch.equal(disc["symbols"][0], cont["symbols"][0].round())
    assert torch.equal(disc["x"], again["x"])
    assert not torch.equal(disc["x"], cont["x"])
    with pytest.raises(ValueError):
        m.unconditional_sample(1, (40, 64), seed=0, discrete=True)
