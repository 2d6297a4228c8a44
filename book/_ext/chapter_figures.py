"""Sphinx extension: figures, exercises and equations are numbered by chapter ("Figure 6.1", "Exercise 6.1",
"(6.1)").

The captions in the chapters' cell metadata start with the chapter's own number, which the text
also uses. Jupyter Book 1 switches Sphinx's ``numfig`` on whatever ``_config.yml`` says (and so does
sphinx-exercise), and Sphinx would then put a second, book-wide number in front of every caption
("Fig. 33 Figure 6.1 — ..."). With ``numfig`` off, Sphinx numbers nothing, so the exercises
(sphinx-exercise's ``{exercise}``) are numbered here instead: the k-th exercise of a chapter file
``book/06_*`` is "Exercise 6.k", in its title, in its solution's title ("Solution to Exercise 6.k")
and wherever sphinx-exercise asks for its number. References to an exercise give their own text,
``{ref}`exercise 4 <ch1-ex4>```, since ``{numref}`` needs ``numfig``.

Display equations are numbered per page by Sphinx, (1), (2), ...; in a chapter they become (6.1), (6.2),
... where they are shown and wherever ``{eq}`` refers to them, so that the three kinds of numbers agree.

In the PDF (Sphinx's LaTeX builder), LaTeX numbers the equations: each chapter's file starts with
``\\ncchapter{6}`` (a macro of the preamble in ``_config.yml``), so they are (6.1), (6.2), ... there too.

The pages also load ``_static/neurcomp.css`` (from ``book/_ext/_static``): wide tables scroll instead of
being clipped, long printed lines wrap, and figures are shown at their natural size up to the column.
"""
from __future__ import annotations

import re

from docutils import nodes

EXERCISE = "exercise"  # sphinx-exercise's enumerable node type


def _no_numfig(app, config) -> None:
    config.numfig = False


def _chapter(docname: str) -> tuple[int, ...]:
    m = re.match(r"(\d+)_", docname.rsplit("/", 1)[-1])
    return (int(m.group(1)),) if m else ()


def _number_exercises(app, env) -> list[str]:
    """After Sphinx's own (empty, numfig off) figure numbering: number each chapter's exercises."""
    domain = env.get_domain("std")
    old = getattr(env, "chapter_exercise_numbers", {})
    new: dict[str, dict[str, tuple[int, ...]]] = {}
    for docname in sorted(env.found_docs):
        try:
            doctree = env.get_doctree(docname)
        except FileNotFoundError:
            continue
        k = 0
        for node in doctree.findall(nodes.Element):
            if domain.get_enumerable_node_type(node) == EXERCISE and node["ids"]:
                k += 1
                new.setdefault(docname, {})[node["ids"][0]] = (*_chapter(docname), k)
    for docname, numbers in new.items():
        env.toc_fignumbers.setdefault(docname, {})[EXERCISE] = numbers
    env.chapter_exercise_numbers = new
    return [d for d in new.keys() | old.keys() if new.get(d) != old.get(d)]


def _chapter_equations(app, env) -> list[str]:
    """(env-get-updated) Sphinx's number of an equation, an int per page, becomes "6.2" in chapter 6 (for
    ``{eq}`` references; an equation of a page read again this build is an int again)."""
    domain = env.get_domain("math")
    for label, (docname, number) in list(domain.equations.items()):
        ch = _chapter(docname)
        if ch and isinstance(number, int):
            domain.equations[label] = (docname, f"{ch[0]}.{number}")
    return []


def _show_chapter_equations(app, doctree, docname) -> None:
    """(doctree-resolved) A chapter's display equations are shown as (6.1), (6.2), ..."""
    ch = _chapter(docname)
    if not ch:
        return
    for node in doctree.findall(nodes.math_block):
        if isinstance(node.get("number"), int):
            node["number"] = f"{ch[0]}.{node['number']}"


def _latex_chapters(app, doctree, docname) -> None:
    """(doctree-resolved, LaTeX) The assembled book: each chapter's file starts with ``\\ncchapter{N}``."""
    if app.builder.format != "latex":
        return
    from sphinx import addnodes

    for node in doctree.findall(addnodes.start_of_file):
        ch = _chapter(node["docname"])
        if ch:
            node.insert(0, nodes.raw("", f"\\ncchapter{{{ch[0]}}}\n", format="latex"))


def setup(app):
    app.connect("config-inited", _no_numfig, priority=900)
    app.add_css_file("neurcomp.css")
    # after the toctree collector, which resets env.toc_fignumbers (priority 500)
    app.connect("env-get-updated", _number_exercises, priority=900)
    app.connect("env-get-updated", _chapter_equations, priority=900)
    app.connect("doctree-resolved", _show_chapter_equations)
    app.connect("doctree-resolved", _latex_chapters)
    return {"version": "2", "parallel_read_safe": True, "parallel_write_safe": True}
