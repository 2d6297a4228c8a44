"""Every number the chapters' prose states with a unit comes from a cell or from a cited paper.

A chapter's Markdown may state a number with a unit (bpp, dB, %, bits, bytes, seconds, minutes, hours,
"x" for ratios) only when it is glued from a cell (MyST-NB ``{glue}``), printed by one of that chapter's
cells (its committed outputs), set by one of its cells (a tolerance or a setting in the code), or stated in
a sentence that cites its source (``{cite}``). So a number
that an output no longer prints (a re-shipped network, a re-run benchmark) fails here instead of
staying in the prose. Inline code, maths, links and figure / table labels are not prose numbers.
"""
import json
import re
from pathlib import Path

import pytest

from conftest import ROOT

CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
UNITS = r"(?:bpp|dB|%|bits?|bytes?|B|KiB|MiB|GiB|s|ms|min|minutes?|hours?|h|x|×)"
NUMBER = re.compile(r"(?<![\w.,/^_{-])([-+−]?\d+(?:,\d{3})*(?:\.\d+)?)\s?" + UNITS + r"(?![\w])")
NOT_PROSE = [re.compile(p, re.S) for p in (
    r"```.*?```",  # fenced blocks (directive options, code)
    r"`[^`\n]*`",  # inline code (commands, file names)
    r"\$\$.*?\$\$", r"\$[^$\n]+\$",  # maths
    r"\]\([^)]*\)",  # link targets
    r"\{(?:numref|ref|eq|doc|download)\}`[^`]*`",
)]


def _outputs(nb) -> str:
    """What the chapter's cells print, and their code (where tolerances and settings are set)."""
    text = []
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            text.append("".join(c["source"]))
        for o in c.get("outputs", []):
            text.append("".join(o.get("text", "")))
            for kind in ("text/plain", "text/markdown", "text/html"):
                text.append("".join(o.get("data", {}).get(kind, "")))
    return "\n".join(text).replace("−", "-")


def _sentences(markdown: str):
    for block in re.split(r"\n\s*\n", markdown):
        yield from re.split(r"(?<=[.;:!?])\s+(?=[A-Z(*])", block)


def unbacked_numbers(path: Path) -> list[str]:
    """The prose numbers of one chapter that no cell prints, no glue gives and no citation backs."""
    nb = json.loads(path.read_text())
    outputs = _outputs(nb)
    found = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        for pattern in NOT_PROSE:
            text = pattern.sub(" ", text)
        for sentence in _sentences(text):
            if "{cite" in sentence or "{glue" in sentence:
                continue
            for m in NUMBER.finditer(sentence):
                number = m.group(1).replace("−", "-").lstrip("+")
                if not re.search(r"(?<![\d.])" + re.escape(number.lstrip("-")) + r"(?![\d])", outputs):
                    found.append(f"{m.group(0)!r} in: {sentence.strip()[:160]}")
    return found


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_number_in_the_prose_comes_from_a_cell_or_a_citation(path):
    bad = unbacked_numbers(path)
    assert not bad, f"{path.name}: numbers in the prose that no cell prints and no citation backs:\n" + "\n".join(bad)


def test_the_check_catches_a_stale_number(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "source": ["The hyperprior saves 12.5 % over JPEG; `0.5 bpp` is code.\n\n",
                                                         "SGA gains 1.2 dB {cite}`yang2020improving`."]},
                    {"cell_type": "code", "source": [], "outputs": [{"output_type": "stream", "text": ["saves 12.4 %"]}]}]}
    path = tmp_path / "01_x.ipynb"
    path.write_text(json.dumps(nb))
    assert [b.split(" in:")[0] for b in unbacked_numbers(path)] == ["'12.5 %'"]
