"""Sphinx extension: a figure's number is the one its caption gives ("Figure 6.1", chapter 6).

The captions in the chapters' cell metadata start with the chapter's own number, which the text
also uses. Jupyter Book 1 switches Sphinx's ``numfig`` on whatever ``_config.yml`` says, and Sphinx
would then put a second, book-wide number in front of every caption ("Fig. 33 Figure 6.1 — ...").
"""
from __future__ import annotations


def _no_numfig(app, config) -> None:
    config.numfig = False


def setup(app):
    app.connect("config-inited", _no_numfig, priority=900)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
