"""The soft/hard VQ autoencoder of Gregorova et al. 2021 (neurcomp.models.vq)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, train_into_zoo, use_zoo
from neurcomp.entropy import CodingError
from neurcomp.models import MODEL_CLASSES, build_model
from neurcomp.models.vq import (VQAutoencoder, compare_codebook_inits, hard_assignment, kmeans_pp,
                                soft_assignment, squared_distances, usage_histogram, usage_stats)

TINY = {"kind": "vq", "channels": 8, "blocks": 1, "downsamples": 2, "dim": 4, "codebook_size": 32,
        "lambdas": [0.01]}


def _picture(h, w, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([(xx * 2) % 256, (yy * 3) % 256, ((xx + yy) * 5) % 256], -1).astype(int)
    return np.clip(arr + rng.integers(-12, 12, arr.shape), 0, 255).astype(np.uint8)


def test_registered_and_config_round_trip():
    assert MODEL_CLASSES["vq"] is VQAutoencoder
    m = build_model(TINY)
    assert build_model(m.config).config == m.config and m.stride == 4
    assert build_model({**TINY, "downsamples": 3}).stride == 8
    with pytest.raises(ValueError, match="single lambda"):
        build_model({**TINY, "lambdas": [0.01, 0.02]})
    with pytest.raises(ValueError, match="codebook_init"):
        build_model({**TINY, "codebook_init": "zeros"})


def test_soft_assignment_tends_to_hard_as_sigma_grows():
    g = torch.Generator().manual_seed(0)
    z, e = torch.randn(500, 6, generator=g), torch.randn(40, 6, generator=g)
    hard = torch.nn.functional.one_hot(hard_assignment(z, e), 40).float()
    gaps = [float((soft_assignment(z, e, s) - hard).abs().max()) for s in (0.01, 1.0, 10.0, 1e3, 1e5)]
    assert all(a >= b - 1e-6 for a, b in zip(gaps, gaps[1:])), gaps
    assert gaps[-1] < 1e-3 and gaps[0] > 0.5
    # and the soft reconstruction z_tilde tends to the hard one z_hat
    z_hat = e[hard_assignment(z, e)]
    assert torch.allclose(soft_assignment(z, e, 1e5) @ e, z_hat, atol=1e-3)
    # sigma -> 0: uniform over the codebook
    assert torch.allclose(soft_assignment(z, e, 1e-9), torch.full((500, 40), 1 / 40), atol=1e-6)
    d2 = squared_distances(z, e)
    assert torch.allclose(d2, ((z[:, None] - e[None]) ** 2).sum(-1), atol=1e-4)


def test_forward_is_hard_and_gradients_reach_encoder_codebook_and_prior():
    torch.manual_seed(0)
    m = build_model({**TINY, "alpha": 1.0, "beta": 1.0})
    x = torch.rand(2, 3, 32, 32)
    out = m(x)
    assert bool(m.codebook_initialized)  # the first training forward initialized the codebook
    # the decoder sees the hard codewords (straight-through value sg(z_hat - z_tilde) + z_tilde)
    q = m.quantize(m.encoder(x))
    assert torch.allclose(q["z_q"], m._from_vectors(m.codebook[q["indices"].reshape(-1)], 2, 8, 8), atol=1e-5)
    assert out["x_hat"].shape == x.shape and out["indices"].shape == (2, 1, 8, 8)
    assert torch.all(out["rate_bits"]["c"] >= 0)
    losses = m.rd_loss(x, out, 0)
    assert {"loss", "bpp", "soft_bpp", "mse", "psnr"} <= set(losses)
    losses["loss"].backward()
    for name, p in [("encoder", m.encoder[0].weight), ("codebook", m.codebook), ("prior", m.prior_param),
                    ("decoder", m.decoder[0].weight)]:
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name


def test_each_rate_term_moves_what_the_seed_says():
    """h(c) (hard cross-entropy) trains only the prior; s(c) (soft, against sg(q_c)) only the
    encoder and the codebook, never the prior."""
    torch.manual_seed(0)
    m = build_model(TINY)
    x = torch.rand(2, 3, 32, 32)
    m(x)  # initialize
    with torch.no_grad():
        m.prior_param.copy_(torch.randn(32))
    out = m(x)
    hard = out["rate_bits"]["c"].sum()
    m.zero_grad()
    hard.backward(retain_graph=True)
    assert m.codebook.grad is None or float(m.codebook.grad.abs().sum()) == 0
    assert m.encoder[0].weight.grad is None or float(m.encoder[0].weight.grad.abs().sum()) == 0
    assert float(m.prior_param.grad.abs().sum()) > 0
    m.zero_grad()
    out["soft_bits"].sum().backward()
    assert m.prior_param.grad is None or float(m.prior_param.grad.abs().sum()) == 0
    assert float(m.codebook.grad.abs().sum()) > 0 and float(m.encoder[0].weight.grad.abs().sum()) > 0


def test_alpha_zero_has_no_soft_rate_in_the_loss():
    torch.manual_seed(0)
    m = build_model({**TINY, "alpha": 0.0, "beta": 1.0})
    x = torch.rand(2, 3, 32, 32)
    out = m(x)
    r = m.rd_loss(x, out, 0)
    assert torch.allclose(r["loss"], r["bpp"] + 0.01 * 255 ** 2 * r["mse"], rtol=1e-5)


def test_eval_rate_bits_give_the_coded_size_and_round_trip():
    torch.manual_seed(0)
    m = build_model({**TINY, "codebook_size": 64})
    m(torch.rand(2, 3, 64, 64))  # initialize
    with torch.no_grad():
        m.prior_param.copy_(2 * torch.randn(64))  # a non-uniform prior
    m.eval()
    m.update()
    x = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        out = m(x)
    ideal = float(out["rate_bits"]["c"].double().sum())
    c = m.compress(x)
    coded = 8 * sum(len(s) for s in c.sections)
    assert abs(c.bits["c"] - ideal) <= 1e-4 * ideal
    assert abs(coded - ideal) <= 0.01 * ideal, (coded, ideal)
    x_hat = m.decompress(c.sections, c.latent_shape)
    assert torch.equal(x_hat, c.x_hat) and torch.allclose(x_hat, out["x_hat"], atol=1e-4)
    with pytest.raises(CodingError):
        m.decompress([b"\x01\x02\x03"], c.latent_shape)


def test_tables_are_the_updated_prior_and_needed_for_coding():
    m = build_model(TINY).eval()
    with pytest.raises(RuntimeError, match="update"):
        m.compress(torch.rand(1, 3, 32, 32))
    with torch.no_grad():
        m.prior_param.copy_(torch.randn(32))
    m.update()
    assert m.code_table.table_counts.shape == (1, 33) and int(m.code_table.table_counts.sum()) == 1 << 20
    assert torch.allclose(m.coded_probs(), m.prior_probs().double(), atol=1e-5)


def test_kmeans_pp_picks_k_distinct_codewords_from_the_data():
    g = torch.Generator().manual_seed(0)
    pts = torch.randn(300, 5, generator=g)
    e = kmeans_pp(pts, 64, generator=g)
    assert e.shape == (64, 5) and torch.unique(e, dim=0).shape[0] == 64
    assert bool((e[:, None] == pts[None]).all(-1).any(1).all())  # each one is a data point
    few = pts[:10].repeat(20, 1)  # only 10 distinct points for 16 codewords: still distinct
    assert torch.unique(kmeans_pp(few, 16, generator=g), dim=0).shape[0] == 16
    m = build_model({**TINY, "codebook_init": "kmeans++"})
    m.init_codebook(torch.rand(4, 3, 32, 32), generator=torch.Generator().manual_seed(1))
    assert torch.unique(m.codebook.detach(), dim=0).shape[0] == 32


def test_usage_histogram_and_stats():
    h = usage_histogram(torch.tensor([[0, 1, 1, 3], [3, 3, 3, 3]]), 5)
    assert h.tolist() == [1, 2, 0, 5, 0]
    s = usage_stats([2, 2, 0, 0])
    assert s["used"] == 2 and s["fraction"] == 0.5 and abs(s["entropy_bits"] - 1.0) < 1e-12
    assert abs(s["perplexity"] - 2.0) < 1e-12 and s["count"] == 4
    with pytest.raises(ValueError):
        usage_histogram([7], 5)
    m = build_model(TINY).eval()
    hist = m.code_usage(torch.rand(2, 3, 32, 48))
    assert hist.shape == (32,) and hist.sum() == 2 * 8 * 12


def test_compare_codebook_inits():
    torch.manual_seed(0)
    m = build_model({**TINY, "codebook_size": 16})
    res = compare_codebook_inits(m, torch.rand(4, 3, 32, 32))
    assert set(res) == {"kmeans++", "uniform"}
    for r in res.values():
        assert {"quantization_mse", "mse", "used", "entropy_bits"} <= set(r) and 1 <= r["used"] <= 16
    assert res["kmeans++"]["quantization_mse"] < res["uniform"]["quantization_mse"]
    assert not bool(m.codebook_initialized)  # the model itself is untouched


# ----------------------------------------------------------------------------- codec / CLI


@pytest.fixture(scope="module")
def vq_zoo(tmp_path_factory):
    """Train a tiny VQ model for a few steps on synthetic pictures and export it as 'vqtiny'."""
    from neurcomp.train import DEFAULTS, load_config

    root = tmp_path_factory.mktemp("vqdata")
    (root / "train").mkdir()
    for i in range(3):
        Image.fromarray(_picture(96, 96, seed=i)).save(root / "train" / f"{i}.png")
    cfg = {**DEFAULTS, **load_config(ROOT / "configs" / "vq_tiny.yaml"), "steps": 15, "eval_images": 0,
           "data": str(root)}
    return train_into_zoo(cfg, tmp_path_factory.mktemp("vqzoo"), "vqtiny")


@pytest.fixture()
def vq_env(vq_zoo, monkeypatch):
    yield from use_zoo(vq_zoo, monkeypatch)


@pytest.mark.slow
def test_round_trip_through_cli_in_fresh_process(vq_env, tmp_path):
    from neurcomp.cli import main
    from neurcomp.codec import compress_image
    from neurcomp.data import load_image

    src = tmp_path / "img.png"
    Image.fromarray(_picture(70, 90, seed=5)).save(src)  # not a multiple of the stride
    torch.set_num_threads(2)
    try:
        data, info = compress_image(load_image(src), "vqtiny")
        assert main(["compress", str(src), str(tmp_path / "b.ncz"), "--model", "vqtiny"]) == 0
    finally:
        torch.set_num_threads(1)
    (tmp_path / "a.ncz").write_bytes(data)
    assert (tmp_path / "b.ncz").read_bytes() == data
    payload = 8 * (len(data) - info["header_bytes"])
    assert payload <= info["bits"]["c"] * 1.01 + 64
    code = ("import sys, torch; torch.set_num_threads(int(sys.argv[1])); from neurcomp.cli import main; "
            "sys.exit(main(['decompress', sys.argv[2], sys.argv[3]]))")
    r = subprocess.run([sys.executable, "-c", code, "1", str(tmp_path / "a.ncz"), str(tmp_path / "a.png")],
                       capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert r.returncode == 0, r.stderr
    decoded = np.asarray(Image.open(tmp_path / "a.png"))
    assert decoded.shape == (70, 90, 3) and np.array_equal(decoded, info["x_hat"])


def test_zoo_lists_vq_and_loads_tables(vq_env, capsys):
    from neurcomp.cli import main
    from neurcomp.zoo import load_pretrained

    assert main(["models", "--json"]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out) if r["name"] == "vqtiny")
    assert row["kind"] == "vq" and row["rate_param"] == "lambda" and row["value"] == 0.01
    model, rate_idx, _ = load_pretrained("vqtiny")
    assert rate_idx == 0 and bool(model.codebook_initialized) and model.code_table.table_counts.numel() == 65
    fresh = build_model(model.config)
    fresh.load_state_dict(model.state_dict())
    fresh.update()  # the stored table is exactly what update() builds from the shipped weights
    assert torch.equal(fresh.code_table.table_counts, model.code_table.table_counts)


def test_dead_codewords_restart_on_latents_and_init_centres_them():
    torch.manual_seed(0)
    m = VQAutoencoder(channels=8, blocks=1, dim=4, codebook_size=32, restart_every=1, restart_threshold=0.5,
                      centre_latents=True).train()
    x = torch.rand(2, 3, 32, 32)
    m(x)  # first forward: data-dependent init (centred, unit spread) + one usage update
    v = m.latent_vectors(x).detach()
    assert float(v.mean(0).abs().max()) < 1e-3
    far = torch.full((4,), 100.0)
    m.codebook.data[:8] = far  # eight codewords no latent can reach
    m.usage_ema[:8] = 0.0
    m(x)
    assert not torch.isclose(m.codebook.data[:8], far).any()
    assert float(squared_distances(m.codebook.data[:8], v).min(1).values.max()) < 0.1
    assert torch.isfinite(m.prior_param).all()


def test_commitment_loss_pulls_latents_to_their_codewords_only():
    torch.manual_seed(0)
    cfg = {"kind": "vq", "channels": 8, "blocks": 1, "dim": 4, "codebook_size": 16, "lambdas": [0.01]}
    plain, commit = build_model(cfg), build_model({**cfg, "commitment": 0.5})
    commit.load_state_dict(plain.state_dict())
    assert build_model(commit.config).config == commit.config  # the option is part of the config
    x = torch.rand(2, 3, 16, 16)
    plain.eval(), commit.eval()
    out_p, out_c = plain(x), commit(x)
    lp, lc = plain.rd_loss(x, out_p, 0), commit.rd_loss(x, out_c, 0)
    # the commitment term is the mean squared latent-to-codeword distance per element, weighted
    v = out_c["z"].reshape(2, 1, 4, 4, 4).permute(0, 1, 3, 4, 2).reshape(-1, 4)
    e = commit.codebook[out_c["indices"].reshape(-1)]
    expected = ((v - e) ** 2).reshape(2, -1).mean(1)
    assert torch.allclose(out_c["commit"], expected)
    assert torch.isclose(lc["loss"], lp["loss"] + 0.5 * expected.mean())
    assert "commit" in lc and "commit" not in lp
    # its gradient reaches the encoder, never the codebook (the codeword is held fixed)
    commit.zero_grad()
    out_c["commit"].mean().backward()
    assert commit.codebook.grad is None or float(commit.codebook.grad.abs().max()) == 0.0
    assert float(commit.encoder[-1].weight.grad.abs().max()) > 0
