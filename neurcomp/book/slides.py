"""Slides for teaching: a short deck per chapter, made from the chapter's own cells.

Part of :mod:`neurcomp.book`. A deck has a title slide, the chapter's learning goals, its key
equations, its key figures with their captions, one question (the chapter's first exercise) and
the summary. What is "key" is marked in the chapter: a markdown cell tagged ``slide`` gives its
numbered display equations, a code cell tagged ``slide`` its figure (the PNG output, with the
caption of its cell metadata); untagged chapters fall back to their first three of each. Nothing is
redrawn, so the slides show exactly the chapter's figures.

Each deck is one HTML file (figures embedded) that loads MathJax from the book's own offline copy
(``../_static/vendor/mathjax``): the book's Sphinx extension ``book/_ext/slides.py`` writes the decks
into ``_build/html/slides/`` after every HTML build and links each chapter page to its deck. Arrow
keys, space and a click move through the slides; printing shows them all, one per page.

Example (a tiny chapter: its title, goals, a tagged equation and its first exercise):
    >>> nb = {"cells": [
    ...     {"cell_type": "markdown", "metadata": {}, "source": ["# 1. Rate\\n\\n**Learning goals.** After this chapter you can\\n\\n- code;\\n- count bits.\\n"]},
    ...     {"cell_type": "markdown", "metadata": {"tags": ["slide"]}, "source": ["$$\\nR = -\\\\log_2 P\\n$$ (eq-r)\\n"]},
    ...     {"cell_type": "markdown", "metadata": {}, "source": [":::{exercise} bits\\n:label: ch1-ex1\\n\\nHow many?\\n:::\\n"]}]}
    >>> [s["kind"] for s in chapter_deck(nb, 1)]
    ['title', 'goals', 'equations', 'question']
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

#: a cell tag that puts the cell's equations (markdown) or figure (code) on the chapter's slides
TAG = "slide"
_EQUATION = re.compile(r"^[ \t]*\$\$[ \t]*\n((?:(?!\$\$).)*?)\n[ \t]*\$\$[ \t]*\(([^)]+)\)", re.M | re.S)
_FALLBACK = 3


def _source(cell: dict) -> str:
    return "".join(cell.get("source", ""))


def _tags(cell: dict) -> list:
    return cell.get("metadata", {}).get("tags", []) or []


def _plain_myst(text: str) -> str:
    """MyST roles as plain text: ``{cite}`a,b``` -> "", ``{ref}`text <label>``` -> text, ``{eq}`label``` -> "(label)"."""
    text = re.sub(r"\s*\{cite(?::[a-z]+)?\}`[^`]*`", "", text)
    text = re.sub(r"\{(?:ref|numref|doc)\}`([^`<]*?)\s*<[^`]*>`", r"\1", text)
    text = re.sub(r"\{(?:ref|numref|doc)\}`([^`]*)`", r"\1", text)
    text = re.sub(r"\{eq\}`([^`]*)`", r"(\1)", text)
    return text


def _inline(text: str) -> str:
    """A line of Markdown as HTML: escaped, with **bold**, *italic*, `code`; $math$ left for MathJax."""
    out = html.escape(_plain_myst(text), quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![\w*])\*([^*\s][^*]*?)\*(?!\w)", r"<em>\1</em>", out)
    return re.sub(r"\$([^$]+)\$", r"\\(\1\\)", out)


def _goals(md: str) -> list[str]:
    m = re.search(r"\*\*Learning goals\.\*\*[^\n]*\n+((?:[-*] .*(?:\n(?![-*] |\n).*)*\n?)+)", md)
    if not m:
        return []
    items = re.split(r"^[-*] ", m.group(1), flags=re.M)
    return [" ".join(i.split()) for i in items if i.strip()]


def _summary(md: str) -> list[str]:
    m = re.search(r"^## Summary\s*\n+((?:[-*] .*(?:\n(?![-*] |\n|#).*)*\n?)+)", md, re.M)
    if not m:
        return []
    return [" ".join(i.split()) for i in re.split(r"^[-*] ", m.group(1), flags=re.M) if i.strip()]


def _question(md_cells: list[str]) -> dict | None:
    for text in md_cells:
        m = re.search(r"^(:{3,})\{exercise\}\s*([^\n]*)\n(.*?)^\1\s*$", text, re.M | re.S)
        if m:
            body = "\n".join(line for line in m.group(3).splitlines() if not line.startswith(":"))
            return {"title": m.group(2).strip(), "text": " ".join(body.split())}
    return None


def _figure(cell: dict) -> dict | None:
    png = next((o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})), None)
    caption = cell.get("metadata", {}).get("mystnb", {}).get("figure", {}).get("caption")
    if png is None or not caption:
        return None
    return {"png": "".join(png).replace("\n", ""), "caption": " ".join(caption.split())}


def chapter_deck(nb: dict, number: int) -> list[dict]:
    """The slides of one chapter notebook: dicts with ``kind`` title / goals / equations / figure /
    question / summary (see the module docstring for what is taken)."""
    cells = nb["cells"]
    # the chapter's equation numbers, as the book shows them: its labelled display equations in order, (6.1), ...
    numbers = {m.group(2).strip(): f"{number}.{k}" for k, m in enumerate(
        (m for c in cells if c["cell_type"] == "markdown" for m in _EQUATION.finditer(_source(c))), 1)}

    def eqs(text: str) -> str:
        return re.sub(r"\{eq\}`([^`]*)`", lambda m: f"({numbers.get(m.group(1), m.group(1))})", text)

    md_cells = [eqs(_source(c)) for c in cells if c["cell_type"] == "markdown"]
    first = md_cells[0] if md_cells else ""
    title = first.split("\n", 1)[0].lstrip("# ").strip()
    slides = [{"kind": "title", "title": title, "number": number}]
    goals = _goals(first)
    if goals:
        slides.append({"kind": "goals", "items": goals})
    tagged = [c for c in cells if TAG in _tags(c)]
    eq_cells = [c for c in tagged if c["cell_type"] == "markdown"] or [c for c in cells if c["cell_type"] == "markdown"]
    equations = [(f"({numbers[m.group(2).strip()]})", m.group(1).strip()) for c in eq_cells
                 for m in _EQUATION.finditer(_source(c))]
    if not any(c["cell_type"] == "markdown" for c in tagged):
        equations = equations[:_FALLBACK]
    for i in range(0, len(equations), _FALLBACK):  # at most three to a slide
        slides.append({"kind": "equations", "items": equations[i:i + _FALLBACK]})
    fig_cells = [c for c in tagged if c["cell_type"] == "code"]
    figures = [f for f in (_figure(c) for c in (fig_cells or [c for c in cells if c["cell_type"] == "code"])) if f]
    if not fig_cells:
        figures = [f for f in figures if "(solution to" not in f["caption"]][:_FALLBACK]
    slides += [{"kind": "figure", **f, "caption": eqs(f["caption"])} for f in figures]
    question = _question(md_cells)
    if question:
        slides.append({"kind": "question", **question})
    summary = _summary("\n\n".join(md_cells))
    if summary:
        slides.append({"kind": "summary", "items": summary})
    return slides


_CSS = """
body { margin: 0; font-family: system-ui, sans-serif; background: #1d1f21; }
.slide { box-sizing: border-box; width: 100vw; min-height: 100vh; padding: 4vh 6vw; background: #fff;
         display: none; flex-direction: column; justify-content: center; font-size: 2.6vmin; line-height: 1.4; }
.slide.current { display: flex; }
.slide h1 { font-size: 5.5vmin; margin: 0 0 2vh; } .slide h2 { font-size: 4vmin; margin: 0 0 2vh; color: #2a6f97; }
.slide li { margin: 0.6vh 0; } .slide .eq { margin: 1.2vh 0; overflow-x: auto; }
.slide .eq .num { float: right; color: #666; }
.slide img { max-width: 100%; max-height: 62vh; object-fit: contain; align-self: center; }
.slide .caption { font-size: 2.1vmin; color: #333; margin-top: 1.5vh; }
.slide .small { color: #666; font-size: 2vmin; }
.nav { position: fixed; bottom: 1vh; right: 2vw; color: #888; font-size: 1.8vmin; }
@media print { body { background: #fff; } .slide { display: flex; page-break-after: always; min-height: auto; }
               .nav { display: none; } }
"""

_JS = """
const slides = Array.from(document.querySelectorAll('.slide'));
let k = Math.max(0, Math.min(slides.length - 1, parseInt((location.hash || '#1').slice(1)) - 1 || 0));
function show(i) {
  k = Math.max(0, Math.min(slides.length - 1, i));
  slides.forEach((s, j) => s.classList.toggle('current', j === k));
  document.querySelector('.nav').textContent = (k + 1) + ' / ' + slides.length + '  (arrow keys)';
  history.replaceState(null, '', '#' + (k + 1));
}
document.addEventListener('keydown', e => {
  if (['ArrowRight', 'PageDown', ' '].includes(e.key)) { show(k + 1); e.preventDefault(); }
  if (['ArrowLeft', 'PageUp'].includes(e.key)) { show(k - 1); e.preventDefault(); }
});
document.addEventListener('click', e => { if (!e.target.closest('a')) show(k + 1); });
show(k);
"""


def deck_html(slides: list[dict], chapter_page: str, mathjax: str = "../_static/vendor/mathjax/tex-mml-chtml.js") -> str:
    """One deck as a self-contained HTML page (figures embedded; MathJax from ``mathjax``, a relative URL)."""
    parts = []
    for s in slides:
        if s["kind"] == "title":
            body = (f"<h1>{_inline(s['title'])}</h1><p class='small'>Slides of chapter {s['number']}, "
                    f"made from its own cells. <a href='{chapter_page}'>Read the chapter</a>.</p>")
        elif s["kind"] in ("goals", "summary"):
            head = "After this chapter you can" if s["kind"] == "goals" else "Summary"
            body = f"<h2>{head}</h2><ul>" + "".join(f"<li>{_inline(i)}</li>" for i in s["items"]) + "</ul>"
        elif s["kind"] == "equations":
            body = "<h2>Key equations</h2>" + "".join(
                f"<div class='eq'><span class='num'>{html.escape(label)}</span>\\[{html.escape(tex, quote=False)}\\]</div>"
                for label, tex in s["items"])
        elif s["kind"] == "figure":
            body = (f"<img src='data:image/png;base64,{s['png']}' alt='{html.escape(_plain_myst(s['caption'])[:120])}'>"
                    f"<div class='caption'>{_inline(s['caption'])}</div>")
        else:  # question
            body = f"<h2>A question: {_inline(s['title'])}</h2><p>{_inline(s['text'])}</p>"
        parts.append(f"<section class='slide'>{body}</section>")
    title = html.escape(re.sub(r"[*`$]", "", slides[0]["title"])) if slides else "slides"
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{title} (slides)</title>"
            f"<style>{_CSS}</style><script>window.MathJax = {{tex: {{inlineMath: [['\\\\(', '\\\\)']]}}}};</script>"
            f"<script defer src='{mathjax}'></script></head><body>{''.join(parts)}<div class='nav'></div>"
            f"<script>{_JS}</script></body></html>")


def write_decks(chapter_paths, out_dir: Path) -> list[Path]:
    """Write ``out_dir/<chapter>.html`` for every chapter notebook (``NN_name.ipynb``); returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in chapter_paths:
        path = Path(path)
        m = re.match(r"(\d+)_", path.name)
        if not m:
            continue
        deck = chapter_deck(json.loads(path.read_text()), int(m.group(1)))
        target = out_dir / f"{path.stem}.html"
        target.write_text(deck_html(deck, f"../book/{path.stem}.html"))
        written.append(target)
    return written


__all__ = ["TAG", "chapter_deck", "deck_html", "write_decks"]
