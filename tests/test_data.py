"""Tests for neurcomp.data: image I/O, Kodak loader (offline), folders, crops, padding."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neurcomp import data
from neurcomp.data import DataError
from neurcomp.fileio import sha256_file

SHARED = Path(os.environ.get("NEURCOMP_DATA", "/work/shared/data"))
HAVE_KODAK = all((SHARED / "kodak" / n).is_file() for n in data.KODAK_SHA256)


def _rgb(h=20, w=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _is_8bit(x: torch.Tensor) -> bool:
    return torch.equal(x * 255, (x * 255).round())


# ----------------------------------------------------------------------------- data_dir


def test_data_dir_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv("NEURCOMP_DATA", str(tmp_path))
    assert data.data_dir() == tmp_path
    monkeypatch.delenv("NEURCOMP_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.data_dir() == tmp_path / "home" / ".cache" / "neurcomp"


# ----------------------------------------------------------------------------- load_image


def test_load_rgb_png_exact(tmp_path):
    arr = _rgb()
    Image.fromarray(arr).save(tmp_path / "a.png")
    x = data.load_image(tmp_path / "a.png")
    assert x.dtype == torch.float32 and x.shape == (3, 20, 30)
    assert _is_8bit(x)
    assert np.array_equal(data.to_uint8(x), arr)


def test_load_grayscale_replicated(tmp_path):
    g = _rgb()[..., 0]
    Image.fromarray(g, "L").save(tmp_path / "g.png")
    x = data.load_image(tmp_path / "g.png")
    assert x.shape == (3, 20, 30)
    for c in range(3):
        assert torch.equal(x[c], torch.from_numpy(g).float() / 255)


def test_load_16bit_gray_rounds(tmp_path):
    v = np.array([[0, 257, 65535, 32768, 128, 129]], dtype=np.uint16)
    Image.fromarray(v).save(tmp_path / "g16.png")  # a 16-bit greyscale PNG
    x = data.load_image(tmp_path / "g16.png")
    expected = np.rint(v.astype(float) * 255 / 65535)
    assert np.array_equal(data.to_uint8(x)[..., 1], expected.astype(np.uint8))
    assert _is_8bit(x)


def test_load_alpha_over_white(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[0, 0, 3] = 255  # opaque red-ish
    rgba[0, 1, 3] = 0  # fully transparent -> white
    rgba[1, :, 3] = 128  # half
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = data.to_uint8(data.load_image(tmp_path / "a.png"))
    assert tuple(out[0, 0]) == (200, 0, 0)
    assert tuple(out[0, 1]) == (255, 255, 255)
    assert abs(int(out[1, 0, 0]) - round(200 * 128 / 255 + 255 * 127 / 255)) <= 1
    assert abs(int(out[1, 0, 1]) - round(255 * 127 / 255)) <= 1

    la = Image.fromarray(rgba[..., [0, 3]].copy(), "LA")
    la.save(tmp_path / "la.png")
    out = data.to_uint8(data.load_image(tmp_path / "la.png"))
    assert tuple(out[0, 1]) == (255, 255, 255) and tuple(out[0, 0]) == (200, 200, 200)


def test_load_palette_with_transparency(tmp_path):
    p = Image.new("P", (3, 1))
    p.putpalette([10, 20, 30, 40, 50, 60] + [0] * 762)
    p.putdata([0, 1, 0])
    p.info["transparency"] = 1
    p.save(tmp_path / "p.png", transparency=1)
    out = data.to_uint8(data.load_image(tmp_path / "p.png"))
    assert tuple(out[0, 0]) == (10, 20, 30)
    assert tuple(out[0, 1]) == (255, 255, 255)


def test_load_not_an_image_and_missing(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("hello, not a picture")
    with pytest.raises(DataError) as e:
        data.load_image(bad)
    msg = str(e.value)
    assert "notes.png" in msg and "\n" not in msg
    with pytest.raises(DataError, match="not found"):
        data.load_image(tmp_path / "missing.png")


# ----------------------------------------------------------------------------- to_uint8 / save_png


def test_to_uint8_clamps_and_rounds():
    x = torch.tensor([-0.5, 0.0, 0.5, 1.0, 2.0, float("nan")]).view(1, 1, 6).expand(3, 1, 6)
    out = data.to_uint8(x)
    assert out.dtype == np.uint8 and out.shape == (1, 6, 3)
    assert list(out[0, :, 0]) == [0, 0, 128, 255, 255, 0]
    assert data.to_uint8(x.unsqueeze(0)).shape == (1, 6, 3)
    with pytest.raises(ValueError):
        data.to_uint8(torch.zeros(2, 3, 4, 4))


def test_save_png_roundtrip_and_atomic(tmp_path):
    arr = _rgb(9, 11)
    path = data.save_png(arr, tmp_path / "sub" / "out.png")
    assert np.array_equal(np.asarray(Image.open(path)), arr)
    t = torch.from_numpy(arr).permute(2, 0, 1).float() / 255
    data.save_png(t.unsqueeze(0), path)  # overwrite via tensor [1, 3, H, W]
    assert np.array_equal(np.asarray(Image.open(path)), arr)
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.png"]  # no temp files left
    with pytest.raises(ValueError):
        data.save_png(arr.astype(np.float32), tmp_path / "x.png")


# ----------------------------------------------------------------------------- Kodak


def test_kodak_sha_table():
    assert sorted(data.KODAK_SHA256) == [f"kodim{i:02d}.png" for i in range(1, 25)]
    assert all(len(v) == 64 for v in data.KODAK_SHA256.values())


def test_kodak_offline_message(monkeypatch, tmp_path):
    def offline(url, timeout=30.0):
        raise OSError("network is unreachable")

    monkeypatch.setattr(data, "_download", offline)
    monkeypatch.setenv("NEURCOMP_DATA", str(tmp_path))
    with pytest.raises(DataError) as e:
        data.kodak_paths()
    msg = str(e.value)
    assert "\n" not in msg
    assert "NEURCOMP_DATA" in msg and str(tmp_path / "kodak") in msg and "network is unreachable" in msg


def test_kodak_download_checks_sha(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "_download", lambda url, timeout=30.0: b"not the image")
    with pytest.raises(DataError, match="sha256"):
        data.kodak_paths(tmp_path)
    assert not (tmp_path / "kodak" / "kodim01.png").exists()


@pytest.mark.skipif(not HAVE_KODAK, reason="Kodak images not in NEURCOMP_DATA")
def test_kodak_download_writes_verified_files(monkeypatch, tmp_path):
    calls = []

    def fake(url, timeout=30.0):
        calls.append(url)
        return (SHARED / "kodak" / url.rsplit("/", 1)[1]).read_bytes()

    monkeypatch.setattr(data, "_download", fake)
    dest = tmp_path / "kodak"
    dest.mkdir()
    for n in sorted(data.KODAK_SHA256)[:22]:  # pretend only two files are missing
        (dest / n).write_bytes((SHARED / "kodak" / n).read_bytes())
    paths = data.kodak_paths(tmp_path)
    assert [p.name for p in paths][-2:] == ["kodim23.png", "kodim24.png"]
    assert calls == [data.KODAK_URL.format(name=n) for n in ("kodim23.png", "kodim24.png")]
    assert sha256_file(paths[-1]) == data.KODAK_SHA256["kodim24.png"]


@pytest.mark.skipif(not HAVE_KODAK, reason="Kodak images not in NEURCOMP_DATA")
def test_kodak_from_shared(monkeypatch):
    monkeypatch.setenv("NEURCOMP_DATA", str(SHARED))
    monkeypatch.setattr(data, "_download", lambda *a, **k: pytest.fail("must not download"))
    paths = data.kodak_paths(verify=True)
    assert [p.stem for p in paths] == [f"kodim{i:02d}" for i in range(1, 25)]
    x = data.load_image(paths[3])
    assert x.shape == (3, 768, 512) and _is_8bit(x)
    assert data.kodak_paths(SHARED / "kodak") == paths  # the kodak folder itself works too


# ----------------------------------------------------------------------------- folders


def _make_tree(root: Path):
    (root / "a" / "b").mkdir(parents=True)
    Image.fromarray(_rgb(8, 8)).save(root / "z.png")
    Image.fromarray(_rgb(8, 8)).save(root / "a" / "y.JPG")
    Image.fromarray(_rgb(8, 8)).save(root / "a" / "b" / "x.webp")
    (root / "a" / "readme.txt").write_text("no")
    Image.fromarray(_rgb(8, 8)).save(root / "a" / ".hidden.png")


def test_list_images_folder_and_files(tmp_path):
    _make_tree(tmp_path)
    found = data.list_images(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/b/x.webp", "a/y.JPG", "z.png"]
    given = [tmp_path / "z.png", tmp_path / "a" / "b"]
    assert data.list_images(given) == [tmp_path / "z.png", tmp_path / "a" / "b" / "x.webp"]
    assert data.list_images(str(tmp_path / "z.png")) == [tmp_path / "z.png"]
    with pytest.raises(DataError, match="no such"):
        data.list_images(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        data.list_images(tmp_path / "empty")


def test_training_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURCOMP_DATA", str(tmp_path))
    with pytest.raises(DataError, match="NEURCOMP_DATA"):
        data.training_paths()
    _make_tree(tmp_path / "train")
    assert len(data.training_paths()) == 3


# ----------------------------------------------------------------------------- CropDataset


def test_crop_dataset_shapes_and_values(tmp_path):
    Image.fromarray(_rgb(40, 50, 1)).save(tmp_path / "a.png")
    Image.fromarray(_rgb(32, 32, 2)).save(tmp_path / "b.png")
    ds = data.CropDataset(tmp_path, crop=16)
    assert len(ds) == 2
    x = ds[0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and _is_8bit(x)
    assert len(data.CropDataset(tmp_path, crop=16, length=100)) == 100
    b1 = ds.sample_batch(5, torch.Generator().manual_seed(3))
    b2 = ds.sample_batch(5, torch.Generator().manual_seed(3))
    assert b1.shape == (5, 3, 16, 16) and torch.equal(b1, b2)
    with pytest.raises(IndexError):
        ds[2]


def test_crop_dataset_flips_only_horizontally(tmp_path):
    arr = _rgb(12, 12, 5)
    Image.fromarray(arr).save(tmp_path / "a.png")
    ds = data.CropDataset([tmp_path / "a.png"], crop=12)
    full = torch.from_numpy(arr).permute(2, 0, 1).float() / 255
    seen = set()
    torch.manual_seed(0)
    for _ in range(30):
        x = ds[0]
        if torch.equal(x, full):
            seen.add("same")
        elif torch.equal(x, full.flip(-1)):
            seen.add("hflip")
        else:
            pytest.fail("crop is neither the image nor its left-right mirror")
    assert seen == {"same", "hflip"}


def test_crop_dataset_pads_small_images(tmp_path):
    Image.fromarray(_rgb(5, 9, 4)).save(tmp_path / "tiny.png")
    with pytest.warns(UserWarning, match="padded"):
        ds = data.CropDataset(tmp_path, crop=16)
    assert ds.images[0].shape == (3, 16, 16)
    assert ds.sample_batch(2).shape == (2, 3, 16, 16)


def test_crop_dataset_workers_differ(tmp_path):
    Image.fromarray(_rgb(64, 64, 6)).save(tmp_path / "a.png")
    ds = data.CropDataset(tmp_path, crop=8, length=2)
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2)
    a, b = list(loader)
    assert not torch.equal(a, b)


# ----------------------------------------------------------------------------- padding


def test_pad_to_multiple_and_unpad():
    x = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).view(2, 3, 5, 7)
    y, hw = data.pad_to_multiple(x, 4)
    assert y.shape == (2, 3, 8, 8) and hw == (5, 7)
    assert torch.equal(y[..., 7, :7], x[..., 4, :])  # replicate padding at the bottom
    assert torch.equal(data.unpad(y, hw), x)
    z, hw3 = data.pad_to_multiple(x[0], 4, mode="constant")
    assert z.shape == (3, 8, 8) and z[:, 5:, :].abs().sum() == 0
    assert torch.equal(data.unpad(z, hw3), x[0])
    same, _ = data.pad_to_multiple(torch.zeros(1, 3, 16, 32), 16)
    assert same.shape == (1, 3, 16, 32)


def test_held_out_photos_are_never_training_photos(tmp_path):
    """The evaluation photos (data.HELD_OUT: BSDS500's test split, every fifth Wikipedia photo) are left out
    of training_paths and are exactly what training_paths(held_out=True) returns."""
    from PIL import Image

    names = ["bsds500/test/1.png", "bsds500/train/2.png", "bsds500/val/3.png", "wikipedia_photos/005.png",
             "wikipedia_photos/006.png", "other/test/4.png"]
    for name in names:
        (tmp_path / "train" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "train" / name)
    rel = lambda paths: sorted(p.relative_to(tmp_path / "train").as_posix() for p in paths)  # noqa: E731
    assert rel(data.training_paths(tmp_path)) == ["bsds500/train/2.png", "bsds500/val/3.png", "other/test/4.png",
                                                  "wikipedia_photos/006.png"]
    assert rel(data.training_paths(tmp_path, held_out=True)) == ["bsds500/test/1.png", "wikipedia_photos/005.png"]
