"""The probabilistic ladder network (Flamich et al. 2020) and its REC codec path."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import train_into_zoo, use_zoo
from PIL import Image

from neurcomp import results
from neurcomp.models import PLN, build_model


def test_forward_loss_and_config():
    torch.manual_seed(0)
    m = PLN(N=8, M=8, F=4, betas=[40, 150])
    x = torch.rand(2, 3, 64, 64)
    out = m(x, torch.tensor([0, 1]))
    assert out["x_hat"].shape == x.shape
    kl = float(out["rate_bits"]["z1"].detach().sum() + out["rate_bits"]["z2"].detach().sum())
    assert kl > 0 and out["rate_bits"]["z1"].requires_grad
    assert bool((out["q1"][1] <= out["p1"][1] + 1e-6).all())  # precision weighting narrows the prior
    loss = m.rd_loss(x, out, torch.tensor([0, 1]))
    assert set(loss) >= {"loss", "bpp", "mse", "psnr"}
    assert abs(float(loss["bpp"].detach()) - kl / 2 / (64 * 64)) < 1e-4
    loss["loss"].backward()
    assert m.g_a[0].weight.grad is not None and m.q1_scale_offset.grad is not None
    assert build_model(m.config).config == m.config and m.rate_points == [40.0, 150.0]
    mae = PLN(N=8, M=8, F=4, betas=[4.0], distortion="mae")
    assert torch.isfinite(mae.rd_loss(x, mae(x, 0), 0)["loss"])


def test_warm_start_from_a_transform_coder(tmp_path):
    """PLN.warm_start copies g_a / g_s, takes the coder's gains at lambda = 1 / beta, and starts the
    likelihood head at mu_l1 = y; neurcomp.train.warm_start does it from a checkpoint file."""
    from neurcomp.models import MeanScaleHyperprior
    from neurcomp.train import warm_start

    torch.manual_seed(2)
    coder = MeanScaleHyperprior(N=8, M=12, lambdas=[0.01, 0.05])
    with torch.no_grad():
        coder.log_gain.copy_(torch.randn_like(coder.log_gain))
        coder.log_inv_gain.copy_(torch.randn_like(coder.log_inv_gain))
    path = tmp_path / "coder.pt"
    torch.save({"config": {"model": coder.config}, "model": coder.state_dict()}, path)
    m = PLN(N=8, M=12, F=4, betas=[20.0, 100.0, 1000.0 / 3])  # lambdas 0.05, 0.01, 0.003 (extrapolated)
    warm_start(m, path)
    for a, b in zip(m.g_s.parameters(), coder.g_s.parameters()):
        assert torch.equal(a, b)
    assert torch.allclose(m.enc_gain[0], coder.log_gain[1]) and torch.allclose(m.z1_gain[1], coder.log_inv_gain[0])
    x = torch.rand(1, 3, 64, 64)
    (mu_l1, s_l1), _ = m.posterior2(x, torch.tensor([1]))
    y = coder.g_a(x) * coder.log_gain[0].exp()[None, :, None, None]
    sigma = torch.nn.functional.softplus(m.head1.bias[12:] + m.q1_scale_offset[1]) + 1e-3  # 0.29 at offset 0
    assert torch.allclose(mu_l1, y, atol=1e-5) and torch.allclose(s_l1, sigma[None, :, None, None].expand_as(s_l1))
    assert abs(float(torch.nn.functional.softplus(m.head1.bias[-1].detach())) + 1e-3 - 0.29) < 1e-6
    with pytest.raises(ValueError, match="N=8, M=8"):
        PLN(N=8, M=8, F=4).warm_start(coder)


def test_compress_decompress_in_process():
    torch.manual_seed(1)
    m = PLN(N=8, M=8, F=4, betas=[40, 150]).eval()
    x = torch.rand(1, 3, 64, 128)
    for method in ("orc", "seed"):
        c = m.compress(x, 1, seed=5, rec_method=method)
        assert tuple(c.latent_shape) == (1, 2) and len(c.sections) == 2
        assert {"kl_bpp", "psnr_exact"} <= set(c.info) and set(c.bits) == {"z1", "z2"}
        assert abs(c.info["kl_bpp"] * 64 * 128 - sum(c.bits.values())) < 1e-6
        x_hat = m.decompress(c.sections, c.latent_shape, 1, extra=c.extra)
        assert torch.equal(x_hat, c.x_hat)
    c2 = m.compress(x, 1, seed=5, hw=(60, 100))  # PSNRs and kl_bpp over the unpadded image
    assert abs(c2.info["kl_bpp"] * 60 * 100 - sum(c2.bits.values())) < 1e-6
    from neurcomp.entropy import CodingError
    with pytest.raises(CodingError, match="method"):  # the REC streams name their method
        m.decompress(c.sections, c.latent_shape, 1, extra=c.extra[:-1] + b"\x00")


def test_seed_coder_uses_the_size_tables_fitted_on_training_images():
    """Flamich et al.'s group sizes under a distribution fixed from training images and carried in the config."""
    from neurcomp.models import build_model

    torch.manual_seed(3)
    m = PLN(N=8, M=8, F=4, betas=[40, 150]).eval()
    train = [torch.rand(1, 3, 64, 64) for _ in range(3)]
    tables = m.fit_rec_size_counts(train, budget_bits=10, max_group=16)
    assert tables["images"] == 3 and len(tables["z1"]) == len(tables["z2"]) == 2
    assert all(sum(k * c for k, c in enumerate(row, 1)) <= 16 * 16 * 8 * 3 for row in tables["z1"])
    fitted = build_model({**m.config, "rec_size_counts": tables})
    fitted.load_state_dict(m.state_dict())
    assert fitted.config["rec_size_counts"] == tables
    x = torch.rand(1, 3, 64, 128)
    c = fitted.compress(x, 1, seed=5, rec_method="seed", budget_bits=10, max_group=16)
    assert torch.equal(fitted.decompress(c.sections, c.latent_shape, 1, extra=c.extra), c.x_hat)
    with pytest.raises(ValueError, match="size table"):  # the model without tables cannot decode it
        m.decompress(c.sections, c.latent_shape, 1, extra=c.extra)
    # other grouping parameters than the table's: the stream carries its own histogram, anyone decodes it
    c_own = fitted.compress(x, 1, seed=5, rec_method="seed", budget_bits=9, max_group=16)
    assert torch.equal(m.decompress(c_own.sections, c_own.latent_shape, 1, extra=c_own.extra), c_own.x_hat)
    with pytest.raises(ValueError, match="one table per rate point"):
        PLN(N=8, M=8, F=4, betas=[40, 150, 300], rec_size_counts=tables)


@pytest.fixture(scope="module")
def pln_zoo(tmp_path_factory):
    from neurcomp.train import DEFAULTS

    cfg = {**DEFAULTS, "model": {"kind": "pln", "N": 16, "M": 24, "F": 16, "betas": [40.0, 150.0]}, "steps": 25,
           "batch_size": 4, "crop": 64, "lr": 2e-3, "warmup_steps": 5, "eval_images": 0}
    return train_into_zoo(cfg, tmp_path_factory.mktemp("plnzoo"), "plntiny")


@pytest.fixture()
def pln_env(pln_zoo, monkeypatch):
    yield from use_zoo(pln_zoo, monkeypatch)


def _image(tmp_path, h=80, w=112):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([(xx * 2) % 256, (yy * 3) % 256, ((xx + yy) * 5) % 256], -1).astype(np.uint8)
    arr = np.clip(arr.astype(int) + rng.integers(-10, 10, arr.shape), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "img.png")
    return tmp_path / "img.png"


@pytest.mark.slow
def test_pln_stream_decodes_in_fresh_process_with_other_thread_count(pln_env, tmp_path):
    from neurcomp.codec import compress_image
    from neurcomp.data import load_image
    from neurcomp.zoo import list_models

    names = [m["name"] for m in list_models() if m["base"] == "plntiny"]
    assert names == ["plntiny@40", "plntiny@150"]
    assert next(m for m in list_models() if m["name"] == "plntiny@40")["rate_param"] == "beta"
    torch.set_num_threads(2)
    try:
        data, info = compress_image(load_image(_image(tmp_path)), "plntiny@150")
    finally:
        torch.set_num_threads(1)
    assert info["extra_info"]["kl_bpp"] > 0 and "psnr_exact" in info["extra_info"]
    (tmp_path / "a.ncz").write_bytes(data)
    code = ("import sys, torch; torch.set_num_threads(int(sys.argv[1])); from neurcomp.cli import main; "
            "sys.exit(main(['decompress', sys.argv[2], sys.argv[3]]))")
    r = subprocess.run([sys.executable, "-c", code, "1", str(tmp_path / "a.ncz"), str(tmp_path / "a.png")],
                       capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), info["x_hat"])


def test_pln_eval_records_kl_and_exact_psnr(pln_env, tmp_path):
    from neurcomp.cli import main

    _image(tmp_path, 64, 64)
    out = tmp_path / "e.json"
    assert main(["eval", "--images", str(tmp_path / "img.png"), "--model", "plntiny@40", "--json", str(out)]) == 0
    (rec,) = results.read(out).records
    assert rec.ideal == "KL" and rec.ideal_bpp > 0 and rec.extra["psnr_exact"] > 0 and rec.bpp > rec.ideal_bpp
