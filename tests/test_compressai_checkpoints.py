"""Crafted CompressAI checkpoints (a security review's list): each is refused with one line before any model is
built (:func:`neurcomp.zoo.compressai.validate_state_dict`), by the library (a WeightsError) and by the CLI
(exit 1, one ``neurcomp: error:`` line, no output file); a context model is a usage error (exit 2)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neurcomp.cli import main
from neurcomp.models.compressai import ARCHITECTURES
from neurcomp.zoo import WeightsError, compressai as cai

FIXTURE = Path(__file__).parent / "fixtures" / "compressai"
N, M = 8, 12


def _set(key, value):
    return lambda s: s.__setitem__(key, value(s) if callable(value) else value)


def _zero_element_30000(s):
    """Every tensor zero-element, declaring N = M = 30000: nothing in the file, ~7 GB for the model."""
    for key, shape in cai.expected_shapes("mbt2018-mean", 30000, 30000).items():
        s[key] = torch.empty(*shape[:-1], 0)


#: name -> edit of ``example_state_dict("mbt2018-mean", N=8, M=12)``, and a word the message must hold
CRAFTED = {
    "integer key": (_set(3, torch.zeros(1)), "expected a string"),
    "missing matrices.0": (lambda s: s.pop("entropy_bottleneck.matrices.0"), "matrices.0 is missing"),
    "0-d matrix": (_set("entropy_bottleneck.matrices.1", torch.tensor(0.5)), "entropy_bottleneck.matrices.1"),
    "1-d matrix": (_set("entropy_bottleneck.matrices.2", torch.ones(3)), "entropy_bottleneck.matrices.2"),
    "1-d last matrix": (_set("entropy_bottleneck.matrices.4", torch.ones(3)), "entropy_bottleneck.matrices.4"),
    "0-d g_a.0.weight": (_set("g_a.0.weight", torch.tensor(1.0)), "g_a.0.weight"),
    "0-d g_a.6.weight": (_set("g_a.6.weight", torch.tensor(1.0)), "g_a.6.weight"),
    "1-d conv weight": (_set("g_a.2.weight", torch.ones(N)), "g_a.2.weight"),
    "0-d h_s.4.weight": (_set("h_s.4.weight", torch.tensor(1.0)), "h_s.4.weight"),
    "2-d quantiles": (_set("entropy_bottleneck.quantiles", torch.zeros(N, 3)), "entropy_bottleneck.quantiles"),
    "narrow quantiles": (_set("entropy_bottleneck.quantiles", torch.zeros(N, 1, 1)), "entropy_bottleneck.quantiles"),
    "0-d quantiles": (_set("entropy_bottleneck.quantiles", torch.tensor(0.0)), "entropy_bottleneck.quantiles"),
    "quantiles of other channels": (_set("entropy_bottleneck.quantiles", torch.zeros(M, 1, 3)), "(8, 1, 3)"),
    "empty GDN bound": (_set("g_a.1.beta_reparam.lower_bound.bound", torch.empty(0)), "one number"),
    "empty GDN pedestal": (_set("g_s.3.gamma_reparam.pedestal", torch.empty(0)), "one number"),
    "empty GDN beta": (_set("g_a.1.beta", torch.empty(0)), "g_a.1.beta"),
    "empty GDN gamma": (_set("g_s.5.gamma", torch.empty(0, 0)), "g_s.5.gamma"),
    "sparse weight": (_set("g_a.2.weight", lambda s: s["g_a.2.weight"].to_sparse()), "dense"),
    "meta weight": (_set("h_a.2.weight", torch.empty(N, N, 5, 5, device="meta")), "meta"),
    "bool weight": (_set("g_a.0.weight", lambda s: s["g_a.0.weight"] > 0), "floating-point"),
    "integer quantiles": (_set("entropy_bottleneck.quantiles", lambda s: s["entropy_bottleneck.quantiles"].int()),
                          "floating-point"),
    "NaN quantiles": (_set("entropy_bottleneck.quantiles", torch.full((N, 1, 3), float("nan"))), "NaN"),
    "NaN in g_a": (lambda s: s["g_a.2.weight"].view(-1).__setitem__(7, float("nan")), "g_a.2.weight"),
    "inf GDN beta": (lambda s: s["g_a.3.beta"].__setitem__(0, float("inf")), "g_a.3.beta"),
    "inf GDN bound": (_set("g_s.1.beta_reparam.lower_bound.bound", torch.tensor([float("inf")])), "NaN or infinite"),
    "NaN bottleneck bias": (lambda s: s["entropy_bottleneck.biases.1"].view(-1).__setitem__(0, float("nan")), "NaN"),
    "huge median": (lambda s: s["entropy_bottleneck.quantiles"][3, 0].fill_(1e30), "at most 2^24"),
    "float64 beyond float32": (_set("h_s.2.weight", lambda s: s["h_s.2.weight"].double() * 1e300), "in float32"),
    "GDN constants that make NaN": (lambda s: s.update({"g_a.1.gamma_reparam.pedestal": torch.tensor([1e6]),
                                                        "g_a.1.gamma_reparam.lower_bound.bound": torch.zeros(1)}),
                                    "reparametrization"),
    "zero-element N = M = 30000": (_zero_element_30000, "N=30000"),
    "no channels": (_set("g_a.0.weight", torch.empty(0, 3, 5, 5)), "N=0"),
    "unexpected parameter": (_set("g_a.7.weight", torch.zeros(1)), "unexpected parameter g_a.7.weight"),
    "renamed bottleneck matrix": (lambda s: s.__setitem__("entropy_bottleneck.matrices.2x",
                                                          s.pop("entropy_bottleneck.matrices.2")), "matrices.2 is missing"),
    "old and new name of one parameter": (_set("entropy_bottleneck._matrix0",
                                               lambda s: s["entropy_bottleneck.matrices.0"].clone()),
                                          "both entropy_bottleneck.matrices.0"),
}


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("img") / "tiny.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
    return path


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("neurcomp: error: "), err
    return err[0]


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_checkpoint_is_one_line_weights_error_before_building(case, image, tmp_path, capsys, monkeypatch):
    edit, word = CRAFTED[case]
    state = cai.example_state_dict("mbt2018-mean", N=N, M=M)
    edit(state)
    path = tmp_path / "crafted.pth.tar"
    torch.save(state, path)
    built = []
    for cls in ARCHITECTURES.values():  # nothing may be built from a refused checkpoint
        monkeypatch.setattr(cls, "__init__", lambda self, *a, **k: built.append(a) or pytest.fail("model built"))
    with pytest.raises(WeightsError) as e:
        cai.load_compressai(path)
    msg = str(e.value)
    assert "\n" not in msg and word in msg and str(path) in msg, msg
    assert not isinstance(e.value, cai.CheckpointError)  # a bad file, not a usage error
    out = tmp_path / "out.ncz"
    assert main(["compress", str(image), str(out), "--checkpoint", str(path)]) == 1
    assert word in _one_error_line(capsys)
    assert not out.exists() and not built


def test_context_model_is_a_usage_error(image, tmp_path, capsys):
    state = cai.example_state_dict("mbt2018-mean", N=N, M=M)
    state["context_prediction.weight"] = torch.zeros(2 * M, M, 5, 5)
    state["entropy_parameters.0.weight"] = torch.zeros(M * 10 // 3, M * 12 // 3, 1, 1)
    path = tmp_path / "mbt2018.pth.tar"
    torch.save(state, path)
    with pytest.raises(cai.UnsupportedArchitecture, match="context model"):
        cai.checkpoint_entry(path)
    out = tmp_path / "out.ncz"
    assert main(["compress", str(image), str(out), "--checkpoint", str(path)]) == 2
    assert "context model" in _one_error_line(capsys)
    assert not out.exists()
    with pytest.raises(cai.UnsupportedArchitecture, match="unknown CompressAI architecture"):
        cai.build_from_state_dict(cai.example_state_dict("mbt2018-mean", N=N, M=M), arch="cheng2020-anchor")


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_expected_shapes_are_the_models_and_compressais(arch):
    """The validator's shapes are those of CompressAI's own checkpoints (the fixture) and of our models
    (``example_state_dict`` is made from one); the valid ones pass it unchanged."""
    for state, width in ((cai.read_state_dict(FIXTURE / f"{arch}.pth.tar"), (8, 12)),
                         (cai.example_state_dict(arch, N=5, M=7), (5, 7))):
        read = {k: tuple(v.shape) for k, v in state.items() if not cai._IGNORED.search(k)}
        assert read == cai.expected_shapes(arch, *width)
        assert cai.validate_state_dict(state) == (arch, *width, (3, 3, 3, 3))
