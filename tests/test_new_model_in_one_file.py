"""A new model in one file reaches chapter 9's table with no other edit.

``tests/toy_transform_coder.py`` is a model outside the package (a :class:`~neurcomp.models.CompressionModel`
and a :class:`~neurcomp.models.TransformCoder`). Registered with its one line and exported into a temporary
zoo, ``neurcomp eval`` codes Kodak images with it, at every rate point and with SGA, into a results file
(:mod:`neurcomp.results`); put next to the committed benchmark results, chapter 9's own table cell (run here
from the notebook, unchanged) shows its row with BD-rates against JPEG on the same images.
"""
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from conftest import ROOT, needs_data
from neurcomp import data, results, zoo
from neurcomp.book import synthesis as syn
from neurcomp.cli import main
from neurcomp.models import MODEL_CLASSES

sys.path.insert(0, str(Path(__file__).parent))
from toy_transform_coder import ToyTransformCoder  # noqa: E402

LAMBDAS = [0.002, 0.005, 0.01, 0.05]


def _chapter_cell(marker: str) -> str:
    nb = json.loads((ROOT / "book" / "09_putting_it_together.ipynb").read_text())
    (src,) = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code" and marker in "".join(c["source"])]
    return src


@pytest.fixture
def toy_zoo(tmp_path, monkeypatch):
    monkeypatch.setitem(MODEL_CLASSES, ToyTransformCoder.kind, ToyTransformCoder)  # the one registry line
    torch.manual_seed(0)
    m = ToyTransformCoder(lambdas=LAMBDAS)
    zoo.export({"config": {"model": m.config}, "model": m.state_dict(), "step": 1}, "toy", tmp_path / "zoo")
    monkeypatch.setenv("NEURCOMP_WEIGHTS_PATH", str(tmp_path / "zoo"))
    zoo._load_cached.cache_clear()
    yield
    zoo._load_cached.cache_clear()


@needs_data
def test_a_model_in_one_file_gets_its_row_in_chapter_9s_table(toy_zoo, tmp_path, capsys):
    folder = tmp_path / "results"
    shutil.copytree(syn.results_dir(), folder)
    images = [str(p) for p in data.kodak_paths()[:2]]
    out = folder / "toy_sga.json"
    assert main(["eval", "--images", *images, "--model", "toy", "--method", "sga", "--steps", "10",
                 "--json", str(out)]) == 0
    f = results.read(out)
    assert [r.model for r in f.records] == [f"toy@{v:g}" for v in LAMBDAS for _ in images]
    assert {r.label for r in f.records} == {"toy transform coder (toy), SGA [M1], 10 steps"}
    assert f.provenance["weights"] == {"toy": zoo.resolve("toy@0.01")["sha256"][:16]}

    loaded = syn.load_results(folder)
    assert loaded["toy_sga"].status == "current" and loaded["codec"].status == "current"
    rows = syn.method_rows(loaded)
    summary = syn.summary(rows, loaded)
    (toy,) = [s for s in summary if s["source"] == "toy_sga.json"]
    assert (toy["images"], toy["points"], toy["group"], toy["flag"]) == ("2 Kodak", 4, "kodak", "")
    # against codec.json's JPEG on the same two images: 4x4 block means (about 23-25 dB at 1-4 bpp) lose by far
    assert isinstance(toy["bd_jpeg"], float) and toy["bd_jpeg"] > 100, toy
    assert toy["ideal"] == "information content" and 0.95 < toy["ratio"] < 1.05
    # every committed row is still there, once
    committed = syn.summary(syn.method_rows(syn.load_results()), None)
    assert len(summary) == len(committed) + 1

    # chapter 9's table cell, as committed, shows the row
    capsys.readouterr()
    from neurcomp import book

    exec(_chapter_cell("summary = syn.summary(rows, results)"), {"syn": syn, "book": book, "results": loaded})
    table = capsys.readouterr().out
    assert "toy transform coder (toy), SGA [M1], 10 steps" in table and "toy_sga.json" in table
