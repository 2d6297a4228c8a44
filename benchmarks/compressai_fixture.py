"""Make the golden CompressAI fixture ``tests/fixtures/compressai/`` with CompressAI itself.

Run with the throwaway CompressAI environment (``bash benchmarks/setup_compressai.sh``), never with
neurcomp's (CompressAI is not a dependency of neurcomp, and this script does not import neurcomp):

    benchmarks/.venv-compressai/bin/python benchmarks/compressai_fixture.py [OUT_DIR]

For each architecture neurcomp adapts (``bmshj2018-factorized``, ``bmshj2018-hyperprior``,
``mbt2018-mean``) it builds CompressAI's model at a small width (N=8, M=12) with a fixed seed and
moves it away from its initialization without training it, so that every part of the mapping
matters: GDN/IGDN parameters drawn away from the identity (through CompressAI's own
reparametrization), the entropy bottleneck's density perturbed and its quantiles (so its medians,
which CompressAI rounds relative to) solved by CompressAI's ``update(update_quantiles=True)``, the
analysis scaled so that the latents have a few bits each (RMS 4), and the hyper-synthesis' scales set to the
latents' per-channel spread on a calibration image (an untrained hyperprior predicts scales far below
the latents' spread, and its likelihoods would sit on the 1e-9 floor). Then, in eval mode, it records CompressAI's own outputs:

* ``<arch>.pth.tar``: the state dict as CompressAI saves it (``model.state_dict()`` after
  ``update()``), minus the Gaussian conditional's integer CDF buffers (model independent, 64 x 3000
  int32s: most of the file); neurcomp reads it with ``--checkpoint``;
* ``reference.pt``: the two small test images (uint8, 64x64), per architecture CompressAI's ``y``,
  ``y_hat``, ``z``, ``z_hat``, likelihoods and ``x_hat`` (image 0) on them, and on a larger
  deterministic image (768x1024, :func:`rate_image`; only its SHA-256 is stored) the likelihood rate
  ``-sum(log2 likelihoods)`` per part and the byte lengths of CompressAI's own ``compress()`` strings.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import torch
from compressai.models import FactorizedPrior, MeanScaleHyperprior, ScaleHyperprior
from compressai.layers import GDN

ARCHS = {"bmshj2018-factorized": FactorizedPrior, "bmshj2018-hyperprior": ScaleHyperprior,
         "mbt2018-mean": MeanScaleHyperprior}
N, M = 8, 12
SEED = 20240518
SMALL = (64, 64)
RATE = (768, 1024)
OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "compressai"


def rate_image(seed: int = 7, h: int = RATE[0], w: int = RATE[1]) -> np.ndarray:
    """A deterministic uint8 image ``[3, h, w]``: 16x16 blocks of random colour plus noise (numpy's
    legacy ``RandomState``, whose stream numpy keeps stable across versions). The test makes the same."""
    rs = np.random.RandomState(seed)
    coarse = rs.rand(3, h // 16, w // 16)
    img = 0.75 * np.kron(coarse, np.ones((16, 16))) + 0.25 * rs.rand(3, h, w)
    return np.round(img * 255).astype(np.uint8)


def small_images() -> np.ndarray:
    return np.stack([rate_image(seed, *SMALL) for seed in (1, 2)])


def perturb(model, arch: str, gen: torch.Generator) -> None:
    """Move the fresh model away from its initialization (see the module docstring)."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, GDN):
                c = mod.beta.shape[0]
                beta = 0.5 + torch.rand(c, generator=gen)
                gamma = 0.1 * torch.eye(c) + 0.03 * torch.rand(c, c, generator=gen)
                mod.beta.data = mod.beta_reparam.init(beta)
                mod.gamma.data = mod.gamma_reparam.init(gamma)
        # latents of a few units (RMS 4 on a calibration image, another seed): a few bits each
        calib = torch.from_numpy(rate_image(11, 256, 256)).float()[None] / 255
        gain = 4.0 / float(model.g_a(calib).pow(2).mean().sqrt())
        model.g_a[6].weight.mul_(gain)
        model.g_a[6].bias.mul_(gain)
        eb = model.entropy_bottleneck
        for p in list(eb.matrices) + list(eb.biases) + list(eb.factors):
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
        if arch != "bmshj2018-factorized":
            last = model.h_s[4]
            last.weight.mul_(0.2)
            model.h_a[0].weight.mul_(0.5)
            # CompressAI's h_s output: (scales, means) for mbt2018-mean, scales alone otherwise. Predict each
            # channel's spread of y on a calibration image (another seed): about the scale training would find
            y = model.g_a(calib)
            mean = model.h_s(model.h_a(y))[:, M:] if arch == "mbt2018-mean" else 0.0
            last.bias[:M] = (y - mean).pow(2).mean(dim=(0, 2, 3)).sqrt()


def intermediates(model, arch: str, x: torch.Tensor) -> dict:
    """CompressAI's forward pass in eval mode, keeping what the fixture records."""
    y = model.g_a(x)
    if arch == "bmshj2018-factorized":
        y_hat, y_lik = model.entropy_bottleneck(y)
        return {"y": y, "y_hat": y_hat, "likelihoods": {"y": y_lik}, "x_hat": model.g_s(y_hat)}
    z = model.h_a(torch.abs(y) if arch == "bmshj2018-hyperprior" else y)
    z_hat, z_lik = model.entropy_bottleneck(z)
    params = model.h_s(z_hat)
    if arch == "mbt2018-mean":
        scales, means = params.chunk(2, 1)
    else:
        scales, means = params, None
    y_hat, y_lik = model.gaussian_conditional(y, scales, means=means)
    out = model(x)  # the model's own forward: the same numbers
    assert torch.equal(out["x_hat"], model.g_s(y_hat)) and torch.equal(out["likelihoods"]["y"], y_lik)
    return {"y": y, "y_hat": y_hat, "z": z, "z_hat": z_hat, "likelihoods": {"y": y_lik, "z": z_lik},
            "x_hat": out["x_hat"], "scales": scales, "means": means}


def _own(v):
    """A compact copy (a view would save its whole storage)."""
    return {k: _own(t) for k, t in v.items()} if isinstance(v, dict) else v.detach().clone().contiguous()


def bits(likelihoods: dict) -> dict:
    return {k: float(-torch.log2(v.double()).sum()) for k, v in likelihoods.items()}


def main(out_dir: Path = OUT) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    small_u8 = small_images()
    big_u8 = rate_image()
    small = torch.from_numpy(small_u8).float() / 255
    big = torch.from_numpy(big_u8).float()[None] / 255
    reference = {"images": torch.from_numpy(small_u8), "rate_image_sha256": hashlib.sha256(big_u8.tobytes()).hexdigest(),
                 "rate_image_shape": list(big_u8.shape), "N": N, "M": M, "seed": SEED,
                 "compressai_version": __import__("compressai").__version__, "archs": {}}
    for i, (arch, cls) in enumerate(ARCHS.items()):
        torch.manual_seed(SEED + i)
        gen = torch.Generator().manual_seed(SEED + i)
        model = cls(N, M)
        perturb(model, arch, gen)
        model.update(force=True, update_quantiles=True)
        model.eval()
        with torch.no_grad():
            mid = intermediates(model, arch, small)
            big_mid = intermediates(model, arch, big)
            strings = model.compress(big)["strings"]
        sizes = [sum(len(s) for s in part) for part in strings]
        floor = {k: int((v <= 1e-9 * 1.0001).sum()) for k, v in big_mid["likelihoods"].items()}
        rec = {"medians": model.entropy_bottleneck.quantiles[:, 0, 1].detach().clone(),
               "small": {k: _own(v if k != "x_hat" else v[:1]) for k, v in mid.items() if k not in ("scales", "means")},
               "rate_bits": bits(big_mid["likelihoods"]), "compressai_bytes": sum(sizes),
               "compressai_section_bytes": sizes, "likelihood_floor_hits": floor}
        reference["archs"][arch] = rec
        state = {k: v for k, v in model.state_dict().items()
                 if not k.startswith("gaussian_conditional.") or k.endswith(("scale_table", "scale_bound"))}
        torch.save(state, out_dir / f"{arch}.pth.tar")
        print(f"{arch}: medians {rec['medians'].min():+.3f}..{rec['medians'].max():+.3f}, rate image "
              f"{sum(rec['rate_bits'].values()):.0f} bits ({', '.join(f'{k} {v:.0f}' for k, v in rec['rate_bits'].items())}),"
              f" CompressAI file {rec['compressai_bytes']} bytes ({8 * rec['compressai_bytes']} bits), "
              f"likelihoods at the floor: {floor}")
    torch.save(reference, out_dir / "reference.pt")
    total = sum(p.stat().st_size for p in out_dir.iterdir())
    print(f"wrote {out_dir}: {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
