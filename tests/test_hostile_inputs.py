"""Inputs crafted as an attacker would: archive entry names that point outside the output folder, two
inputs with one name, file names in another encoding, streams and archives that ask for hours of
decoding, endless inputs (``/dev/zero``), and outputs that are inputs or folders.

Each case must give one line on stderr and the right exit code (2 for a usage error, 1 for a bad
input), write nothing outside its target, and leave no partial file behind.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from conftest import picture
from neurcomp.bitsback import _pack, compress_archive, read_header
from neurcomp.cli import main
from neurcomp.codec import compress_image
from neurcomp.container import pack, unpack
from neurcomp.data import save_png, to_uint8
from neurcomp.models.bitsback import BitsBackHyperprior
from neurcomp.zoo import load_pretrained


def run(argv, capsys) -> tuple[int, str]:
    """``neurcomp ARGV`` in this process: exit code and its one line on stderr (an error: ``neurcomp: ...``)."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and "%|" not in line]  # tqdm bars are not lines
    assert len(lines) == 1 and "Traceback" not in err, err
    assert code == 0 or lines[0].startswith("neurcomp: error: "), err
    return code, lines[0]


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def image_file(path: Path, h=64, w=64, seed=0) -> Path:
    save_png(to_uint8(picture(h, w, seed)[0]), path)
    return path


@pytest.fixture
def archive(bitsback_zoo):
    """A real two-image archive (bitsback_no_iter: fast) and its header."""
    data, _ = compress_archive([("a", picture(64, 64, 1)[0]), ("b", picture(64, 48, 2)[0])], "tbb@0.05",
                               method="bitsback_no_iter")
    return data, read_header(data)


def repack(head: dict, entries=None, bbvi_steps=None) -> bytes:
    """The archive of ``head`` with other entries (name, height, width) or BBVI steps (CRC recomputed)."""
    return _pack(head["method"], head["model"], head["weights"], head["bbvi_steps"] if bbvi_steps is None else bbvi_steps,
                 head["seed"], head["pad"], head["images"] if entries is None else entries, head["stack"])


# ----------------------------------------------------------------------------- archive entry names

@pytest.mark.parametrize("name", ["../x", "/tmp/neurcomp-escape", "deep/er/x", "", ".", "..", "a\0b", "back\\slash",
                                  "new\nline"])
def test_archive_entry_names_that_leave_the_folder_are_refused_before_writing(archive, tmp_path, capsys, name):
    data, head = archive
    (tmp_path / "work").mkdir()
    src = tmp_path / "work" / "evil.nca"
    src.write_bytes(repack(head, [(name, 64, 64), *head["images"][1:]]))
    before = files(tmp_path)
    code, line = run(["decompress", src, tmp_path / "work" / "out"], capsys)
    assert code == 1 and "not a plain file name" in line
    assert files(tmp_path) == before  # nothing written: not the folder, not a file beside or above it
    assert not Path("/tmp/neurcomp-escape.png").exists()


def test_archive_with_two_entries_of_one_name_is_refused(archive, tmp_path, capsys):
    data, head = archive
    src = tmp_path / "dup.nca"
    src.write_bytes(repack(head, [("x", 64, 64), ("X", 64, 48)]))  # also up to case
    code, line = run(["decompress", src, tmp_path / "out"], capsys)
    assert code == 1 and "two images are named" in line and not (tmp_path / "out").exists()


def test_two_inputs_with_one_base_name_are_refused_before_coding(bitsback_zoo, tmp_path, capsys):
    for sub in ("sub1", "sub2"):
        (tmp_path / sub).mkdir()
        image_file(tmp_path / sub / "x.png")
    out = tmp_path / "album.nca"
    for inputs in ([tmp_path / "sub1" / "x.png", tmp_path / "sub2" / "x.png"],
                   [tmp_path / "sub1" / "x.png", tmp_path / "sub1" / "x.png"]):  # or one file given twice
        code, line = run(["compress", *inputs, out, "--model", "tbb@0.05", "--method", "bitsback_no_iter"], capsys)
        assert code == 2 and "two images are named 'x'" in line and not out.exists()


def test_a_file_name_that_is_not_utf8_is_one_line(bitsback_zoo, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    image_file(Path(os.fsdecode(bytes(folder) + b"/caf\xe9.png")))  # Latin-1 on a UTF-8 system
    image_file(folder / "b.png")
    code, line = run(["compress", folder, tmp_path / "a.nca", "--model", "tbb@0.05", "--method", "bitsback_no_iter"],
                     capsys)
    assert code == 2 and "not valid UTF-8" in line and not (tmp_path / "a.nca").exists()


def test_a_valid_archive_still_decodes_into_its_folder(archive, tmp_path, capsys):
    src = tmp_path / "ok.nca"
    src.write_bytes(archive[0])
    code, line = run(["decompress", src, tmp_path / "out"], capsys)
    assert code == 0 and files(tmp_path / "out") == {"a.png", "b.png"}


# ----------------------------------------------------------------------------- bounded decoding work

def _bitsback_stream(h=64, w=64, steps=3) -> bytes:
    return compress_image(picture(h, w)[0], "tbb@0.05", method="bitsback", steps=steps)[0]


@pytest.mark.parametrize("size", [(1024, 1024), (8192, 8192)])
def test_a_stream_asking_for_hours_of_bbvi_is_refused_from_its_header(bitsback_zoo, tmp_path, capsys, size):
    s = unpack(_bitsback_stream())
    s.height, s.width = size
    stride = load_pretrained("tbb@0.05")[0].stride
    s.latent_shape = (size[0] // stride, size[1] // stride)  # consistent with the size: only the work is wrong
    s.extra = BitsBackHyperprior.pack_extra(2000, 0, 0)
    (tmp_path / "forged.ncz").write_bytes(pack(s))
    t0 = time.perf_counter()
    code, line = run(["decompress", tmp_path / "forged.ncz", tmp_path / "out.png"], capsys)
    assert code == 1 and "pixel-iterations" in line and "NEURCOMP_MAX_DECODE_WORK" in line
    assert time.perf_counter() - t0 < 30 and not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("entries, message", [
    # each entry alone within a stream's bound (a Kodak-sized 512 x 768 at 2000 steps), 40 together not
    ([(f"e{k}", 512, 768) for k in range(40)], "archive asks for 3.7e+10 pixel-iterations of decoding (40 images)"),
    # one entry above a stream's bound
    ([("a", 1024, 1024), ("b", 64, 48)], "an image of the archive asks for 2.2e+09 pixel-iterations of decoding "
                                         "(1024x1024 at 2000 steps)"),
], ids=["together", "one image"])
def test_an_archive_asking_for_too_much_work_is_refused(archive, tmp_path, capsys, entries, message):
    data, head = archive
    (tmp_path / "heavy.nca").write_bytes(repack(head, entries, bbvi_steps=2000))
    t0 = time.perf_counter()
    code, line = run(["decompress", tmp_path / "heavy.nca", tmp_path / "out"], capsys)
    assert code == 1 and message in line
    assert time.perf_counter() - t0 < 30 and not (tmp_path / "out").exists()


def test_the_encoder_refuses_a_stream_its_decoder_would_refuse(bitsback_zoo, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEURCOMP_MAX_DECODE_WORK", str((64 * 64 + 65536) * 100))  # 100 steps of a 64 x 64 image
    src = image_file(tmp_path / "in.png")
    code, line = run(["compress", src, tmp_path / "s.ncz", "--model", "tbb@0.05", "--method", "bitsback", "--steps",
                      "500"], capsys)
    assert code == 2 and "fewer --steps" in line and not (tmp_path / "s.ncz").exists()
    code, _ = run(["compress", src, tmp_path / "s.ncz", "--model", "tbb@0.05", "--method", "bitsback", "--steps",
                   "50"], capsys)  # within the bound
    assert code == 0 and (tmp_path / "s.ncz").exists()


# ----------------------------------------------------------------------------- endless inputs

@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
@pytest.mark.parametrize("command", ["decompress", "info", "side-info"])
def test_endless_inputs_are_refused_after_a_bounded_read(bitsback_zoo, tmp_path, capsys, command):
    argv = {"decompress": ["decompress", "/dev/zero", tmp_path / "out.png"],
            "info": ["info", "/dev/zero"],
            "side-info": ["compress", image_file(tmp_path / "in.png"), tmp_path / "s.ncz", "--model", "tbb@0.05",
                          "--method", "bitsback_no_iter", "--side-info", "/dev/zero"]}[command]
    before = files(tmp_path)
    code, line = run(argv, capsys)
    assert code == 1 and "is larger than a" in line and files(tmp_path) == before


# ----------------------------------------------------------------------------- outputs

def test_outputs_that_are_inputs_or_folders_are_refused_before_any_write(bitsback_zoo, tmp_path, capsys):
    src = image_file(tmp_path / "in.png")
    stream = tmp_path / "s.ncz"
    assert run(["compress", src, stream, "--model", "tbb@0.05", "--method", "bitsback_no_iter"], capsys)[0] == 0
    (tmp_path / "dir").mkdir()
    cases = {
        "side info into a folder": ["decompress", stream, tmp_path / "out.png", "--side-info-out", tmp_path / "dir"],
        "side info over the stream": ["decompress", stream, tmp_path / "out.png", "--side-info-out", stream],
        "side info over the image": ["decompress", stream, tmp_path / "out.png", "--side-info-out", tmp_path / "out.png"],
        "image over the stream": ["decompress", stream, stream],
        "stream over the image": ["compress", src, src, "--model", "tbb@0.05"],
        "archive over an input": ["compress", src, image_file(tmp_path / "b.png"), tmp_path / "b.png", "--model",
                                  "tbb@0.05", "--method", "bitsback_no_iter"],
        "archive over its side information": ["compress", src, tmp_path / "b.png", tmp_path / "side.bin", "--model",
                                              "tbb@0.05", "--method", "bitsback_no_iter", "--side-info",
                                              tmp_path / "side.bin"],
    }
    (tmp_path / "side.bin").write_bytes(b"x" * 4000)
    snapshot = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for what, argv in cases.items():
        code, line = run(argv, capsys)
        assert code == 2 and ("is also an input" in line or "is a folder" in line or "given twice" in line), (what, line)
        assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == snapshot, what  # untouched
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_failed_side_information_write_leaves_no_image(bitsback_zoo, tmp_path, capsys, monkeypatch):
    src = image_file(tmp_path / "in.png")
    stream = tmp_path / "s.ncz"
    assert run(["compress", src, stream, "--model", "tbb@0.05", "--method", "bitsback_no_iter"], capsys)[0] == 0
    import neurcomp.codec as codec

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device", str(args[1]) if len(args) > 1 else "png")

    monkeypatch.setattr(codec, "save_png", full_disk)  # the side information is written, then the image fails
    code, line = run(["decompress", stream, tmp_path / "out.png", "--side-info-out", tmp_path / "side.bin"], capsys)
    assert code == 1 and "No space left" in line
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "side.bin").exists()
    assert not list(tmp_path.rglob("*.tmp"))
