"""Sphinx extension: figures and exercises are numbered by chapter ("Figure 6.1", "Exercise 6.1").

The captions in the chapters' cell metadata start with the chapter's own number, which the text
also uses. Jupyter Book 1 switches Sphinx's ``numfig`` on whatever ``_config.yml`` says (and so does
sphinx-exercise), and Sphinx would then put a second, book-wide number in front of every caption
("Fig. 33 Figure 6.1 — ..."). With ``numfig`` off, Sphinx numbers nothing, so the exercises
(sphinx-exercise's ``{exercise}``) are numbered here instead: the k-th exercise of a chapter file
``book/06_*`` is "Exercise 6.k", in its title, in its solution's title ("Solution to Exercise 6.k")
and wherever sphinx-exercise asks for its number. References to an exercise give their own text,
``{ref}`exercise 4 <ch1-ex4>```, since ``{numref}`` needs ``numfig``.
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


def setup(app):
    app.connect("config-inited", _no_numfig, priority=900)
    # after the toctree collector, which resets env.toc_fignumbers (priority 500)
    app.connect("env-get-updated", _number_exercises, priority=900)
    return {"version": "2", "parallel_read_safe": True, "parallel_write_safe": True}
