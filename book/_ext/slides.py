"""Sphinx extension: a slide deck per chapter, served with the book and linked from the chapter's page.

After an HTML build, :func:`neurcomp.book.slides.write_decks` writes ``slides/<chapter>.html`` into the
output folder from the chapters being built (so a student build gets decks from its own copies);
the decks load MathJax from the book's offline copy (``_static/vendor``, see ``offline_assets.py``).
Every chapter page gets a line under its title that links to its deck, and its download menu (the theme's
.ipynb and print-to-.pdf) a "slides" entry. Other builders (the PDF) get none of this.
"""
from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging

_CHAPTER = re.compile(r"(?:^|/)(\d+_[^/]+)$")


def _link(app, doctree) -> None:
    """(doctree-read) A chapter page: "Slides of this chapter" under its title (HTML only)."""
    m = _CHAPTER.search(app.env.docname)
    if not m:
        return
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        return
    href = "../" * app.env.docname.count("/") + f"slides/{m.group(1)}.html"
    raw = nodes.raw("", f'<p class="nc-slides"><a href="{href}">Slides of this chapter</a> '
                        "(goals, key equations and figures, a question; arrow keys to move)</p>", format="html")
    title = next(iter(section.findall(nodes.title)), None)
    section.insert(section.index(title) + 1 if title is not None else 0, raw)


def _menu(app, pagename, templatename, context, doctree) -> None:
    """(html-page-context, after the theme's buttons) The page's download menu offers the chapter's slides
    next to the theme's .ipynb and .pdf (print) entries."""
    m = _CHAPTER.search(pagename)
    group = next((b for b in context.get("header_buttons", []) if b.get("label") == "download-buttons"), None)
    if not m or group is None:
        return
    group["buttons"].append({"type": "link", "url": "../" * pagename.count("/") + f"slides/{m.group(1)}.html",
                             "text": "slides", "tooltip": "Slides of this chapter", "icon": "fas fa-chalkboard",
                             "label": "download-slides-button"})


def _write(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    from neurcomp.book.build import chapters
    from neurcomp.book.slides import write_decks

    written = write_decks(chapters(Path(app.srcdir)), Path(app.outdir) / "slides")
    logging.getLogger(__name__).info(f"slides: {len(written)} decks in {Path(app.outdir) / 'slides'}")


def setup(app):
    app.connect("doctree-read", _link)
    app.connect("html-page-context", _menu, priority=600)
    app.connect("build-finished", _write)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
