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
