"""Unit tests of ``neurcomp.book``, the helpers the chapters share (fast: no Kodak, tiny images)."""
from __future__ import annotations

import ast
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from neurcomp import book, data, metrics, zoo

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture()
def image_file(tmp_path):
    """A 64 x 64 PNG of smooth gradients (compresses like a photo, not like noise)."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    x = torch.stack([xx, yy, (xx + yy) / 2])
    return data.save_png(x, tmp_path / "grad.png")


# ----------------------------------------------------------------------------- setup


def test_setup_reads_and_checks_the_profile(monkeypatch):
    monkeypatch.setenv("NEURCOMP_PROFILE", "full")
    ch = book.setup(banner=False, style=False, threads=1)
    assert ch.profile == "full" and not ch.quick and ch.pick(1, 2) == 2
    assert ch.device.type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="NEURCOMP_PROFILE must be 'quick' or 'full'"):
        book.setup("medium", banner=False)
    with pytest.raises(ValueError, match="device"):
        book.setup("quick", device="tpu", banner=False)


def test_setup_quick_profile_uses_one_thread_and_the_cpu(capsys):
    before = torch.get_num_threads()
    try:
        ch = book.setup("quick", device="full")
        assert torch.get_num_threads() == 1
        assert ch.device == torch.device("cpu")
        assert ch.data_dir == data.data_dir()
        banner = capsys.readouterr().out
        assert "profile: quick" in banner and "device: cpu" in banner
        import matplotlib

        assert matplotlib.rcParams["figure.autolayout"] is True
        assert ch.elapsed() >= 0
        assert ch.done().startswith("chapter run time:")
    finally:
        torch.set_num_threads(before)


def test_book_is_a_top_layer_that_never_imports_the_cli():
    imported = set()
    for path in (ROOT / "neurcomp" / "book").glob("*.py"):
        tree = ast.parse(path.read_text())
        imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any("cli" in m.split(".") for m in imported), imported
    assert all(name in dir(book) for name in book.__all__)


# ----------------------------------------------------------------------------- networks


def test_networks_and_nearest_rate_point():
    nets = book.networks(["hyperprior", "factorized"], prefer=("fp",))
    assert next(iter(nets)) == "fp"
    for entries in nets.values():
        values = [e["value"] for e in entries]
        assert values == sorted(values)
    mshp = book.network("hyperprior", "mshp")
    assert {e["base"] for e in mshp} == {"mshp"}
    assert book.nearest(mshp, 0.007)["value"] == 0.0067
    assert book.nearest(mshp, 1.0)["value"] == max(e["value"] for e in mshp)
    assert book.network("no such kind") == []
    vq0 = book.network("vq", want=lambda cfg: cfg["alpha"] == 0)
    assert vq0 and zoo.model_card(vq0[0]["base"])["config"]["alpha"] == 0


def test_network_trains_a_stand_in_when_none_is_shipped(monkeypatch, capsys, tmp_path, image_file):
    (tmp_path / "train").mkdir()
    for i in range(2):  # a tiny training set: the stand-in only has to exist, not to be good
        data.save_png(torch.rand(3, 64, 64), tmp_path / "train" / f"{i}.png")
    monkeypatch.setenv("NEURCOMP_DATA", str(tmp_path))
    monkeypatch.setenv("NEURCOMP_WEIGHTS_PATH", "")
    monkeypatch.setattr(zoo, "list_models", _without_kind(zoo.list_models, "dvae"))
    zoo._load_cached.cache_clear()
    try:
        config = {"kind": "dvae", "N": 8, "M": 8, "lambdas": [0.005, 0.02]}
        entries = book.network("dvae", "dvae", stand_in=config, minutes=0.01)
        assert [e["name"] for e in entries] == ["dvae_standin@0.005", "dvae_standin@0.02"]
        assert "no shipped dvae network: trained a stand-in" in capsys.readouterr().out
        model, _, _ = zoo.load_pretrained(entries[0]["name"])
        assert model.kind == "dvae" and model.rate_points == [0.005, 0.02]
    finally:
        zoo._load_cached.cache_clear()


def _without_kind(list_models, kind):
    """list_models, minus the shipped networks of one kind (stand-ins are kept)."""
    return lambda *a, **k: [e for e in list_models(*a, **k) if e["kind"] != kind or "standin" in e["base"]]


def test_describe_networks_prints_one_line_per_network(capsys):
    book.describe_networks(book.networks(["hyperprior"]), {"hyperprior": "mean-scale"}, training=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(book.networks(["hyperprior"]))
    assert "mean-scale" in lines[0] and "steps" in lines[0] and "lambda = " in lines[0]


def test_load_returns_the_cached_cpu_model():
    model, rate_idx, lam = book.load("mshp@0.0067")
    same, _, _ = zoo.load_pretrained("mshp@0.0067")
    assert model is same and lam == 0.0067 and model.rate_points[rate_idx] == lam


# ----------------------------------------------------------------------------- images and records


def test_load_crop_sizes_and_positions(image_file):
    x = data.load_image(image_file)
    assert torch.equal(book.load_crop(image_file), x)
    assert torch.equal(book.load_crop(image_file, 16, at=(4, 8)), x[:, 4:20, 8:24])
    assert torch.equal(book.load_crop(image_file, (20, 30)), x[:, 22:42, 17:47])  # centred


def test_code_sweep_and_evaluate_networks_use_real_streams(image_file):
    entries = book.network("factorized")[:2]
    x = data.load_image(image_file)
    rows = book.code_sweep(x, entries)
    assert [r["name"] for r in rows] == [e["name"] for e in entries]
    for r in rows:
        assert r["bpp"] == pytest.approx(8 * len(r["blob"]) / (64 * 64))
        assert r["psnr"] == pytest.approx(metrics.psnr(r["x_hat"], x))
        assert set(r["bits"]) == {"y"}
    assert rows[0]["bpp"] < rows[1]["bpp"]  # a larger lambda spends more bits
    recs = book.evaluate_networks([image_file], {"fp (ours)": entries})
    assert [r["curve"] for r in recs] == ["fp (ours)"] * 2
    assert [r["lambda"] for r in recs] == [e["value"] for e in entries]
    for r, row in zip(recs, rows):  # the same streams, decoded again
        assert r["bpp"] == pytest.approx(row["bpp"]) and r["psnr"] == pytest.approx(row["psnr"])


def test_baseline_records_on_pixels_and_on_files(image_file):
    x = data.load_image(image_file)
    recs = book.baseline_records({"grad": x}, "jpeg", [20, 80])
    assert [r["model"] for r in recs] == ["jpeg@20", "jpeg@80"]
    assert recs[0]["curve"] == "JPEG (measured)" and recs[0]["ms_ssim"] is None  # 64 px: too small
    assert recs[0]["bpp"] < recs[1]["bpp"] and recs[0]["psnr"] < recs[1]["psnr"]
    from_files = book.baseline_records([image_file], "jpeg", [20, 80], curve="JPEG")
    assert [(r["curve"], r["model"]) for r in from_files] == [("JPEG", "jpeg@20"), ("JPEG", "jpeg@80")]
    assert [r["bpp"] for r in from_files] == pytest.approx([r["bpp"] for r in recs])


def test_curves_bd_and_psnr_at():
    recs = [{"curve": c, "model": f"{c}@{i}", "image": img, "bpp": b * s, "psnr": p, "ms_ssim": None}
            for c, s in (("a", 1.0), ("b", 0.8)) for i, (b, p) in enumerate([(0.25, 28), (0.5, 31), (1, 34), (2, 37)])
            for img in ("x", "y")]
    cv = book.curves(recs)
    assert list(cv) == ["a", "b"] and cv["a"]["bpp"].tolist() == [0.25, 0.5, 1.0, 2.0]
    assert book.bd(cv["a"], cv["b"]).strip() == "-20.0 %"
    assert book.bd(cv["a"], {"bpp": [1, 2], "psnr": [50, 60]}).strip() == "n/a"
    assert book.psnr_at(cv["a"], 0.5) == pytest.approx(31.0)
    assert book.psnr_at(cv["a"], np.sqrt(0.5)) == pytest.approx(32.5)  # linear in log-rate
    assert book.psnr_at(cv["a"], 3.0) is None


def test_same_rate_keeps_within_the_budget():
    x = torch.rand(3, 64, 64)
    panels = book.same_rate(x, 4.0, ["jpeg", "webp"])
    assert [t.split(" ")[0] for _, t in panels] == ["JPEG", "WebP"]
    for img, title in panels:
        assert img.shape == (64, 64, 3) and float(title.split(": ")[1].split(" bpp")[0]) <= 4.0


def test_table_aligns_formats_and_blanks(capsys):
    text = book.table([{"m": "a", "v": 1.5, "n": 3}, {"m": "bbb", "v": None, "n": 10}],
                      [("model", "m"), ("value", "{v:.2f}"), ("n", lambda r: r["n"] * 2), ("n", "n")])
    assert capsys.readouterr().out.rstrip("\n") == text
    lines = text.splitlines()
    assert lines[0].split() == ["model", "value", "n", "n"]
    assert lines[1].split() == ["a", "1.50", "6", "3"] and lines[2].split() == ["bbb", "-", "20", "10"]
    assert len({len(line) for line in lines}) == 1  # aligned columns
    md = book.table([{"a": 1}], {"x": "a"}, markdown=True)
    assert md.splitlines() == ["| x |", "| :-- |", "| 1 |"]


# ----------------------------------------------------------------------------- figures


def test_moving_average_and_smooth():
    assert book.moving_average([2.0, 2.0, 2.0]).tolist() == [2.0, 2.0, 2.0]
    assert book.moving_average([0.0, 10.0], beta=0.9).tolist() == pytest.approx([0.0, 1.0])
    v = np.arange(10.0)
    assert book.smooth(v, 3).tolist() == pytest.approx(v.tolist())  # a line is its own running mean
    assert book.smooth([1.0, 2.0], 5).tolist() == [1.0, 2.0]  # shorter than the window: unchanged
    assert len(book.smooth(np.random.rand(17), 4)) == 17


def test_rd_figure_and_zoom():
    curves = {"jpeg": {"bpp": [0.3, 0.8, 3.0], "psnr": [26.0, 30.0, 40.0], "ms_ssim_db": [10.0, 13.0, 20.0]},
              "mine": {"bpp": [0.2, 0.6], "psnr": [29.0, 33.0], "ms_ssim_db": [12.0, 15.0]}}
    fig, axes = book.rd_figure(curves, reference=["JPEG"], xmax=1.0, styles={"mine": {"color": "red"}})
    assert len(axes) == 2 and axes[1].get_title() == "Kodak, MS-SSIM"
    # fitted to what is visible up to 1 bpp, the published JPEG points (24.66 dB at 0.25 bpp) included
    assert [float(v) for v in axes[0].get_ylim()] == pytest.approx([24.16, 33.5])
    labels = [line.get_label() for line in axes[0].get_lines()]
    assert labels[:2] == ["jpeg", "mine"] and "JPEG (published)" in labels
    assert axes[0].get_lines()[1].get_color() == "red"
    assert len(fig.legends) == 1
    _, (ax,) = book.rd_figure(curves, ["psnr"], legend="none")
    assert ax.get_legend() is None and not ax.figure.legends


def test_crop_grid_sweep_and_images():
    img = np.zeros((32, 48, 3), np.uint8)
    fig, spare = book.crop_grid([(img, "a"), None, (torch.rand(3, 32, 48), "b")], (0, 0, 16, 16), ncols=2)
    assert len(fig.axes) == 4 and len(spare) == 1 and spare[0].axison
    assert fig.axes[0].get_images()[0].get_array().shape == (16, 16, 3)
    book.plot_sweep(spare[0], [{"bpp": 0.1, "psnr": 25.0, "lambda": 0.01}, {"bpp": 0.3, "psnr": 28.0, "lambda": 0.05}])
    assert [t.get_text() for t in spare[0].texts] == ["0.01", "0.05"]
    strip = book.image_strip(torch.zeros(3, 3, 4, 5), gap=2)
    assert strip.shape == (4, 19, 3) and strip[:, 5:7].min() == 1.0  # white gaps
    ax = book.show_image(plt.figure().gca(), strip, "strip")
    assert ax.get_title() == "strip" and not ax.axison
    assert len(book.colors(5)) == 5 and book.colors(1)[0] == book.colors(3)[0]


def test_plot_training_and_learning_curve():
    ax = book.plot_training(plt.figure().gca(), [4.0, 3.0, 2.0], "loss", legend=True)
    grey, avg = ax.get_lines()
    assert grey.get_xdata().tolist() == [1, 2, 3] and avg.get_ydata()[0] == 4.0
    card = zoo.model_card("mshp")
    lc = book.learning_curve(card)
    assert set(lc) == set(card["config"]["lambdas"])  # a curve for every rate point (0.0009 from step 13,020 on)
    steps = [row["step"] for row in card["learning_curve"]]
    assert next(iter(lc.values()))["step"].tolist() == steps
    fig, axes = plt.subplots(1, 3)
    assert book.plot_learning_curve(card, *axes).keys() == lc.keys()
    assert len(axes[0].get_lines()) == len(lc) and len(axes[2].get_lines()) >= len(lc)
    assert book.learning_curve({}) == {}


# ----------------------------------------------------------------------------- widgets


def test_png_card_and_sliders():
    from PIL import Image
    import io

    arr = np.random.randint(0, 255, (20, 30, 3), np.uint8)
    assert Image.open(io.BytesIO(book.png(arr, crop=(2, 3, 10, 12)))).size == (12, 10)
    assert Image.open(io.BytesIO(book.png(torch.rand(3, 8, 9)))).size == (9, 8)
    assert book.fig_png(plt.figure(figsize=(1, 1)), dpi=50)[:4] == b"\x89PNG"
    card = book.card(arr, "<b>x</b>", crop=(0, 0, 5, 5), width="50px")
    assert card.children[0].layout.width == "50px" and card.children[1].value == "<b>x</b>"
    slider, stack = book.stack([book.card(arr) for _ in range(4)], list("abcd"), "λ")
    assert slider.value == "c" and stack.selected_index == 2 and slider.description == "λ"
    import ipywidgets as widgets

    stacks = [widgets.Stack([widgets.HTML(str(i)) for i in range(3)]) for _ in range(2)]
    s2 = book.slider(["1", "2", "3"], "B", stacks, index=0)
    assert s2.index == 0 and all(st.selected_index == 0 for st in stacks)


# ----------------------------------------------------------------------------- training and latents


def test_train_live_lowers_the_loss_and_calls_evaluate():
    from neurcomp.models import MeanScaleHyperprior

    torch.manual_seed(0)
    model = MeanScaleHyperprior(N=8, M=8, lambdas=[0.01])
    fixed = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    calls = []

    def evaluate(m):
        calls.append(m.training)
        m.eval()  # train_live must put the model back in training mode
        return {"n": len(calls)}

    log = book.train_live(model, lambda n, generator: fixed[:n], batch=2, seconds=60, max_steps=30, lr=1e-2,
                          warmup_steps=1, every=10, evaluate=evaluate)
    assert log["steps"] == 30 and len(log["loss"]) == len(log["bpp"]) == len(log["psnr"]) == 30
    assert [e["step"] for e in log["eval"]] == [10, 20, 30] and calls == [True, True, True]
    assert model.training and log["seconds"] > 0
    assert np.mean(log["loss"][-5:]) < np.mean(log["loss"][:5])
    assert book.train_live(model, lambda n, generator: fixed[:n], 2, seconds=0, max_steps=5)["steps"] == 0


def test_rd_point_matches_the_codec():
    from neurcomp.inference import optimize_latents

    model, rate_idx, _ = book.load("mshp@0.0067")
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    amortized = book.rd_point(model, x, rate_idx)[0]
    with torch.no_grad():
        enc = model.compress(x, rate_idx)
    assert amortized["bpp"] * 64 * 64 == pytest.approx(enc.information_bits, rel=0.02)
    diff = np.abs(data.to_uint8(amortized["x_hat"]).astype(int) - data.to_uint8(enc.x_hat[0]).astype(int))
    assert diff.max() <= 1 and diff.mean() < 0.01  # float32 here, the codec's float64 decoder there
    res = optimize_latents(model, x, rate_idx, method="sga", steps=5, record_every=5)
    optimized = book.rd_point(model, x, rate_idx, res)[0]
    assert optimized["loss"] == pytest.approx(res.final["loss"][0])
    x_hat = book.decode_latents(model, res.y_symbols, res.z_int, rate_idx)
    assert torch.equal(x_hat[0], optimized["x_hat"]) and 0 <= float(x_hat.min()) <= float(x_hat.max()) <= 1


# ----------------------------------------------------------------------------- reporting helpers


def test_means_bd_table_and_psnr_table(capsys):
    recs = [{"model": m, "bpp": b, "psnr": p} for m, b, p in [("a", 1.0, 30.0), ("a", 3.0, 32.0), ("b", 0.5, 28.0)]]
    assert book.means(recs, ["bpp", "psnr"]) == [{"model": "a", "bpp": 2.0, "psnr": 31.0},
                                                 {"model": "b", "bpp": 0.5, "psnr": 28.0}]
    cv = {"a": {"bpp": [0.25, 0.5, 1.0, 2.0], "psnr": [28.0, 31.0, 34.0, 37.0]},
          "b": {"bpp": [0.2, 0.4, 0.8, 1.6], "psnr": [28.0, 31.0, 34.0, 37.0]}}
    lines = book.bd_table(cv, ["a", "b"], ["a", "b"]).splitlines()
    assert lines[0].split() == ["BD-rate", "vs", "a", "(PSNR)", "vs", "b", "(PSNR)"]
    assert lines[1].split() == ["a", "+25.0", "%"] and lines[2].split() == ["b", "-20.0", "%"]
    lines = book.psnr_table(cv, {"a": "ours"}, rates=(0.5, 4.0), published=["WebP"]).splitlines()
    assert lines[1].split() == ["0.50", "31.00", "31.32"] and lines[2].split()[:2] == ["4.00", "-"]
    capsys.readouterr()


def test_round_trip_forward_and_final_gap():
    from types import SimpleNamespace

    name = book.network("factorized")[0]["name"]
    rt = book.round_trip(torch.rand(3, 48, 80), name)
    assert rt["x_hat"].shape == (48, 80, 3) and rt["bytes"] == len(rt["blob"]) and rt["method"] == "amortized"
    assert rt["bpp"] == pytest.approx(8 * len(rt["blob"]) / (48 * 80)) and rt["enc_s"] > 0 and rt["dec_s"] > 0
    model, rate_idx, _ = book.load(name)
    out = book.forward(model, torch.rand(3, 40, 70), rate_idx)
    assert out["x_hat"].shape[-2:] == (48, 80) and not out["x_hat"].requires_grad
    run = SimpleNamespace(steps=list(range(5)), true_loss=[[2.0]] * 5, relaxed_loss=[[1.0]] * 4 + [[3.0]])
    assert book.final_gap(run) == pytest.approx(-1.0) and book.final_gap(run, 0.4) == pytest.approx(0.0)
    with pytest.raises(RuntimeError, match="needs a shipped nothing network"):
        book.network("nothing", required=True)


def test_stacked_bars_pages_and_explorer(capsys):
    ax = plt.figure().gca()
    total = book.stacked_bars(ax, ["x", "y"], [("a", [1, 2], "C0"), ("b", [0.5, 0.5], "C1")], width=0.5)
    assert total.tolist() == [1.5, 2.5] and len(ax.patches) == 4
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y"]
    import ipywidgets as widgets

    st = book.pages([[widgets.HTML("a"), widgets.HTML("b")], widgets.HTML("c")], index=0)
    assert st.selected_index == 0 and isinstance(st.children[0], widgets.HBox)
    book.explorer(book.slider(["1", "2"], "x", st), content=st)
    assert "VBox" in capsys.readouterr().out  # displayed (as text outside a notebook)


def test_grid_explorer_prerenders_every_frame_and_links_the_sliders_in_the_browser():
    import ipywidgets as widgets

    def frame(t):
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], [0, t])
        ax.set_ylim(0, 10)
        return fig

    box = book.grid_explorer(frame, {"t": [0.1, 1.0, 10.0]}, show=False)
    slider_, stack_ = box.children
    assert isinstance(stack_, widgets.Stack) and len(stack_.children) == 3  # one pre-rendered page per value
    pngs = [bytes(page.children[0].value) for page in stack_.children]
    assert all(p[:4] == b"\x89PNG" for p in pngs) and len(set(pngs)) == 3  # figures differ per value
    assert slider_.options == ("0.1", "1", "10") and stack_.selected_index == slider_.index == 1
    from ipywidgets.widgets.widget import _instances
    from ipywidgets.widgets.widget_link import Link

    links = [w for w in _instances.values() if isinstance(w, Link) and w.source[0] is slider_ and w.target[0] is stack_]
    assert links  # a jslink: the page turns in the browser, without a kernel
    assert not plt.get_fignums()  # the frames' figures are closed after rendering
    with pytest.raises(ValueError, match="one or two"):
        book.grid_explorer(frame, {"a": [1], "b": [2], "c": [3]}, show=False)


def test_training_images_fall_back_to_kodak_with_a_label(monkeypatch, capsys, tmp_path):
    (tmp_path / "kodak").mkdir()
    for name in data.KODAK_SHA256:  # the Kodak folder as the loader finds it (files present, not re-checked)
        data.save_png(torch.zeros(3, 8, 8), tmp_path / "kodak" / name)
    monkeypatch.setenv("NEURCOMP_DATA", str(tmp_path))
    paths = book.training_images()
    assert [p.parent.name for p in paths] == ["kodak"] * 24
    assert "no training photos under" in capsys.readouterr().out
    (tmp_path / "train").mkdir()
    data.save_png(torch.zeros(3, 8, 8), tmp_path / "train" / "a.png")
    assert [p.name for p in book.training_images()] == ["a.png"] and capsys.readouterr().out == ""


def test_weights_used_prints_the_shipped_fingerprints(capsys):
    text = book.weights_used("mshp", "no_such_network")
    assert capsys.readouterr().out == text + "\n"
    mshp = book.networks(["hyperprior"])["mshp"]
    line = text.splitlines()[1]
    assert line.split()[:2] == ["mshp", mshp[0]["sha256"][:16]]
    assert f"{zoo.model_card('mshp')['training']['steps']:,d} steps" in line and f"{len(mshp)} x lambda" in line
    assert text.splitlines()[2].split() == ["no_such_network", "not", "shipped", "in", "this", "checkout"]
    assert book.weights_used() == "this chapter uses no shipped weights"


@pytest.mark.slow
def test_tables_render_as_tables_in_a_kernel_and_show_once():
    """In a Jupyter kernel a table is one output with a Markdown table (rendered by JupyterLab, Colab and
    the book) and the aligned text (what nbval compares); a table as a cell's last value is not shown twice."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from neurcomp import book\n"
        "book.table([{'m': 'a|b', 'v': 0.25}, {'m': 'c', 'v': None}], {'model': 'm', '$\\\\lambda$': '{v:.2f}'})")])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert [o["output_type"] for o in outputs] == ["display_data"]
    md, plain = outputs[0]["data"]["text/markdown"], outputs[0]["data"]["text/plain"]
    assert md.splitlines() == ["| model | $\\lambda$ |", "| :-- | --: |", "| a\\|b | 0.25 |", "| c | - |"]
    assert plain.splitlines() == ["model $\\lambda$", "a|b        0.25", "c             -"]
    # outside a kernel: printed, and returned as the same text
    assert book.table([{"m": "x"}], {"model": "m"}) == "model\nx"
