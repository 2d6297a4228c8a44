"""Builds of the book for a course: the whole-book PDF, the student HTML and PDF (no solutions) and the
notebooks bundle.

Part of :mod:`neurcomp.book`. Both start from the committed chapters (their outputs as executed by
``benchmarks/book.py``), so they run in minutes without executing a cell:

- :func:`build_html` renders the book with Jupyter Book 1 from the committed outputs (execution
  off), strictly (a warning fails it); ``student=True`` renders copies of the chapters without their
  solutions (:func:`student_notebook` with the other outputs kept: text, code and figures of every
  solution are left out, the exercises keep their numbers; sphinx-exercise's own ``hide_solutions``
  leaves the gated solutions' code and figures in);
- :func:`build_pdf` renders the same sources as one PDF with Sphinx's LaTeX builder and XeLaTeX
  (``latexmk``; TeX from Debian's ``texlive-xetex``, ``texlive-latex-extra``, ``latexmk``,
  ``fonts-freefont-otf``): every chapter, figure, table, equation, exercise and (unless ``student``)
  solution, the bibliography; numbers as in the HTML (the LaTeX settings are in ``_config.yml``);
  :func:`split_chapters` then cuts it into one PDF per chapter (``chapters/<file>.pdf``: the title and
  licence pages, then the chapter's pages as in the book), which the HTML's download menus offer
  (``book/_ext/chapter_pdfs.py``);
- :func:`notebooks_zip` writes every chapter of ``_toc.yml`` twice: ``with-outputs/`` as committed and
  ``student/`` without outputs and without solutions (each notebook's first cell installs neurcomp
  where it is missing, as on Colab).

Command line (from the repository root; ``make book-student`` and ``make notebooks`` run these)::

    python -m neurcomp.book.build --student --out _build/student     # HTML in _build/student/_build/html
    python -m neurcomp.book.build --pdf --out _build/pdf              # _build/pdf/neurcomp.pdf, chapters/*.pdf
    python -m neurcomp.book.build --notebooks _build/notebooks.zip

Example (a gated solution and its code cell leave the student copy; the exercise stays):
    >>> nb = {"cells": [{"cell_type": "markdown", "source": [":::{exercise}\\n:label: e1\\nWhy?\\n:::"]},
    ...                 {"cell_type": "markdown", "source": [":::{solution-start} e1\\n:::"]},
    ...                 {"cell_type": "code", "source": ["print(42)"], "outputs": [], "execution_count": 1},
    ...                 {"cell_type": "markdown", "source": ["Because.\\n\\n:::{solution-end}\\n:::"]}]}
    >>> [c["cell_type"] for c in student_notebook(nb)["cells"]]
    ['markdown']
"""
from __future__ import annotations

import argparse
import copy
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

#: the repository root (the book's ``_config.yml`` and ``_toc.yml`` live there in a checkout)
ROOT = Path(__file__).resolve().parents[2]
_START, _END = re.compile(r"^:{3,}\{solution-start\}", re.M), re.compile(r"^:{3,}\{solution-end\}", re.M)


def chapters(root: Path = ROOT) -> list[Path]:
    """The notebooks listed in ``_toc.yml``, in its order."""
    import yaml  # comes with the book extra (jupyter-book)

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for c in toc.get("chapters", [])]
    return [root / f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").is_file()]


def config(student: bool = False, root: Path = ROOT) -> dict:
    """The repository's ``_config.yml`` for a build from the committed outputs (``student``: its title)."""
    import yaml  # comes with the book extra (jupyter-book)

    cfg = yaml.safe_load((root / "_config.yml").read_text())
    cfg["execute"]["execute_notebooks"] = "off"
    sphinx = cfg.setdefault("sphinx", {})
    local = sphinx.get("local_extensions") or {}
    for name, path in local.items():  # the config is written elsewhere: absolute paths to book/_ext
        local[name] = str((root / path).resolve())
    if student:
        cfg["title"] = cfg.get("title", "") + " (student edition)"
    # the chapters' PDFs its download menus offer: the student edition's own (no solutions), or none
    sphinx.setdefault("config", {})["nc_chapter_pdfs"] = str((root / CHAPTER_PDFS[student]).resolve())
    return cfg


def build_html(out: Path, student: bool = False, root: Path = ROOT, timeout: float = 1200,
               builder: str = "html") -> subprocess.CompletedProcess:
    """Build the HTML into ``out/_build/html`` strictly (``--warningiserror``); the log is ``out/build.log``
    (``builder="pdflatex"``: the LaTeX sources and PDF into ``out/_build/latex``, see :func:`build_pdf`)."""
    import yaml  # comes with the book extra (jupyter-book)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "_config.yml").write_text(yaml.safe_dump(config(student, root), sort_keys=False))
    if student:  # the sources again, every chapter without its solutions
        src = out / "src"
        shutil.rmtree(src, ignore_errors=True)
        shutil.copytree(root / "book", src / "book", ignore=shutil.ignore_patterns("_build", "*.ipynb_checkpoints"))
        shutil.copy(root / "_toc.yml", src / "_toc.yml")
        for path in chapters(root):
            nb = student_notebook(json.loads(path.read_text()), keep_outputs=True)
            dest = src / path.relative_to(root)
            dest.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            os.utime(dest, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))  # as old as the chapter (its PDF is current)
        root = src
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(root), "--config", str(out / "_config.yml"),
           "--path-output", str(out), "--warningiserror", "--keep-going", "--all", "--builder", builder]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    (out / "build.log").write_text(proc.stdout + proc.stderr)
    return proc


class PdfError(RuntimeError):
    """The PDF build failed (the message names the first LaTeX error, or says that TeX is missing)."""


def build_pdf(out: Path, student: bool = False, root: Path = ROOT, timeout: float = 1800) -> Path:
    """Build the whole book as one PDF from the committed outputs; returns ``out/neurcomp.pdf``.

    Raises :class:`PdfError` (one line) when ``latexmk`` / ``xelatex`` are missing or LaTeX fails."""
    missing = [t for t in ("latexmk", "xelatex") if shutil.which(t) is None]
    if missing:
        raise PdfError(f"{' and '.join(missing)} not found: install TeX first (Debian: apt-get install latexmk "
                       "texlive-xetex texlive-latex-extra texlive-fonts-recommended fonts-freefont-otf lmodern)")
    out = Path(out)
    proc = build_html(out, student=student, root=root, timeout=timeout, builder="pdflatex")
    pdf = out / "_build" / "latex" / "neurcomp.pdf"
    if proc.returncode or not pdf.is_file():
        log = out / "_build" / "latex" / "neurcomp.log"
        errors = [ln for ln in (log.read_text(errors="replace").splitlines() if log.is_file() else []) if ln.startswith("!")]
        warnings = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "WARNING" in ln or "ERROR" in ln]
        raise PdfError((errors or warnings or [(proc.stdout + proc.stderr).strip()[-300:]])[0] + f" (log: {out / 'build.log'})")
    target = out / "neurcomp.pdf"
    shutil.copyfile(pdf, target)
    split_chapters(target, out / "chapters", root)
    return target


#: where ``make pdf`` / ``make pdf-student`` leave the chapters' PDFs (relative to the repository root);
#: an HTML build's download menus offer those that are newer than their chapter (``book/_ext/chapter_pdfs.py``)
CHAPTER_PDFS = {False: Path("_build/pdf/chapters"), True: Path("_build/pdf-student/chapters")}


def split_chapters(pdf: Path, out_dir: Path, root: Path = ROOT) -> list[Path]:
    """Cut the whole-book PDF into one PDF per numbered chapter: ``out_dir/<file>.pdf`` holds the book's title
    page and the page that names the licences, then the chapter's pages as they are in the book (same layout,
    figure, equation and exercise numbers), with the chapter and its sections as bookmarks. A chapter runs from its
    bookmark to the next top-level bookmark. Links to other chapters' pages do not survive the cut.

    Raises :class:`PdfError` when a chapter's bookmark ("6. The discretization gap: ...") is missing."""
    from pypdf import PdfReader, PdfWriter  # comes with the book extra

    reader = PdfReader(str(pdf))
    top, subs = [], {}  # the top-level bookmarks (title, page); the sections below each, by its index in top
    for it in reader.outline:
        if not isinstance(it, list):
            top.append((it.title, reader.get_destination_page_number(it)))
        elif top:
            subs[len(top) - 1] = [(s.title, reader.get_destination_page_number(s)) for s in it if not isinstance(s, list)]
    starts = sorted({page for _, page in top})
    # the title page, and the page after it that names the licences (the whole book's page 3: its back is blank)
    front = [0, *[i for i in range(1, min(4, starts[0])) if "CC BY" in reader.pages[i].extract_text()][:1]]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fact in chapter_facts(root):
        if not fact["number"]:
            continue
        title = f"{fact['number']}. {fact['title']}"
        k = next((i for i, t in enumerate(top) if " ".join(t[0].split()) == title), None)
        if k is None:
            raise PdfError(f"{pdf}: no bookmark {title!r}: cannot cut out chapter {fact['number']}")
        first = top[k][1]
        end = next((p for p in starts if p > first), len(reader.pages))
        writer = PdfWriter()
        for i in [*front, *range(first, end)]:
            writer.add_page(reader.pages[i])
        parent = writer.add_outline_item(title=title, page_number=len(front))
        for name, page in subs.get(k, []):
            if first <= page < end:
                writer.add_outline_item(title=name, page_number=len(front) + page - first, parent=parent)
        writer.add_metadata({"/Title": f"neurcomp, chapter {title}"})
        path = out_dir / f"{fact['file']}.pdf"
        with open(path, "wb") as f:
            writer.write(f)
        written.append(path)
    return written


def student_notebook(nb: dict, keep_outputs: bool = False) -> dict:
    """A copy of a notebook without solutions (``{solution}`` directives and everything from a
    ``{solution-start}`` to its ``{solution-end}``, cells and parts of cells) and, unless ``keep_outputs``,
    without outputs. Exercises stay."""
    nb = copy.deepcopy(nb)
    cells, inside = [], False
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            if not inside:
                if cell["cell_type"] == "code" and not keep_outputs:
                    cell["outputs"], cell["execution_count"] = [], None
                cells.append(cell)
            continue
        text, inside = _without_gated_solutions("".join(cell["source"]), inside)
        text = _without_solution_blocks(text).replace(":::{only} html\nSolutions are hidden; click to reveal them.\n:::", "")
        text = text.replace("Solutions are hidden; click to reveal them.", "")
        if text.strip():
            cell["source"] = text.strip("\n").splitlines(keepends=True)
            cells.append(cell)
    nb["cells"] = cells
    return nb


def _without_gated_solutions(text: str, inside: bool) -> tuple[str, bool]:
    """``text`` without the parts inside a gated solution; whether the solution goes on after it."""
    out, closing = [], False
    for line in text.splitlines(keepends=True):
        if closing:  # the fence that closes the {solution-end} directive
            closing = False
            if re.match(r"^:{3,}\s*$", line):
                continue
        if not inside and _START.match(line):
            inside = True
        elif inside and _END.match(line):
            inside, closing = False, True
        elif not inside:
            out.append(line)
    return "".join(out), inside


def _without_solution_blocks(text: str) -> str:
    """``text`` without its ``{solution}`` directive blocks (a fence of n colons closes at n colons)."""
    out, fence = [], None
    for line in text.splitlines(keepends=True):
        if fence is None:
            m = re.match(r"^(:{3,})\{solution\}", line)
            if m:
                fence = m.group(1)
                continue
            out.append(line)
        elif line.strip() == fence:
            fence = None
    return "".join(out)


def notebooks_zip(path: Path, root: Path = ROOT) -> Path:
    """Write every chapter notebook of ``_toc.yml`` twice into ``path``: ``with-outputs/`` (as committed)
    and ``student/`` (:func:`student_notebook`); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for nb_path in chapters(root):
            nb = json.loads(nb_path.read_text())
            z.writestr(f"neurcomp-notebooks/with-outputs/{nb_path.name}", nb_path.read_text())
            z.writestr(f"neurcomp-notebooks/student/{nb_path.name}",
                       json.dumps(student_notebook(nb), indent=1, ensure_ascii=False) + "\n")
        z.writestr("neurcomp-notebooks/README.md", _BUNDLE_README)
    return path


_BUNDLE_README = """# neurcomp notebooks

Every chapter of the book twice: `with-outputs/` as published (every output, figure and solution) and
`student/` without outputs and without solutions. Open one in JupyterLab or upload it to Colab; its first
cell installs neurcomp where it is missing. The chapters read Kodak from `$NEURCOMP_DATA/kodak`
(or download it) and run in about 3 minutes each on 2 CPU cores (`NEURCOMP_PROFILE=quick`, the default).

Text and figures: CC BY 4.0; code: MIT.
"""


#: the 12-week plan: (chapters, what the week is about, a project); the exercises come from the chapters
WEEKS = [
    ((1,), "rate and distortion, entropy coding in bits",
     "code the residuals of your own photos with the range and ANS coders; compare their overhead per image"),
    ((2,), "learned transform coding: analysis, synthesis, entropy models",
     "code ten of your photos with the shipped hyperprior, JPEG and WebP at equal rate; show where each fails"),
    ((2,), "training a transform coder (the quick profile live, then the shipped networks)",
     "train the factorized prior for 30 minutes on your own photos; plot its R-D curve against the shipped one"),
    ((3,), "discretized VAEs: quantization-aware latent variable models",
     "add a third latent level to the hierarchical model and measure what each level costs"),
    ((4,), "vector quantization and the soft cross-entropy",
     "sweep the codebook size and plot rate, PSNR and codebook usage"),
    ((5,), "the amortization gap: iterative inference at encode time",
     "measure the amortization gap on 128 px crops of your own photos at three lambdas"),
    ((6,), "the discretization gap: stochastic Gumbel annealing and its ablations",
     "vary the temperature schedule and report the BD-rate of each against the paper's"),
    ((7,), "the marginalization gap: lossy bits-back coding",
     "code an album of 12 crops on one ANS stack; plot its net rate as images are added"),
    ((8,), "compression without quantization: relative entropy coding",
     "measure where the bits of a REC file go (indices, sizes, headers) on whole images and on crops"),
    ((9,), "putting it together: every method on one table, and where the numbers come from",
     "add your own model with neurcomp eval and place it on chapter 9's table"),
    ((10,), "the amortization gap taken to zero: an overfitted per-image codec",
     "fit the overfitted codec to three of your photos at two lambdas; plot its rate against the encoding steps "
     "and compare with WebP at equal PSNR"),
    ((), "project presentations", "present one gap you closed, measured with real files"),
]

PREREQUISITES = [
    "**Probability**: random variables, expectations, Gaussian and uniform densities, the KL divergence "
    "(chapter 1 recalls entropy, cross-entropy and KL in bits).",
    "**Machine learning**: gradient descent, a first look at variational autoencoders and the ELBO.",
    "**PyTorch**: tensors, autograd, `nn.Module` and an optimizer loop; NumPy and matplotlib to read the cells.",
    "**A computer**: a laptop CPU is enough: every chapter runs top to bottom in the `quick` profile; "
    "Colab or Binder work without an install.",
]


def chapter_facts(root: Path = ROOT) -> list[dict]:
    """Per chapter notebook: ``number, file, title, words`` (of its Markdown), ``reading_min`` (at 200 words a
    minute), ``exercises``, ``run_s`` (its quick-profile run on 2 cores, from ``benchmarks/results/book.json``)
    and ``refers_to`` (the earlier chapters its text refers back to)."""
    timing = json.loads((root / "benchmarks" / "results" / "book.json").read_text())
    seconds = {r["chapter"]: r["seconds"] for r in timing["chapters"]}
    out = []
    for path in chapters(root):
        nb = json.loads(path.read_text())
        md = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        n = int(path.name[:2])
        words = len(re.findall(r"[A-Za-z]+", re.sub(r"\$[^$]*\$|```.*?```", " ", md, flags=re.S)))
        out.append({"number": n, "file": path.stem, "title": re.sub(r"^\d+\.\s+", "", md.split("\n", 1)[0].lstrip("# ").strip()), "words": words,
                    "reading_min": round(words / 200), "exercises": len(re.findall(r"^:{3,}\{exercise\}", md, re.M)),
                    "run_s": seconds.get(path.stem),
                    "refers_to": sorted({int(m) for m in re.findall(r"[Cc]hapters? (\d+)", md)} & set(range(1, n)))})
    return out


def dependency_svg(facts: list[dict]) -> str:
    """The chapters as boxes, an arrow from each chapter a chapter refers back to: an inline SVG (7 in wide)."""
    import matplotlib  # the book extra's plotting dependency

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    depth = {}
    for f in facts:  # in order: a chapter sits one column right of the deepest chapter it builds on
        depth[f["number"]] = 1 + max((depth[r] for r in f["refers_to"]), default=-1)
    columns: dict[int, list[int]] = {}
    for n, d in depth.items():
        columns.setdefault(d, []).append(n)
    pos = {n: (d, -i + (len(ns) - 1) / 2) for d, ns in columns.items() for i, n in enumerate(ns)}
    with plt.rc_context({"svg.hashsalt": "neurcomp-syllabus", "svg.fonttype": "none", "font.size": 10}):
        fig, ax = plt.subplots(figsize=(7, 3.0))
        for f in facts:
            for r in f["refers_to"]:
                skip = depth[f["number"]] - depth[r] > 1  # an arrow past a column bends around it
                ax.annotate("", xy=pos[f["number"]], xytext=pos[r], arrowprops={
                    "arrowstyle": "-|>", "color": "0.45", "shrinkA": 16, "shrinkB": 16, "lw": 1,
                    "connectionstyle": f"arc3,rad={-0.35 if skip else 0}"})
        for f in facts:
            x, y = pos[f["number"]]
            ax.text(x, y, str(f["number"]), ha="center", va="center", fontsize=13, fontweight="bold",
                    bbox={"boxstyle": "round,pad=0.45", "fc": "#E8F1FA", "ec": "#0072B2"})
        ax.set_xlim(-0.5, max(depth.values()) + 0.5)
        ax.set_ylim(min(y for _, y in pos.values()) - 0.7, max(y for _, y in pos.values()) + 0.7)
        ax.axis("off")
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):].replace('width="504pt"', 'width="100%"')


def syllabus(root: Path = ROOT) -> str:
    """The syllabus page (MyST Markdown), made from the chapters and ``book.json``: ``make syllabus`` writes it."""
    facts = chapter_facts(root)
    by_n = {f["number"]: f for f in facts}
    lines = ["# Teaching with this book: a syllabus", "",
             "<!-- made by `python -m neurcomp.book.build --syllabus book/syllabus.md` from the chapters and "
             "benchmarks/results/book.json; tests/test_course_builds.py checks that it is up to date -->", "",
             "A plan for a 12-week course (one chapter or half a chapter a week, a lab with the chapter's cells and "
             "a small project), the prerequisites, and how the chapters build on each other. Every chapter runs "
             "top to bottom on a laptop CPU, so each week's lab can be the chapter itself.", "",
             "## Prerequisites", ""]
    lines += [f"- {p}" for p in PREREQUISITES]
    lines += ["", "## How the chapters build on each other", "",
              '<figure class="syllabus-dependencies">', dependency_svg(facts),
              "<figcaption>The chapters (boxes) and, as arrows, the earlier chapters each one refers back to in its "
              "text. Chapters in one column can be taught in either order.</figcaption>", "</figure>", "",
              "## The chapters", "",
              "Reading time at 200 words a minute (prose only); run time of the whole chapter in the `quick` profile "
              f"on {json.loads((root / 'benchmarks' / 'results' / 'book.json').read_text()).get('cpus', 2)} CPU "
              "cores, as last measured by `benchmarks/book.py`.", "",
              "| chapter | reading | run time (quick) | exercises | builds on |", "| --- | --- | --- | --- | --- |"]
    for f in facts:
        run = "-" if f["run_s"] is None else f"{f['run_s'] / 60:.1f} min"
        refs = ", ".join(str(r) for r in f["refers_to"]) or "-"
        lines.append(f"| {{doc}}`{f['number']}. {f['title']} <{f['file']}>` | {f['reading_min']} min | {run} | "
                     f"{f['exercises']} | {refs} |")
    lines += ["", "## Week by week", "",
              "| week | chapter | topic | exercises | project |", "| --- | --- | --- | --- | --- |"]
    for week, (chs, topic, project) in enumerate(WEEKS, 1):
        chapter = ", ".join(str(c) for c in chs) or "-"
        ex = "; ".join(f"{c}.1-{c}.{by_n[c]['exercises']}" for c in chs if by_n.get(c, {}).get("exercises")) or "-"
        lines.append(f"| {week} | {chapter} | {topic} | {ex} | {project} |")
    lines += ["", "Where a chapter spans two weeks, its exercises are set in the first and discussed in the second. "
              "The student edition of the book (`make book-student`) and the notebooks bundle (`make notebooks`: "
              "every chapter with outputs, and stripped of outputs and solutions) are built from the same "
              "chapters.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="_build/book", help="output folder of the HTML build")
    ap.add_argument("--student", action="store_true", help="leave every solution out")
    ap.add_argument("--pdf", action="store_true", help="build the PDF (out/neurcomp.pdf) instead of the HTML")
    ap.add_argument("--notebooks", metavar="ZIP", help="write the notebooks bundle instead of building HTML")
    ap.add_argument("--syllabus", metavar="MD", help="write the syllabus page instead of building HTML")
    a = ap.parse_args(argv)
    if a.syllabus:
        Path(a.syllabus).write_text(syllabus())
        print(f"wrote {a.syllabus}")
        return 0
    if a.notebooks:
        print(f"wrote {notebooks_zip(Path(a.notebooks))}")
        return 0
    if a.pdf:
        try:
            print(f"wrote {build_pdf(Path(a.out), student=a.student)}")
        except PdfError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        return 0
    proc = build_html(Path(a.out), student=a.student)
    if proc.returncode:
        print("\n".join(line for line in (proc.stdout + proc.stderr).splitlines() if "WARNING" in line or "ERROR" in line)
              or proc.stderr[-2000:], file=sys.stderr)
        return proc.returncode
    print(f"The book is at file://{Path(a.out).resolve() / '_build' / 'html' / 'index.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
