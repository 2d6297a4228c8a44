import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

if "NEURCOMP_DATA" not in os.environ and SHARED_DATA.exists():
    os.environ["NEURCOMP_DATA"] = str(SHARED_DATA)
import matplotlib  # noqa: E402

matplotlib.use("Agg")  # in this process only: nbval's kernels must keep the inline backend
# Small tensors: one thread is faster, and on a shared 2-core machine oversubscribed threads
# make small ops many times slower. Tests that need another count set it themselves.
torch.set_num_threads(1)


def have_data() -> bool:
    return (Path(os.environ.get("NEURCOMP_DATA", "")) / "kodak" / "kodim01.png").exists()


needs_data = pytest.mark.skipif(not have_data(), reason="needs NEURCOMP_DATA with kodak/ and train/")


def toc_pages() -> list[str]:
    """The book's pages in ``_toc.yml`` order (root, chapters, their sections), as paths without suffix."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"]]

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                names.append(e["file"])
            walk(e.get("sections"))
            walk(e.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return names


def train_into_zoo(cfg: dict, zoo_dir: Path, name: str) -> Path:
    """Train ``cfg`` (seed 0, quietly) under ``zoo_dir/run_<name>`` and export it as ``name`` into ``zoo_dir``."""
    from neurcomp.train import train
    from neurcomp.zoo import export

    torch.manual_seed(0)
    export(train(cfg, Path(zoo_dir) / f"run_{name}", quiet=True), name, zoo_dir)
    return Path(zoo_dir)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """Train two tiny models for a few steps and export them as 'tiny' and 'tinyfp' into a temp zoo."""
    from neurcomp.train import DEFAULTS

    out = tmp_path_factory.mktemp("zoo")
    for name, model in [("tiny", {"kind": "hyperprior", "N": 16, "M": 24, "lambdas": [0.0067, 0.025]}),
                        ("tinyfp", {"kind": "factorized", "N": 16, "M": 24, "lambdas": [0.0067, 0.025]})]:
        cfg = {**DEFAULTS, "model": model, "steps": 30, "batch_size": 4, "crop": 64, "lr": 2e-3,
               "warmup_steps": 5, "eval_images": 0}
        train_into_zoo(cfg, out, name)
    return out


def use_zoo(path, monkeypatch):
    """Make the models exported into ``path`` loadable by name (for one test); a generator fixture body."""
    monkeypatch.setenv("NEURCOMP_WEIGHTS_PATH", str(path))
    from neurcomp import zoo
    zoo._load_cached.cache_clear()
    yield path
    zoo._load_cached.cache_clear()


@pytest.fixture()
def tiny_zoo(tiny_weights, monkeypatch):
    yield from use_zoo(tiny_weights, monkeypatch)


def train_few_steps(model, batches):
    """``model`` after one Adam step (learning rate 1e-3) per ``(x, rate_idx)`` of ``batches``, in eval mode
    with its coding tables built."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for x, rate_idx in batches:
        loss = model.rd_loss(x, model(x, rate_idx), rate_idx)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    model.update()
    return model


#: a tiny bits-back hyperprior (trained for 5 steps by ``tiny_bitsback``), exported as ``tbb@0.01`` / ``tbb@0.05``
TINY_BITSBACK = {"N": 8, "M": 12, "lambdas": [0.01, 0.05], "z_bin": 0.0625}


def picture(h=128, w=128, seed=0):
    """A photo-like test image ``[1, 3, h, w]`` in [0, 1]: gradients, an edge and a little noise."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    x = torch.stack([0.2 + 0.6 * xx, 0.3 + 0.5 * yy, 0.5 + 0.3 * (xx > 0.5).float()])
    return (x + 0.03 * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))).clamp(0, 1)[None]


@pytest.fixture(scope="session")
def tiny_bitsback():
    from neurcomp.models import BitsBackHyperprior

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.rand(2, 3, 64, 64, generator=g), torch.tensor([0, 1])) for _ in range(5)]
    return train_few_steps(BitsBackHyperprior(**TINY_BITSBACK), batches)


@pytest.fixture(scope="session")
def bitsback_weights(tiny_bitsback, tmp_path_factory):
    from neurcomp import zoo

    d = tmp_path_factory.mktemp("zoo")
    zoo.export({"config": {"model": tiny_bitsback.config}, "model": tiny_bitsback.state_dict(), "step": 5}, "tbb", d)
    return d


@pytest.fixture()
def bitsback_zoo(bitsback_weights, monkeypatch):
    """The tiny bits-back hyperprior loadable by name (``tbb@0.01``, ``tbb@0.05``) for one test."""
    yield from use_zoo(bitsback_weights, monkeypatch)
