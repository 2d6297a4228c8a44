"""Sphinx extension: every chapter's PDF, cut from the whole-book PDF, in the page's download menu.

``make pdf`` leaves one PDF per chapter in ``_build/pdf/chapters/`` (:func:`neurcomp.book.build.split_chapters`:
the book's title and licence pages, then the chapter's pages with the book's numbers). An HTML build copies
those into ``pdf/`` of its output and adds a "chapter PDF" entry to the chapter page's download menu, next
to the theme's .ipynb and print-to-.pdf entries and the slides. The folder is the config value
``nc_chapter_pdfs`` (relative to the book's root, or absolute; the student edition reads its own folder,
whose PDFs have no solutions). A chapter whose PDF is missing or older than its notebook gets no entry, so
a book built without TeX, or after the chapters changed, never offers a missing or stale PDF.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from sphinx.util import logging

_CHAPTER = re.compile(r"(?:^|/)(\d+_[^/]+)$")


def current_pdfs(folder: Path, notebooks) -> dict[str, Path]:
    """``{chapter file stem: its PDF}`` for the PDFs in ``folder`` at least as new as their notebook (of
    ``notebooks``, the chapters' ``.ipynb`` paths)."""
    out = {}
    for nb in notebooks:
        pdf = Path(folder) / f"{Path(nb).stem}.pdf"
        if pdf.is_file() and pdf.stat().st_mtime >= Path(nb).stat().st_mtime:
            out[Path(nb).stem] = pdf
    return out


def _pdfs(app) -> dict[str, Path]:
    if not hasattr(app, "_nc_chapter_pdfs"):
        folder = Path(app.config.nc_chapter_pdfs) if app.config.nc_chapter_pdfs else None
        if folder is not None and not folder.is_absolute():
            folder = Path(app.srcdir) / folder
        from neurcomp.book.build import chapters

        app._nc_chapter_pdfs = current_pdfs(folder, chapters(Path(app.srcdir))) if folder else {}
    return app._nc_chapter_pdfs


def _menu(app, pagename, templatename, context, doctree) -> None:
    """(html-page-context, after the theme's buttons) "chapter PDF" in a chapter page's download menu."""
    m = _CHAPTER.search(pagename)
    group = next((b for b in context.get("header_buttons", []) if b.get("label") == "download-buttons"), None)
    if not m or group is None or m.group(1) not in _pdfs(app):
        return
    group["buttons"].append({"type": "link", "url": "../" * pagename.count("/") + f"pdf/{m.group(1)}.pdf",
                             "text": "chapter PDF", "tooltip": "This chapter as a PDF (from the whole-book PDF)",
                             "icon": "fas fa-file-pdf", "label": "download-chapter-pdf-button"})


def _copy(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    pdfs = _pdfs(app)
    if pdfs:
        (Path(app.outdir) / "pdf").mkdir(exist_ok=True)
    for stem, pdf in pdfs.items():
        shutil.copyfile(pdf, Path(app.outdir) / "pdf" / f"{stem}.pdf")
    logging.getLogger(__name__).info(f"chapter PDFs: {len(pdfs)} offered in the download menus")


def setup(app):
    app.add_config_value("nc_chapter_pdfs", "", "html")
    app.connect("html-page-context", _menu, priority=600)
    app.connect("build-finished", _copy)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
