"""The README's bits-back examples with side information, run as written.

The shell lines (``neurcomp compress ... --side-info caption.txt``, ``neurcomp decompress ...
--side-info-out caption_back.txt``) and the Python block that passes ``side_info=`` are read out of
README.md, not copied, and run in a temporary folder against the tiny bits-back model of
tests/conftest.py (``bitsback_zoo``). Substituted, and nothing else: the bits-back model's name
(``bitsback@0.0067``, the shell example's default, becomes ``tbb@0.01``) and the input image
(``kodim01.png`` is a 128 x 128 synthetic picture of that name in the temporary folder; the tiny model
takes about 200 bits from it, more than the captions carry, so the examples exercise the top-up).
"""
from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, picture

README = ROOT / "README.md"
SHIPPED, TINY = "bitsback@0.0067", "tbb@0.01"
CAPTION = b"a red barn\n"  # what caption.txt holds (the README does not say): 11 bytes


def blocks(language: str) -> list[str]:
    """The README's fenced code blocks in ``language``."""
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def side_info_shell_lines() -> list[str]:
    """The ``neurcomp`` lines of the README's shell blocks that give or take side information, comments cut."""
    lines = [line.split("#")[0].strip() for block in blocks("bash") for line in block.splitlines()]
    return [line for line in lines if line.startswith("neurcomp ") and "--side-info" in line]


def side_info_python_blocks() -> list[str]:
    return [block for block in blocks("python") if "side_info" in block]


@pytest.fixture
def workdir(bitsback_zoo, tmp_path, monkeypatch):
    from neurcomp.data import save_png, to_uint8

    monkeypatch.chdir(tmp_path)
    save_png(to_uint8(picture(128, 128)[0]), tmp_path / "kodim01.png")  # the substituted input image
    return tmp_path


def test_the_readme_has_the_examples():
    shell = side_info_shell_lines()
    assert [line.split()[1] for line in shell] == ["compress", "decompress"], shell
    assert "--side-info-out" in shell[1] and side_info_python_blocks()


@pytest.mark.slow  # the shell example's --method bitsback runs its default 2000 steps (about 30 s on a busy core)
def test_shell_example_gives_the_caption_back(workdir, monkeypatch, capsys):
    from neurcomp import cli

    monkeypatch.setattr(cli, "DEFAULT_BITSBACK_MODEL", TINY)  # the model it names by default (no --model)
    compress, decompress = side_info_shell_lines()
    caption_in = shlex.split(compress)[shlex.split(compress).index("--side-info") + 1]
    caption_out = shlex.split(decompress)[shlex.split(decompress).index("--side-info-out") + 1]
    Path(caption_in).write_bytes(CAPTION)
    for line in (compress, decompress):
        argv = shlex.split(line.replace(SHIPPED, TINY))[1:]
        assert cli.main(argv) == 0, (line, capsys.readouterr().err)
    err = capsys.readouterr().err
    assert "topped up with" in err  # the caption is shorter than what the image takes
    assert Path(caption_out).read_bytes() == CAPTION


def test_python_example_gives_the_caption_back(workdir):
    for block in side_info_python_blocks():
        assert SHIPPED in block
        namespace: dict = {}
        exec(compile(block.replace(SHIPPED, TINY), str(README), "exec"), namespace)  # noqa: S102
        # what the block's comments promise, checked: side == b"..." and the net rate is there
        promised = re.findall(r'#.*?side == (b"[^"]*")', block)
        assert promised, "the example says which side information comes back"
        for literal in promised:
            assert namespace["side"] == eval(literal)  # noqa: S307
        assert np.array_equal(namespace["image"], namespace["info"]["x_hat"])
        extra = namespace["info"]["extra_info"]
        assert extra["initial_bits"] > 0 and extra["side_info_bits"] == 8 * len(namespace["side"])
        assert "net_bpp" in extra and os.path.exists("kodim01.png")
