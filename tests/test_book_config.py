"""Static checks of the Jupyter Book (no notebook is executed here; that is nbval's and the build's job).

They catch, in a second, what would otherwise surface only in a slow book build or not at all:
a toc entry without a file, a citation key missing from references.bib, a notebook committed
without outputs or with an error output (a figure that failed to render does not fail the
build: its traceback is silently rendered into the HTML), a second bibliography directive,
a chapter that does not read NEURCOMP_PROFILE, a figure without a caption, images in book/, an install cell or a repository address that drifted,
nbval markers written as comments, a chapter whose weight fingerprints are not pinned,
an exercise or a solution that is not a sphinx-exercise directive (numbered, labelled, hidden, linked).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import toc_pages

yaml = pytest.importorskip("yaml")
nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
BIB_KEY = re.compile(r"^@\w+\s*\{\s*([^,\s]+)\s*,", re.MULTILINE)


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def _toc_files() -> list[Path]:
    names = toc_pages()
    out = []
    for name in names:
        hits = [ROOT / f"{name}{ext}" for ext in (".md", ".ipynb") if (ROOT / f"{name}{ext}").is_file()]
        assert hits, f"_toc.yml lists {name!r} but neither {name}.md nor {name}.ipynb exists"
        out.append(hits[0])
    return out


def _notebooks() -> list[Path]:
    return [p for p in _toc_files() if p.suffix == ".ipynb"]


def _text_of(path: Path) -> str:
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        return "\n".join(c.source for c in nb.cells)
    return path.read_text()


def test_config_executes_and_fails_on_errors():
    cfg = _config()
    assert cfg["execute"]["execute_notebooks"] == "force"
    assert int(cfg["execute"]["timeout"]) >= 600
    assert cfg["only_build_toc_files"] is True
    assert cfg["sphinx"]["config"]["nb_execution_raise_on_error"] is True
    excluded = set(cfg["exclude_patterns"])
    for pattern in (".venv/*", "_build/*", "runs/*", "tests/*", "benchmarks/*", "README.md", ".ci/*"):
        assert pattern in excluded, f"_config.yml exclude_patterns lacks {pattern!r}"
    for bib in cfg["bibtex_bibfiles"]:
        assert (ROOT / bib).is_file(), f"bibtex file {bib} is missing"
    assert cfg["launch_buttons"]["colab_url"].startswith("https://colab.research.google.com")
    assert cfg["repository"]["url"].startswith("https://github.com/")
    assert cfg["html"]["use_repository_button"] is True


def test_toc_files_exist():
    files = _toc_files()
    assert files[0].name == "intro.md"


def test_citations_are_in_references_bib():
    cfg = _config()
    keys: set[str] = set()
    for bib in cfg["bibtex_bibfiles"]:
        found = BIB_KEY.findall((ROOT / bib).read_text())
        dupes = {k for k in found if found.count(k) > 1}
        assert not dupes, f"{bib}: duplicate keys {sorted(dupes)}"
        keys.update(found)
    missing = {}
    for path in _toc_files():
        for group in CITE.findall(_text_of(path)):
            for key in (k.strip() for k in group.split(",")):
                if key and key not in keys:
                    missing.setdefault(path.name, []).append(key)
    assert not missing, f"citation keys not in references.bib: {missing}"


def test_one_bibliography_directive():
    count = sum(len(re.findall(r"```\{bibliography\}", _text_of(p))) for p in _toc_files())
    assert count == 1, f"found {count} {{bibliography}} directives; keep exactly one (book/bibliography.md)"


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_notebook_is_committed_executed_without_errors(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "kernelspec must be python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a chapter without code cells"
    not_run = [i for i, c in enumerate(code) if c.source.strip() and c.execution_count is None
               and not all(line.lstrip().startswith("#") for line in c.source.splitlines() if line.strip())]
    assert not not_run, f"code cells {not_run} have no saved outputs: execute the notebook and save it"
    errors = [(i, o.get("ename"), o.get("evalue", "")[:80]) for i, c in enumerate(code)
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"error outputs saved in the notebook (cell, error): {errors}"


def repository_url() -> str:
    """The repository's address: pyproject.toml's [project.urls], the one place it is written."""
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def install_cell(path: Path) -> str:
    """The first code cell of a chapter: it installs neurcomp when it is missing."""
    nb = nbformat.read(path, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_notebook_reads_profile_once_and_starts_with_the_install_cell(path):
    src = _text_of(path)
    assert src.count('os.environ.get("NEURCOMP_PROFILE"') == 1, "read NEURCOMP_PROFILE exactly once"
    for line in src.splitlines():
        assert not re.match(r"\s*[!%]pip\s+install", line), f"shell install line: {line.strip()!r} (use the install cell)"
    first = _notebooks()[0]
    assert install_cell(path) == install_cell(first), f"the install cell differs from {first.name}'s"


def test_repository_url_agrees_everywhere():
    url = repository_url()
    assert url.startswith("https://github.com/") and not url.endswith((".git", "/"))
    assert _config()["repository"]["url"] == url, "_config.yml repository.url differs from pyproject.toml"
    cell = install_cell(_notebooks()[0])
    assert f'"git+{url}"' in cell, f"the install cell does not install from {url}"
    assert 'find_spec("neurcomp") is None' in cell and "neurcomp[notebook] @" in cell
    readme = (ROOT / "README.md").read_text()
    assert f"git+{url}" in readme, f"README.md does not give the install command from {url}"
    for other in set(re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", readme + (ROOT / "book/intro.md").read_text())):
        if other.rstrip(".") != url and "neurcomp" in other:
            pytest.fail(f"README.md / intro.md name another repository address: {other}")


def test_binder_gets_a_cpu_build_of_torch():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    torch_lines = [p for p in pip if p.startswith("torch")]
    assert torch_lines and all("+cpu" in p for p in torch_lines), f"environment.yml installs {torch_lines}"
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in pip


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_nbval_markers_are_tags_and_weights_are_pinned(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    comments = [i for i, c in enumerate(code) if re.search(r"^\s*#\s*NBVAL_", c.source, re.MULTILINE)]
    assert not comments, f"code cells {comments} carry an NBVAL comment: use a cell tag (nbval-ignore-output, ...)"
    pinned = [c for c in code if "book.weights_used(" in c.source]
    assert len(pinned) == 1, "one cell prints the shipped weights' fingerprints (book.weights_used)"
    tags = set(pinned[0].metadata.get("tags", []))
    assert not tags & {"nbval-ignore-output", "nbval-skip"}, "nbval must compare the fingerprint cell's output"
    assert pinned[0].get("outputs"), "the fingerprint cell has no saved output: execute the chapter"


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_every_figure_has_a_caption(path):
    """A figure is a figure: its caption and alt text in the cell's MyST-NB metadata (rendered as a
    numbered <figure> inside the cell, so a hidden solution's caption hides with it), or printed by the cell."""
    nb = nbformat.read(path, as_version=4)
    uncaptioned, no_alt, italic = [], [], []
    for i, c in enumerate(nb.cells):
        if c.cell_type == "markdown" and re.match(r"\*Figure \d+\.\d+ ", c.source.strip()):
            italic.append(i)
        if c.cell_type != "code":
            continue
        outs = c.get("outputs", [])
        if not any("image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {}) for o in outs):
            continue
        meta = c.metadata.get("mystnb", {})
        caption = meta.get("figure", {}).get("caption", "")
        own = " ".join(o.get("text", "") for o in outs if o.get("output_type") == "stream")
        if re.match(r"\*\*Figure \d+\.\d+\*\* — ", caption):
            alt = meta.get("image", {}).get("alt", "")
            if not alt.startswith("Figure ") or len(alt) < 20:
                no_alt.append(i)
        elif "Figure" not in own:
            uncaptioned.append(i)
    assert not uncaptioned, f"cells {uncaptioned} draw a figure without a caption (mystnb.figure.caption in the cell)"
    assert not no_alt, f"cells {no_alt}: figure without alt text (mystnb.image.alt)"
    assert not italic, f"cells {italic}: an italic '*Figure ...*' paragraph: put the caption into the figure cell"


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_tables_render_as_tables(path):
    """(How wide a figure is, legend included, is checked as it is shown: neurcomp.plotting.legibility, which
    ``ch.done()`` enforces.)"""
    nb = nbformat.read(path, as_version=4)
    tables = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "markdown=False" in c.source]
    assert not tables, f"cells {tables} print a table as text: book.table renders it as a table in the book"
    both = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.metadata.get("mystnb", {}).get("figure")
            and re.search(r"\b(table|bd_table|psnr_table)\(", c.source)]
    assert not both, (f"cells {both} show a table and a captioned figure: MyST-NB would wrap both in the figure "
                      "(a duplicate label): put the table in a cell of its own")


def test_no_images_in_book_folder():
    images = [p for ext in ("png", "jpg", "jpeg", "webp", "gif") for p in (ROOT / "book").rglob(f"*.{ext}")
              if "_build" not in p.parts]
    assert not images, f"images must be produced by cells, not committed: {images}"


# --------------------------------------------------------------------------- exercises and solutions
# sphinx-exercise (QuantEcon's convention): ":::{exercise} title" with ":label: chN-exK" (numbered
# "Exercise N.K" by book/_ext/chapter_figures.py), ":::{solution} chN-exK" hidden by ":class: dropdown";
# a solution with code cells is gated (":::{solution-start} chN-exK" ... ":::{solution-end}") so that its
# code, outputs and figure captions sit inside the toggle.
DIRECTIVE = re.compile(r"^:::\{(exercise|solution|solution-start|solution-end)\}[ \t]*(.*)\n((?::[\w-]+:.*\n?)*)", re.M)
CHAPTER = re.compile(r"^(\d+)_")
SOLUTION_CODE = re.compile(r"\A\s*# Solution to Exercise (?:(\d+)\.)?(\d+)\b")  # "Exercise 6.2" (or "2")


def _directives(path: Path) -> list[dict]:
    """The chapter's exercise and solution directives in document order, with the cell they are in."""
    nb = nbformat.read(path, as_version=4)
    out = []
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code":
            out.append({"kind": "code", "cell": i, "source": c.source})
            continue
        if c.cell_type != "markdown":
            continue
        for m in DIRECTIVE.finditer(c.source):
            opts = dict(re.findall(r"^:([\w-]+):[ \t]*(.*)$", m.group(3), re.M))
            out.append({"kind": m.group(1), "arg": m.group(2).strip(), "opts": opts, "cell": i})
    return out


def _exercise_labels() -> set[str]:
    return {d["opts"].get("label") for p in _notebooks() for d in _directives(p) if d["kind"] == "exercise"}


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_exercises_are_numbered_directives_with_hidden_linked_solutions(path):
    text = _text_of(path)
    assert not re.search(r"\*\*Exercise \d", text), "a bold-paragraph exercise: use :::{exercise} with a :label:"
    assert "{admonition} Solution" not in text, "a Solution admonition: use :::{solution} <exercise label>"
    found = _directives(path)
    exercises = [d for d in found if d["kind"] == "exercise"]
    if not exercises:
        assert not re.search(r"^#+ Exercises", text, re.M), "an Exercises section without {exercise} directives"
        assert not any(d["kind"] != "code" for d in found), "solution directives in a chapter without exercises"
        return
    chapter = int(CHAPTER.match(path.name).group(1))
    labels = [d["opts"].get("label") for d in exercises]
    assert labels == [f"ch{chapter}-ex{k}" for k in range(1, len(labels) + 1)], (
        f"exercise labels {labels}: every exercise has :label: ch{chapter}-exK, K = 1, 2, ... in order")
    assert all(d["arg"] for d in exercises), "every exercise has a title: :::{exercise} title"
    known = _exercise_labels()
    solved: dict[str, int] = {}
    gate = None  # the open solution-start
    seen: list[str] = []
    for d in found:
        if d["kind"] == "exercise":
            seen.append(d["opts"]["label"])
        elif d["kind"] in ("solution", "solution-start"):
            target = d["arg"]
            assert target in known, f"a solution refers to {target!r}, which is no exercise label"
            assert target in seen, f"the solution of {target} comes before its exercise"
            assert "dropdown" in d["opts"].get("class", "").split(), f"the solution of {target} is not hidden (:class: dropdown)"
            assert gate is None, f"the solution of {target} starts inside the gated solution of {gate}"
            solved[target] = solved.get(target, 0) + 1
            if d["kind"] == "solution-start":
                gate = target
        elif d["kind"] == "solution-end":
            assert gate is not None, f"cell {d['cell']}: a solution-end without a solution-start"
            gate = None
        else:  # a code cell
            m = SOLUTION_CODE.match(d["source"])
            if m:
                assert m.group(1) in (None, str(chapter)), f"code cell {d['cell']} names exercise {m.group(1)}.{m.group(2)}"
                assert gate == f"ch{chapter}-ex{m.group(2)}", (
                    f"code cell {d['cell']} (solution to exercise {m.group(2)}) is not inside its gated solution "
                    f"(:::{{solution-start}} ch{chapter}-ex{m.group(2)} ... :::{{solution-end}})")
    assert gate is None, f"the gated solution of {gate} has no solution-end"
    assert solved == {label: 1 for label in labels}, f"every exercise has exactly one solution: {solved}"
    # {numref} needs Sphinx's numfig, which is off (chapter_figures.py): a reference gives its own text
    bare = re.findall(r"\{(?:ref|numref)\}`(ch\d+-ex\d+)`", text)
    assert not bare, f"references {bare} without text: write {{ref}}`exercise 4 <ch1-ex4>`"
    assert not re.findall(r"\{numref\}`[^`]*ch\d+-ex\d+", text), "{numref} to an exercise: use {ref} with text"
    for target in re.findall(r"\{ref\}`[^`<]*<(ch\d+-ex\d+)>`", text):
        assert target in known, f"a reference to {target}, which is no exercise label"


def test_the_book_builds_with_sphinx_exercise():
    cfg = _config()
    assert "sphinx_exercise" in cfg["sphinx"]["extra_extensions"], "_config.yml does not load sphinx_exercise"
    assert "chapter_figures" in cfg["sphinx"]["local_extensions"], "exercises are numbered by chapter_figures"
    tomllib = pytest.importorskip("tomllib")
    book = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["book"]
    assert any(re.match(r"sphinx-exercise\b", d) for d in book), "the book extra lacks sphinx-exercise"


def test_nbval_compares_most_outputs():
    """nbval compares every output but durations, stderr and a float's last digit (neurcomp.book.nbcompare):
    a cell tagged nbval-ignore-output is one whose output is not reproducible (a time-budgeted training and
    what it feeds, a timing ratio), so at least 80 % of the book's code cells, and 70 % of each chapter's,
    are compared."""
    counts = {}
    for path in _notebooks():
        code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        ignored = [c for c in code if {"nbval-ignore-output", "nbval-skip"} & set(c.metadata.get("tags", []))]
        counts[path.name] = (len(code) - len(ignored), len(code))
    compared, total = (sum(v[i] for v in counts.values()) for i in (0, 1))
    assert compared >= 0.8 * total, f"nbval compares {compared} of {total} code cells: {counts}"
    low = {k: v for k, v in counts.items() if v[0] < 0.7 * v[1]}
    assert not low, f"chapters where nbval compares under 70 % of the code cells: {low}"


def test_nbval_compares_with_the_books_rule():
    """``pytest --nbval book`` compares with neurcomp.book.nbcompare's rule, not string equality: the module is a
    pytest plugin that pyproject.toml's addopts loads (this very run loaded it)."""
    import nbval.plugin

    from neurcomp.book import nbcompare

    assert "-p neurcomp.book.nbcompare" in (ROOT / "pyproject.toml").read_text()
    assert nbval.plugin.IPyNbCell.compare_outputs is nbcompare._compare_outputs
    cell = object.__new__(nbval.plugin.IPyNbCell)
    cell.parent = type("P", (), {"skip_compare": ("metadata", "traceback", "image/png")})()
    out = lambda text: [{"output_type": "stream", "name": "stdout", "text": text}]  # noqa: E731
    assert cell.compare_outputs(out("loss 1.1440 in 12.0 s"), out("loss 1.1440 in 31.5 s"))
    assert not cell.compare_outputs(out("loss 1.1440"), out("loss 1.2440"))
    assert "1.2440" in "\n".join(cell.comparison_traceback)


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.name)
def test_every_chapter_ends_with_done(path):
    """``ch.done()`` is a chapter's last code cell: it prints the run time and fails the chapter (nbval, the
    build) when one of its figures was not legible in the text column (neurcomp.plotting.legibility)."""
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    assert code[-1].source.strip() == "ch.done()", f"the last code cell is {code[-1].source.strip()[:60]!r}"
