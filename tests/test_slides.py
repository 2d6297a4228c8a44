"""Slide decks made from the chapters' own cells (neurcomp.book.slides); the browser test opens them."""
import json
import re

import pytest

from conftest import ROOT
from neurcomp.book import build, slides

CHAPTERS = [p for p in build.chapters() if re.match(r"\d+_", p.name)]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_has_a_deck_of_its_own_goals_equations_figures_and_a_question(path):
    nb = json.loads(path.read_text())
    n = int(path.name[:2])
    deck = slides.chapter_deck(nb, n)
    kinds = [s["kind"] for s in deck]
    assert kinds[0] == "title" and deck[0]["title"].startswith(f"{n}. ")
    assert {"goals", "figure", "question", "summary"} <= set(kinds), kinds
    # the figures are the chapter's own PNG outputs of cells tagged for the slides, with their captions
    tagged = [c for c in nb["cells"] if c["cell_type"] == "code" and slides.TAG in c["metadata"].get("tags", [])]
    figures = [s for s in deck if s["kind"] == "figure"]
    assert len(figures) == len(tagged) >= 2
    for fig, cell in zip(figures, tagged):
        png = next("".join(o["data"]["image/png"]).replace("\n", "") for o in cell["outputs"] if "image/png" in o.get("data", {}))
        assert fig["png"] == png and fig["caption"].startswith(f"**Figure {n}.")
    # equations carry the chapter's numbers, as the book shows them
    for s in deck:
        for label, tex in s.get("items", []) if s["kind"] == "equations" else []:
            assert re.fullmatch(rf"\({n}\.\d+\)", label) and tex
    page = slides.deck_html(deck, f"../book/{path.stem}.html")
    assert page.count("class='slide'") == len(deck) and "{cite}" not in page and "{eq}" not in page
    assert "../_static/vendor/mathjax/tex-mml-chtml.js" in page and "http" not in page.replace("https://", "")


def test_equation_numbers_follow_the_labels_in_order():
    nb = {"cells": [{"cell_type": "markdown", "metadata": {"tags": ["slide"]},
                     "source": "# 3. T\n\n$$\na\n$$ (eq-a)\n\n$$\nb\n$$ (eq-b)\n\nSee {eq}`eq-b`.\n"}]}
    deck = slides.chapter_deck(nb, 3)
    assert deck[1]["items"] == [("(3.1)", "a"), ("(3.2)", "b")]


def test_decks_are_written_for_every_chapter(tmp_path):
    written = slides.write_decks(CHAPTERS, tmp_path)
    assert [p.name for p in written] == [f"{p.stem}.html" for p in CHAPTERS]
    assert all(p.stat().st_size > 10_000 for p in written)
    assert (ROOT / "book" / "_ext" / "slides.py").is_file()
