"""Conformance: every registered model class honours the model contract (neurcomp.models.base).

Parametrized over ``MODEL_CLASSES`` (tiny configs) plus ``BlockColours`` from ``tests/toy_model.py``,
a model that is not part of neurcomp: registering it is one line (``MODEL_CLASSES[kind] = cls``),
and the codec, the zoo and the CLI code it with no other change.

The second contract, :class:`neurcomp.models.TransformCoder` (what SGA and bits-back use), is checked for
every class with an iterative method or bits-back, the CompressAI hyperprior adapters and the toy transform
coder of ``tests/toy_transform_coder.py``, on which SGA runs through the public API.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from conftest import train_few_steps
from neurcomp.container import METHODS
from neurcomp.inference import optimize_latents, schedule_for, true_loss
from neurcomp.inference.bbvi import joint_sga_bbvi
from neurcomp.models import MODEL_CLASSES, BitsBackCoder, Compressed, CompressionModel, TransformCoder, build_model
from neurcomp.models.compressai import ARCHITECTURES
from neurcomp.models.transform_coder import check_members, members, missing_members
from toy_model import BlockColours
from toy_transform_coder import ToyTransformCoder

TINY = {
    "factorized": {"N": 8, "M": 8, "lambdas": [0.01, 0.05]},
    "scale_hyperprior": {"N": 8, "M": 8, "lambdas": [0.01, 0.05]},
    "hyperprior": {"N": 8, "M": 12, "lambdas": [0.01, 0.05]},
    "vq": {"channels": 8, "blocks": 1, "dim": 4, "codebook_size": 16, "lambdas": [0.01]},
    "dvae": {"N": 8, "M": 8, "lambdas": [0.01, 0.05]},
    "hdvae": {"channels": 8, "latent_channels": 4, "levels": 3, "lambdas": [0.01, 0.05]},
    "pln": {"N": 8, "M": 8, "F": 4, "betas": [40.0, 150.0]},
    "bitsback": {"N": 8, "M": 12, "lambdas": [0.01, 0.05], "z_bin": 0.0625},
    "overfit": {"grids": 4, "widths": [[3, 3], [4, 4]], "lambdas": [0.01, 0.05], "steps": 10},
    BlockColours.kind: {"levels": 32, "lambdas": [0.01]},
}
KINDS = sorted(TINY)
TESTS = Path(__file__).parent


@pytest.fixture(autouse=True)
def registry(monkeypatch):
    monkeypatch.setitem(MODEL_CLASSES, BlockColours.kind, BlockColours)  # the one registry line


def image(h=64, w=128, seed=0) -> torch.Tensor:
    """A smooth colour image with an edge and mild noise, ``[1, 3, h, w]``."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    x = torch.stack([0.2 + 0.6 * xx, 0.3 + 0.5 * yy, 0.5 + 0.3 * (xx > 0.5).float()])
    g = torch.Generator().manual_seed(seed)
    return (x + 0.02 * torch.randn(x.shape, generator=g)).clamp(0, 1)[None]


def trained(kind: str, steps: int = 3) -> CompressionModel:
    """A tiny model after a few Adam steps, in eval mode with its coding tables built."""
    torch.manual_seed(0)
    m = build_model({"kind": kind, **TINY[kind]})
    batches = [(torch.cat([image(64, 64, seed=i), image(64, 64, seed=i + 10)]), torch.arange(2) % len(m.rate_points))
               for i in range(steps)]
    return train_few_steps(m, batches)


def test_every_registered_class_has_a_tiny_config():
    missing = set(MODEL_CLASSES) - set(TINY)
    assert not missing, f"add tiny configs for {sorted(missing)} to TINY (the conformance test covers every model)"


@pytest.mark.parametrize("kind", KINDS)
def test_class_attributes_and_config_round_trip(kind):
    m = build_model({"kind": kind, **TINY[kind]})
    assert isinstance(m, CompressionModel) and m.kind == kind
    assert m.methods and set(m.methods) <= set(METHODS) and m.default_method == m.methods[0]
    assert m.rate_param in ("lambda", "beta") and m.rate_points == TINY[kind][m.rate_param + "s"]
    assert isinstance(m.stride, int) and m.stride >= 1 and m.num_sections >= 1 and m.extra_size >= 0
    # a second, optional layout of extra (bits-back's topped-up side information) lists every length it writes
    assert m.extra_sizes is None or (m.extra_size in m.extra_sizes and min(m.extra_sizes) >= 0)
    config = json.loads(json.dumps(m.config))
    assert {k: config[k] for k in TINY[kind]} == TINY[kind] and config["kind"] == kind  # what it was built with
    assert build_model(config).config == m.config


@pytest.mark.parametrize("kind", KINDS)
def test_forward_and_loss_in_training(kind):
    torch.manual_seed(0)
    m = build_model({"kind": kind, **TINY[kind]}).train()
    x = torch.cat([image(64, 64), image(64, 64, seed=1)])
    rate_idx = torch.tensor([0, len(m.rate_points) - 1])
    out = m(x, rate_idx)
    assert out["x_hat"].shape == x.shape and out["rate_bits"]
    # parts named "*_back" count bits the decoder gets back (bits-back coding): <= 0 on average
    assert all(torch.all(b >= -1e-6) for part, b in out["rate_bits"].items() if not part.endswith("_back"))
    assert all(float(b.detach().mean()) <= 0 for part, b in out["rate_bits"].items() if part.endswith("_back"))
    loss = m.rd_loss(x, out, rate_idx)
    assert {"loss", "bpp", "mse", "psnr"} <= set(loss) and all(torch.isfinite(v) for v in loss.values())
    loss["loss"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())


@pytest.mark.parametrize("kind", KINDS)
def test_eval_rate_is_the_coded_size_and_decoding_is_exact(kind):
    m = trained(kind)
    x = image()
    r = len(m.rate_points) - 1
    with torch.no_grad():
        if m.takes_side_info:
            side = np.random.default_rng(0).bytes(4096)
            c = m.compress(x, r, steps=20, side_info=side)
            x_hat, back = m.decompress_with_side_info(c.sections, c.latent_shape, r, extra=c.extra)
            assert torch.equal(x_hat, c.x_hat) and back == side and len(c.extra) == m.extra_size
            # no side information to take from: topped up with random words, and still given back exactly
            short = m.compress(x, r, steps=20, side_info=b"")
            assert len(short.extra) in (m.extra_sizes or (m.extra_size,))
            x_hat, back = m.decompress_with_side_info(short.sections, short.latent_shape, r, extra=short.extra)
            assert torch.equal(x_hat, short.x_hat) and back == b""
            # the net file (minus the side information given back) is the net information content: bits
            # written minus bits taken, to within the ANS stack's two words of state
            net_coded = 8 * c.payload_bytes - 8 * len(side)
            assert abs(net_coded - c.information_bits) <= 0.01 * abs(c.information_bits) + 64
            assert c.information_bits == pytest.approx(sum(c.bits.values())) and c.bits["z_back"] < 0
            # eval-mode rate_bits: a deterministic one-sample estimate of the same net rate (NELBO)
            first, again = (sum(float(b.double().sum()) for b in m(x, r)["rate_bits"].values()) for _ in range(2))
            assert first == again
            return
        c = m.compress(x, r)
        rate_bits = sum(float(b.double().sum()) for b in m(x, r)["rate_bits"].values())
    assert isinstance(c, Compressed) and len(c.sections) == m.num_sections and len(c.extra) == m.extra_size
    assert tuple(c.latent_shape) == (x.shape[2] // m.stride, x.shape[3] // m.stride)
    assert torch.equal(m.decompress(c.sections, c.latent_shape, r, extra=c.extra), c.x_hat)
    info, coded = c.information_bits, 8 * c.payload_bytes
    if m.methods == ("rec",):
        # REC sends a posterior sample in about KL bits: the bound stated for the shipped PLN is 1.35x KL
        # + 800 bits; a tiny untrained model's KL is a few hundred bits, dominated by per-part headers
        assert coded <= 1.35 * info + 800
    else:
        # eval-mode rate_bits are the information content, and the range coder spends it plus its
        # termination: at most two 32-bit words per section (the final state, and the last word filled
        # up), which on these tiny models is most of the file (a tiny hyperprior codes 86 bits into 128);
        # the 1 % allows for the integer tables' quantization of the probabilities
        assert abs(rate_bits - info) <= 1e-3 * info + 1e-6
        assert -0.01 * info <= coded - info <= 0.01 * info + 64 * m.num_sections


def test_stream_checks_refuse_other_section_counts_and_extra_bytes():
    m = trained("hyperprior")
    c = m.compress(image(), 1)
    with pytest.raises(ValueError, match="section"):
        m.decompress(c.sections[:1], c.latent_shape, 1)
    with pytest.raises(ValueError, match="method parameters"):
        m.decompress(c.sections, c.latent_shape, 1, extra=b"\x01")
    with pytest.raises(ValueError, match="codes with"):
        m.compress(image(), 1, method="rec")


@pytest.mark.slow
def test_every_model_round_trips_through_the_codec_in_fresh_processes(tmp_path, monkeypatch):
    """Each class, exported into a temporary zoo: coded by the codec with 2 threads in this process,
    decoded by the CLI in one fresh process with 1 thread (the toy model registered there with its one
    line): identical pixels."""
    from neurcomp import zoo
    from neurcomp.codec import compress_image

    zoo_dir = tmp_path / "zoo"
    for kind in KINDS:
        m = trained(kind)
        zoo.export({"config": {"model": m.config}, "model": m.state_dict(), "step": 3}, f"t_{kind}", zoo_dir)
    monkeypatch.setenv("NEURCOMP_WEIGHTS_PATH", str(zoo_dir))
    zoo._load_cached.cache_clear()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    expected = {}
    try:
        x = image(60, 100)[0]  # not a multiple of any stride: the codec pads
        for e in zoo.list_models(zoo_dir):
            # a bits-back model's default method optimizes for 2 x 2000 steps: 20 are enough here
            data, info = compress_image(x, e["name"], steps=20 if e["kind"] == "bitsback" else None)
            (tmp_path / f"{e['name']}.ncz").write_bytes(data)
            expected[e["name"]] = info["x_hat"]
    finally:
        torch.set_num_threads(threads)
        zoo._load_cached.cache_clear()
    code = ("import sys, torch; torch.set_num_threads(1); sys.path.insert(0, sys.argv[1]); "
            "from neurcomp.models import MODEL_CLASSES; from toy_model import BlockColours; "
            "MODEL_CLASSES[BlockColours.kind] = BlockColours; from neurcomp.cli import main; "
            "sys.exit(max(main(['decompress', f, f[:-4] + '.png']) for f in sys.argv[2:]))")
    files = [str(tmp_path / f"{name}.ncz") for name in expected]
    r = subprocess.run([sys.executable, "-c", code, str(TESTS), *files], capture_output=True, text=True,
                       env={**os.environ, "NEURCOMP_WEIGHTS_PATH": str(zoo_dir)}, timeout=600)
    assert r.returncode == 0, r.stderr
    from PIL import Image
    assert len(expected) == sum(len(TINY[k].get("lambdas", TINY[k].get("betas"))) for k in KINDS)
    for name, x_hat in expected.items():
        assert np.array_equal(np.asarray(Image.open(tmp_path / f"{name}.png")), x_hat), name


# -- the transform-coder interface (neurcomp.models.transform_coder): what SGA and bits-back need

ITERATIVE_KINDS = [k for k in KINDS if "sga" in MODEL_CLASSES.get(k, BlockColours).methods]
BITS_BACK_KINDS = [k for k in KINDS if MODEL_CLASSES.get(k, BlockColours).takes_side_info]


def _tiny_coder(kind: str):
    if kind == ToyTransformCoder.kind:
        return ToyTransformCoder(lambdas=[0.01, 0.05])
    if kind in ARCHITECTURES:
        return ARCHITECTURES[kind](N=8, M=12, lmbda=0.01)
    return build_model({"kind": kind, **TINY[kind]})


def test_the_iterative_and_bits_back_kinds_are_found():
    assert {"scale_hyperprior", "hyperprior"} <= set(ITERATIVE_KINDS) and "bitsback" in BITS_BACK_KINDS


@pytest.mark.parametrize("kind", ITERATIVE_KINDS + BITS_BACK_KINDS + [ToyTransformCoder.kind, "bmshj2018-hyperprior",
                                                                     "mbt2018-mean"])
def test_iterative_and_bits_back_models_implement_the_interface_with_its_shapes(kind):
    """Every registered model with an iterative method ("sga" in methods) is a TransformCoder, every bits-back
    model a BitsBackCoder (and so are the CompressAI hyperprior adapters and the toy of tests/toy_transform_coder.py);
    on a tiny instance each member returns the documented shapes."""
    torch.manual_seed(0)
    m = _tiny_coder(kind).eval()
    cls = type(m)
    assert issubclass(cls, BitsBackCoder if m.kind in BITS_BACK_KINDS else TransformCoder)
    assert not missing_members(m, BitsBackCoder if issubclass(cls, BitsBackCoder) else TransformCoder)
    m.update()
    x = torch.cat([image(64, 64), image(64, 64, seed=1)])
    shapes = check_members(m, x, rate_idx=torch.tensor([0, len(m.lambdas) - 1]))
    y, z = shapes["y"], shapes["z"]
    assert y[:2] == (2, m.M) and z[:2] == (2, m.N) and 64 % y[2] == 0 and y[2] % z[2] == 0
    assert shapes["x_hat"] == (2, 3, 64, 64) and shapes["lambda"] == (2,)
    assert shapes["bits_y"] == y and shapes["bits_z"] == z


def test_a_class_without_the_interface_is_refused_by_name():
    with pytest.raises(TypeError, match=r"^sga needs a TransformCoder .* a factorized model is not one \(missing: "
                                        r"compress_latents, entropy_parameters, entropy_z, h_a, hgains, hyper_input\)$"):
        optimize_latents(build_model({"kind": "factorized", **TINY["factorized"]}), image(64, 64), steps=1)
    with pytest.raises(TypeError, match=r"^joint_sga_bbvi needs a BitsBackCoder .* a hyperprior model is not one "
                                        r"\(missing: log2_q, posterior, sigma_min\)$"):
        joint_sga_bbvi(build_model({"kind": "hyperprior", **TINY["hyperprior"]}), image(64, 64), 0, steps=1)
    with pytest.raises(TypeError, match="bitsback model: it is a BitsBackCoder"):
        optimize_latents(build_model({"kind": "bitsback", **TINY["bitsback"]}), image(64, 64), steps=1)
    duck = SimpleNamespace(kind="duck", **{name: None for name in members(TransformCoder)})
    with pytest.raises(TypeError, match="a duck model is not one .*declare the interface by inheriting TransformCoder"):
        true_loss(duck, image(64, 64), None, None, 0)


@pytest.mark.slow
def test_sga_lowers_the_true_loss_of_a_toy_transform_coder():
    """SGA through the public API on a model that is not part of neurcomp: the true R-D loss (rounded latents)
    goes down from the amortized start, and the stream coded from the result has that loss."""
    torch.manual_seed(0)
    toy = ToyTransformCoder(lambdas=[0.01, 0.05])
    toy.update()
    x = image(64, 64)
    res = optimize_latents(toy, x, 1, method="sga", steps=200, record_every=50, **schedule_for(200))
    curve = [loss[0] for loss in res.true_loss] + res.final["loss"]  # steps 0 (amortized), 50, 100, 150, 200
    assert max(curve[1:]) < curve[0] and curve[-1] < 0.995 * curve[0], curve  # about -1.6 % (6.56 -> 6.46)
    c = toy.compress_latents(torch.zeros_like(res.y_symbols), res.z_int, 1, y_symbols=res.y_symbols)
    recomputed = c.information_bits / (64 * 64) + 0.05 * 255 ** 2 * float(((c.x_hat - x) ** 2).mean())
    assert recomputed == pytest.approx(res.final["loss"][0], rel=1e-3)
    assert abs(8 * c.payload_bytes - c.information_bits) <= 0.01 * c.information_bits + 128


def test_the_toy_transform_coder_is_coded_by_the_cli_amortized_and_with_sga(tmp_path, monkeypatch, capsys):
    """The toy of tests/toy_transform_coder.py as a complete model: registered with its one line and exported into a
    temporary zoo, the CLI codes an image with it amortized and with SGA (the method recorded in the stream), the
    codec in this process writes the same streams, each decodes to exactly the codec's reconstruction, and SGA's
    stream has the lower true R-D cost (about -0.6 % after 100 steps: 6.570 -> 6.529; 20 steps change nothing)."""
    from PIL import Image

    from neurcomp import zoo
    from neurcomp.cli import main
    from neurcomp.codec import compress_image
    from neurcomp.data import load_image, save_png

    monkeypatch.setitem(MODEL_CLASSES, ToyTransformCoder.kind, ToyTransformCoder)  # the one registry line
    torch.manual_seed(0)
    m = ToyTransformCoder(lambdas=[0.01, 0.05])
    assert build_model(json.loads(json.dumps(m.config))).config == m.config
    zoo_dir = tmp_path / "zoo"
    zoo.export({"config": {"model": m.config}, "model": m.state_dict(), "step": 1}, "toy", zoo_dir)
    assert [e["name"] for e in zoo.list_models(zoo_dir)] == ["toy@0.01", "toy@0.05"]
    monkeypatch.setenv("NEURCOMP_WEIGHTS_PATH", str(zoo_dir))
    zoo._load_cached.cache_clear()
    src = save_png(image(64, 64), tmp_path / "in.png")
    x = load_image(src)
    cost = {}
    try:
        for method, steps in (("amortized", None), ("sga", 100)):
            ncz, png = tmp_path / f"{method}.ncz", tmp_path / f"{method}.png"
            flags = [] if steps is None else ["--method", method, "--steps", str(steps)]
            assert main(["compress", str(src), str(ncz), "--model", "toy@0.05", *flags]) == 0
            assert main(["decompress", str(ncz), str(png)]) == 0
            capsys.readouterr()
            assert main(["info", str(ncz)]) == 0
            header = json.loads(capsys.readouterr().out)
            assert (header["method"], header["model"], header["sections"][0] > 0) == (method, "toy@0.05", True)
            data, info = compress_image(x, "toy@0.05", method, steps)
            assert data == ncz.read_bytes()  # the same stream (SGA is seeded)
            decoded = np.asarray(Image.open(png))
            assert np.array_equal(decoded, info["x_hat"]), method
            mse = float(np.mean((decoded / 255.0 - x.permute(1, 2, 0).numpy()) ** 2))
            cost[method] = sum(info["bits"].values()) / x[0].numel() + 0.05 * 255 ** 2 * mse
    finally:
        zoo._load_cached.cache_clear()
    assert cost["sga"] < 0.998 * cost["amortized"], cost
