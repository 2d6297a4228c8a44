"""CompressAI checkpoints in neurcomp (issue 18), against the golden fixture CompressAI itself made.

``tests/fixtures/compressai/`` (made by ``benchmarks/compressai_fixture.py`` in the throwaway CompressAI
environment; CompressAI is never imported here): per architecture, CompressAI's state dict and its own
outputs on two 64x64 images and, on a deterministic 768x1024 image, its likelihood rate and the size of
its own ``compress()`` strings. The models are untrained (small, N=8, M=12) but moved away from their
initialization so that every part of the mapping matters (GDN, medians, the hyper-synthesis order).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from neurcomp import BitstreamError
from neurcomp.cli import COMPRESSAI_ARCHS, main
from neurcomp.codec import MethodUnavailable, compress_image, decompress_stream
from neurcomp.container import unpack
from neurcomp.data import load_image, save_png
from neurcomp.inference import amortized_latents, true_loss
from neurcomp.models.compressai import ARCHITECTURES
from neurcomp.zoo import WeightsError, compressai as cai

FIXTURE = Path(__file__).parent / "fixtures" / "compressai"
ARCHS = sorted(ARCHITECTURES)
REF = torch.load(FIXTURE / "reference.pt", weights_only=True)


def ckpt(arch: str) -> Path:
    return FIXTURE / f"{arch}.pth.tar"


def small_images() -> torch.Tensor:
    return REF["images"].float() / 255


def rate_image(seed: int = 7, h: int = 768, w: int = 1024) -> np.ndarray:
    """The fixture script's deterministic rate image (numpy's legacy RandomState: a stable stream)."""
    rs = np.random.RandomState(seed)
    coarse = rs.rand(3, h // 16, w // 16)
    img = 0.75 * np.kron(coarse, np.ones((16, 16))) + 0.25 * rs.rand(3, h, w)
    return np.round(img * 255).astype(np.uint8)


def test_fixture_is_small_and_the_cli_knows_every_architecture():
    assert sum(p.stat().st_size for p in FIXTURE.iterdir()) < 700 * 1024
    assert set(COMPRESSAI_ARCHS) == set(ARCHITECTURES) == set(REF["archs"]) == set(cai.PUBLISHED)


@pytest.mark.parametrize("arch", ARCHS)
def test_likelihoods_latents_and_reconstruction_match_compressai(arch):
    model = cai.load_compressai(ckpt(arch))
    ref = REF["archs"][arch]
    assert (model.arch, model.N, model.M) == (arch, REF["N"], REF["M"])
    torch.testing.assert_close(model.medians(), ref["medians"], rtol=0, atol=0)
    x = small_images()
    with torch.no_grad():
        out = model(x)
    small = ref["small"]
    for part, lik in small["likelihoods"].items():
        ours = 2.0 ** -out["rate_bits"][part]
        torch.testing.assert_close(ours, lik, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(out["x_hat"][:1], small["x_hat"], rtol=1e-4, atol=1e-5)
    if arch == "bmshj2018-factorized":
        y = model.g_a[:-1](x)  # CompressAI's y, before our shift by -median
        torch.testing.assert_close(y, small["y"], rtol=1e-4, atol=1e-5)
        y_hat = model.g_s[0](torch.round(model.g_a(x)))
        torch.testing.assert_close(y_hat, small["y_hat"], rtol=0, atol=1e-5)
        return
    torch.testing.assert_close(out["y"], small["y"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out["mean"] + torch.round(out["y"] - out["mean"]), small["y_hat"], rtol=0, atol=1e-5)
    with torch.no_grad():
        _, z = amortized_latents(model, x, 0)  # z - median: our model rounds on the integer grid
        torch.testing.assert_close(model.h_a[:-1](model.hyper_input(out["y"])), small["z"], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(model.h_s[0](torch.round(z)), small["z_hat"], rtol=0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_information_content_and_real_file_match_compressai_rate(arch, capsys):
    big = rate_image()
    assert hashlib.sha256(big.tobytes()).hexdigest() == REF["rate_image_sha256"]
    x = torch.from_numpy(big).float() / 255
    ref = REF["archs"][arch]
    want = sum(ref["rate_bits"].values())  # CompressAI: -sum(log2 likelihoods)
    model = cai.load_compressai(ckpt(arch))
    with torch.no_grad():
        model_bits = sum(float(b.double().sum()) for b in model(x[None])["rate_bits"].values())
    data, info = compress_image(x, None, checkpoint=ckpt(arch))
    coded_bits = sum(info["bits"].values())  # under our integer tables (the codec's est_bpp)
    file_bits = 8 * len(data)
    assert abs(model_bits / want - 1) < 1e-5
    assert abs(coded_bits / want - 1) < 5e-4  # the README's "within 0.05 %"
    assert abs(file_bits / want - 1) < 4e-3  # the README's "within 0.4 %" (container included)
    with capsys.disabled():
        print(f"\n{arch}: CompressAI likelihood rate {want:.0f} bits, ours {model_bits:.0f} (model), "
              f"{coded_bits:.0f} (integer tables, {100 * (coded_bits / want - 1):+.3f} %), file {file_bits} bits "
              f"({100 * (file_bits / want - 1):+.3f} %, {info['header_bytes']} header bytes); CompressAI's own "
              f"strings {8 * ref['compressai_bytes']} bits ({100 * (8 * ref['compressai_bytes'] / want - 1):+.3f} %)")
    image, stream = decompress_stream(data, checkpoint=ckpt(arch))
    assert np.array_equal(image, info["x_hat"]) and stream.model == f"compressai:{arch}"


@pytest.mark.slow
def test_fresh_process_cli_round_trip_two_threads_encode_one_thread_decode(tmp_path):
    x = small_images()
    save_png(x[0], tmp_path / "a.png")
    jobs = [(arch, ["compress", str(tmp_path / "a.png"), str(tmp_path / f"{arch}.ncz"), "--checkpoint",
                    str(ckpt(arch)), "--arch", arch]) for arch in ARCHS]
    jobs += [(arch, ["decompress", str(tmp_path / f"{arch}.ncz"), str(tmp_path / f"{arch}.png"), "--checkpoint",
                     str(ckpt(arch))]) for arch in ARCHS]
    for threads, chunk in ((2, jobs[:3]), (1, jobs[3:])):
        code = (f"import sys, torch; torch.set_num_threads({threads}); from neurcomp.cli import main\n"
                f"sys.exit(max(main(a) for a in {[args for _, args in chunk]!r}))")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                           env=dict(os.environ))
        assert r.returncode == 0, r.stderr
    for arch in ARCHS:
        data = (tmp_path / f"{arch}.ncz").read_bytes()
        assert unpack(data).weights == bytes.fromhex(hashlib.sha256(ckpt(arch).read_bytes()).hexdigest()[:16])
        decoded = (load_image(tmp_path / f"{arch}.png").permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        image, _ = decompress_stream(data, checkpoint=ckpt(arch))
        assert np.array_equal(decoded, image), arch
    # the encoder's reconstruction is what the decoder returns
    data, info = compress_image(x[0], None, checkpoint=ckpt("mbt2018-mean"))
    assert np.array_equal(decompress_stream(data, checkpoint=ckpt("mbt2018-mean"))[0], info["x_hat"])


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["bmshj2018-hyperprior", "mbt2018-mean"])
def test_sga_lowers_the_true_rd_loss_on_every_fixture_image(arch):
    model = cai.load_compressai(ckpt(arch))
    for k, x in enumerate(small_images()):
        with torch.no_grad():
            start = float(true_loss(model, x[None], *amortized_latents(model, x[None], 0), 0)["loss"][0])
        data, info = compress_image(x, None, method="sga", steps=200, checkpoint=ckpt(arch))
        assert info["extra_info"]["true_loss"] < start, (arch, k)
        image, stream = decompress_stream(data, checkpoint=ckpt(arch))
        assert stream.method == "sga" and np.array_equal(image, info["x_hat"])


def test_bits_back_mismatched_checkpoints_and_missing_checkpoints_are_clear_errors(tmp_path, capsys):
    x = small_images()[0]
    with pytest.raises(MethodUnavailable, match=r"no Gaussian posterior q\(z\|x\)"):
        compress_image(x, None, method="bitsback", checkpoint=ckpt("mbt2018-mean"))
    save_png(x, tmp_path / "a.png")
    assert main(["compress", str(tmp_path / "a.png"), str(tmp_path / "a.ncz"), "--checkpoint",
                 str(ckpt("mbt2018-mean")), "--method", "bitsback"]) == 2
    assert "q(z|x)" in capsys.readouterr().err
    data, _ = compress_image(x, None, checkpoint=ckpt("mbt2018-mean"))
    (tmp_path / "a.ncz").write_bytes(data)
    with pytest.raises(BitstreamError, match="other weights"):
        decompress_stream(data, checkpoint=ckpt("bmshj2018-hyperprior"))
    assert main(["decompress", str(tmp_path / "a.ncz"), str(tmp_path / "b.png")]) == 2  # needs --checkpoint
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--checkpoint FILE" in err[0]
    assert main(["decompress", str(tmp_path / "a.ncz"), str(tmp_path / "b.png"), "--checkpoint",
                 str(ckpt("bmshj2018-factorized"))]) == 1
    assert "other weights" in capsys.readouterr().err
    assert main(["compress", str(tmp_path / "a.png"), str(tmp_path / "c.ncz"), "--arch", "mbt2018-mean"]) == 2
    assert main(["compress", str(tmp_path / "a.png"), str(tmp_path / "c.ncz"), "--checkpoint",
                 str(ckpt("bmshj2018-factorized")), "--arch", "mbt2018-mean"]) == 2
    assert "not mbt2018-mean" in capsys.readouterr().err


def test_wrapped_prefixed_and_old_style_state_dicts_load_the_same_model(tmp_path):
    state = torch.load(ckpt("mbt2018-mean"), weights_only=True)
    old = {}
    for k, v in state.items():
        for new, older in (("matrices.", "_matrix"), ("biases.", "_bias"), ("factors.", "_factor")):
            k = k.replace(f"entropy_bottleneck.{new}", f"entropy_bottleneck.{older}")
        old["module." + k] = v
    torch.save({"epoch": 3, "state_dict": old, "optimizer": {"lr": 1e-4}}, tmp_path / "old.pth.tar")
    a, b = cai.load_compressai(ckpt("mbt2018-mean")), cai.load_compressai(tmp_path / "old.pth.tar")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb), ka
    torch.save({k.replace("h_s.", "context_prediction."): v for k, v in state.items()}, tmp_path / "ctx.pth")
    with pytest.raises(WeightsError, match="context model"):
        cai.load_compressai(tmp_path / "ctx.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="not a readable PyTorch state dict"):
        cai.load_compressai(tmp_path / "junk.pth")


def test_published_names_download_once_check_the_hash_and_say_what_to_do_offline(tmp_path, monkeypatch):
    from neurcomp import data

    monkeypatch.setenv("NEURCOMP_DATA", str(tmp_path))
    blob = ckpt("mbt2018-mean").read_bytes()
    name = f"mbt2018-mean-3-{hashlib.sha256(blob).hexdigest()[:8]}.pth.tar"  # a published-style name for our file
    monkeypatch.setitem(cai.PUBLISHED, "mbt2018-mean", {**cai.PUBLISHED["mbt2018-mean"], 3: name})

    def offline(url, timeout=30.0):
        raise OSError("network is unreachable")

    monkeypatch.setattr(data, "_download", offline)
    with pytest.raises(WeightsError) as e:
        cai.load_compressai("compressai:mbt2018-mean:3")
    msg = str(e.value)
    assert "\n" not in msg and f"{cai.ROOT_URL}/{name}" in msg and str(tmp_path / "compressai") in msg
    assert "--checkpoint FILE" in msg
    monkeypatch.setattr(data, "_download", lambda url, timeout=30.0: blob[:-1] + b"x")  # a corrupted download
    with pytest.raises(WeightsError, match="not saved"):
        cai.load_compressai("compressai:mbt2018-mean:3")
    assert not (tmp_path / "compressai" / name).exists()
    calls = []
    monkeypatch.setattr(data, "_download", lambda url, timeout=30.0: calls.append(url) or blob)
    model = cai.load_compressai("compressai:mbt2018-mean:3")
    model2, rate_idx, entry = cai.load_published("compressai:mbt2018-mean:3")
    assert len(calls) == 1 and (tmp_path / "compressai" / name).read_bytes() == blob
    assert model.arch == "mbt2018-mean" and entry["value"] == cai.QUALITY_LAMBDAS[3] == model2.lambdas[0]
    # a stream of a published name decodes without --checkpoint (from the cache)
    x = small_images()[0]
    data_, info = compress_image(x, "compressai:mbt2018-mean:3")
    assert np.array_equal(decompress_stream(data_)[0], info["x_hat"])
    (tmp_path / "compressai" / name).write_bytes(blob[:100])  # a cached file cut short
    with pytest.raises(WeightsError, match="corrupted or incomplete"):
        cai.fetch_published("mbt2018-mean", 3)
    with pytest.raises(cai.CheckpointError, match="QUALITY"):
        cai.load_compressai("compressai:mbt2018-mean")


@pytest.mark.slow
def test_the_books_full_profile_optimizes_published_weights_and_falls_back_offline(tmp_path, monkeypatch, capsys):
    """Chapters 5 and 6 (full profile) take CompressAI's published mean-scale hyperprior: every quality as a
    rate point that book.load and the iterative encoders take; offline, one line and the shipped network."""
    from neurcomp import book, data
    from neurcomp.inference import optimize_latents

    monkeypatch.setenv("NEURCOMP_DATA", str(tmp_path))
    blob = ckpt("mbt2018-mean").read_bytes()
    digest = hashlib.sha256(blob).hexdigest()[:8]
    names = {q: f"mbt2018-mean-{q}-{digest}.pth.tar" for q in range(1, 9)}  # the fixture under every quality
    monkeypatch.setitem(cai.PUBLISHED, "mbt2018-mean", names)
    monkeypatch.setattr(data, "_download", lambda url, timeout=30.0: (_ for _ in ()).throw(OSError("offline")))
    quick = book.hyperprior_rate_points("quick")
    assert book.hyperprior_rate_points("full") == quick and quick[0]["name"].startswith("mshp@")
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "shipped network instead" in out[0] and str(tmp_path / "compressai") in out[0]

    monkeypatch.setattr(data, "_download", lambda url, timeout=30.0: blob)
    points = book.hyperprior_rate_points("full")
    assert [e["name"] for e in points] == [f"compressai:mbt2018-mean:{q}" for q in range(1, 9)]
    assert [e["value"] for e in points] == sorted(cai.QUALITY_LAMBDAS.values())
    main_point = book.nearest(points, 0.0067)
    model, rate_idx, lam = book.load(main_point["name"])
    assert (main_point["name"], lam, model.arch) == ("compressai:mbt2018-mean:3", 0.0067, "mbt2018-mean")
    x = small_images()[:1]
    run = optimize_latents(model, x, rate_idx, method="sga", steps=40, seed=0, record_every=40)
    before, after = book.rd_point(model, x, rate_idx)[0], book.rd_point(model, x, rate_idx, run)[0]
    assert after["loss"] < before["loss"]
