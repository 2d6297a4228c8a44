"""Tests for neurcomp.plotting (Agg backend): style, R-D plots, references, image grids."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from neurcomp import plotting as P  # noqa: E402

CURVES = {
    "jpeg": {"bpp": [0.3, 0.6, 1.2, 2.0], "psnr": [25.0, 29.0, 32.5, 35.0], "ms_ssim_db": [8, 11, 14, 17]},
    "webp": {"bpp": [0.2, 0.5, 1.0, 1.8], "psnr": [27.0, 31.0, 35.0, 38.0], "ms_ssim_db": [9, 12, 15, 18]},
}


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_set_style():
    P.set_style()
    rc = matplotlib.rcParams
    assert rc["figure.dpi"] == 110 and rc["savefig.bbox"] == "tight" and rc["axes.grid"]
    assert rc["axes.prop_cycle"].by_key()["color"][0] == P.PALETTE[0]


def test_rd_plot_psnr_with_reference():
    P.set_style()
    ax = P.rd_plot(CURVES, reference=True)
    assert ax.get_xlabel() == "bits per pixel (bpp)" and ax.get_ylabel() == "PSNR (dB)"
    labels = ax.get_legend_handles_labels()[1]
    assert labels[:2] == ["jpeg", "webp"] and len(labels) == 2 + len(P.REFERENCE_KODAK)
    dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert len(dashed) == len(P.REFERENCE_KODAK)
    assert ax.lines[0].get_marker() == P.CODEC_STYLE["jpeg"]["marker"]


def test_rd_plot_ms_ssim_and_given_axes():
    fig, ax = plt.subplots()
    out = P.rd_plot(CURVES, metric="ms_ssim_db", ax=ax, reference=["JPEG"])
    assert out is ax and ax.get_ylabel() == "MS-SSIM (dB)"
    assert len(ax.lines) == 2  # no published MS-SSIM references
    with pytest.raises(ValueError):
        P.rd_plot(CURVES, metric="ssim")


def test_reference_table_and_helper():
    assert P.REFERENCE_KODAK["JPEG"] == {0.25: 24.66, 0.5: 28.95, 1.0: 32.59}
    assert P.REFERENCE_KODAK["VTM (VVC intra)"][1.0] == 38.24
    ax = P.plot_reference(plt.figure().gca(), ["WebP", "JPEG 2000"])
    assert len(ax.lines) == 2 and list(ax.lines[0].get_ydata()) == [28.55, 31.32, 35.11]
    with pytest.raises(KeyError):
        P.plot_reference(ax, ["HEVC"])


def test_rd_plot_records():
    recs = [
        {"image": im, "codec": c, "quality": q, "bpp": b * (1 + k), "psnr": p + k, "ms_ssim": 0.95}
        for k, im in enumerate(["a", "b"])
        for c, s in (("jpeg", 1.0), ("webp", 0.8))
        for q, b, p in ((10, 0.3 * s, 25.0), (50, 1.0 * s, 30.0), (90, 2.0 * s, 35.0))
    ]
    ax = P.rd_plot_records(recs, key="codec", point_key="quality")
    assert ax.get_legend_handles_labels()[1] == ["jpeg", "webp"]
    assert np.allclose(ax.lines[0].get_xdata(), [0.45, 1.5, 3.0])
    ax2 = P.rd_plot_records(recs, metric="ms_ssim_db")
    assert ax2.get_ylabel() == "MS-SSIM (dB)"


def test_style_for():
    assert P.style_for("JPEG 2000") == P.CODEC_STYLE["jpeg2000"]
    assert P.style_for("sga (mshp@0.0067)")["color"] == P.CODEC_STYLE["sga"]["color"]
    assert P.style_for("something new") == {}


def test_image_grid_with_inset():
    imgs = [torch.rand(3, 48, 64), (np.random.rand(48, 64, 3) * 255).astype(np.uint8), torch.rand(1, 3, 48, 64)]
    fig = P.image_grid(imgs, ["original", "jpeg", "ours"], inset=(10, 20, 8, 12), zoom=3)
    assert isinstance(fig, matplotlib.figure.Figure)
    main_axes = [a for a in fig.axes if a.get_title()]
    assert [a.get_title() for a in main_axes] == ["original", "jpeg", "ours"]
    assert all(len(a.patches) == 1 for a in main_axes)  # the marked region
    assert all(len(a.child_axes) == 1 and a.child_axes[0].images for a in main_axes)  # zoomed insets
    fig.canvas.draw()
    fig2 = P.image_grid(imgs[:2], ncols=1)
    assert len([a for a in fig2.axes if a.images]) == 2
    with pytest.raises(ValueError):
        P.image_grid(imgs, ["only one title"])
    with pytest.raises(ValueError):
        P.image_grid(imgs, inset=(100, 0, 5, 5))
