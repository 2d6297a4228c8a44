"""Sphinx extension: the bibliography is labelled author-year, like the citations in the text.

sphinxcontrib-bibtex cites "Yang et al., 2020" in the text (``bibtex_reference_style: author_year``)
but labels the bibliography with the formatting style's numbers ([1], [2], ...). This registers a
pybtex style, ``authoryear``: pybtex's ``plain`` (entries sorted by author, year, title) with
labels "Yang et al. 2020", "Ballé & Simoncelli 2016", and a, b, ... where two labels would be equal.
"""
from __future__ import annotations

from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _last(person) -> str:
    return Text.from_latex(" ".join(person.prelast_names + person.last_names)).render_as("text")


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        labels = []
        for entry in sorted_entries:
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            names = [_last(p) for p in people]
            if not names:
                who = Text.from_latex(entry.fields.get("organization", entry.fields.get("title", entry.key))).render_as("text")
            elif len(names) == 1:
                who = names[0]
            elif len(names) == 2:
                who = f"{names[0]} & {names[1]}"
            else:
                who = f"{names[0]} et al."
            labels.append(f"{who} {entry.fields.get('year', '')}".strip())
        counts, seen = Counter(labels), Counter()
        for label in labels:
            if counts[label] > 1:
                seen[label] += 1
                yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
            else:
                yield label


class AuthorYearStyle(PlainStyle):
    default_label_style = AuthorYearLabels


def setup(app):
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
