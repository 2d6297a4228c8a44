"""The course builds: the notebooks bundle and the student edition of the book (neurcomp.book.build)."""
import html
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, needs_data
from neurcomp.book import build

CHAPTERS = build.chapters()


def _solution_phrases(nb: dict) -> list[str]:
    """A phrase from every solution of a chapter: the first run of six plain words of its text, else of its code."""
    phrases, inside, text = [], False, []
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and re.search(r"^:{3,}\{solution-start\}", src, re.M):
            inside, text = True, []
            continue
        if inside:
            text.append((cell["cell_type"], src))
            if cell["cell_type"] == "markdown" and re.search(r"^:{3,}\{solution-end\}", src, re.M):
                inside = False
                prose = [s for kind, s in text if kind == "markdown"]
                phrases.append(_phrase(" ".join(prose)) or _phrase(" ".join(s for _, s in text)))
        elif cell["cell_type"] == "markdown":
            for m in re.finditer(r"^(:{3,})\{solution\}[^\n]*\n(.*?)^\1\s*$", src, re.M | re.S):
                body = "\n".join(line for line in m.group(2).splitlines() if not line.startswith(":"))
                phrases.append(_phrase(body))
    return [p for p in phrases if p]


def _phrase(text: str) -> str | None:
    text = re.sub(r"\$[^$]*\$|`[^`]*`|\{[a-z:]+\}|\[[^\]]*\]\([^)]*\)|[*_#]", " ", text)
    for sentence in re.split(r"[.;:!?\n]", text):
        words = re.findall(r"[A-Za-z]+(?:'[a-z]+)?", sentence)
        if len(words) >= 6:
            return " ".join(words[:6])
    return None


def _plain(page: str) -> str:
    return re.sub(r"\s+", " ", " ".join(re.findall(r"[A-Za-z]+(?:'[a-z]+)?", html.unescape(re.sub(r"<[^>]+>", " ", page)))))


def test_the_syllabus_page_is_made_from_the_chapters_and_their_run_times_as_they_are():
    """book/syllabus.md is what neurcomp.book.build.syllabus() makes now (benchmarks/book.py rewrites it with
    book.json; the inline SVG is compared by its arrows, its drawing may differ between matplotlib versions)."""
    committed, made = (ROOT / "book" / "syllabus.md").read_text(), build.syllabus()
    no_svg = lambda t: re.sub(r"<svg.*?</svg>", "<svg/>", t, flags=re.S)  # noqa: E731
    assert no_svg(committed) == no_svg(made), "run: python -m neurcomp.book.build --syllabus book/syllabus.md"
    facts = build.chapter_facts()
    assert [f["number"] for f in facts] == list(range(1, len(facts) + 1)) and all(f["run_s"] and f["exercises"] for f in facts)
    assert committed.count("<svg") == 1 and "book/syllabus" in (ROOT / "_toc.yml").read_text()
    assert all(f["refers_to"] for f in facts[1:])  # every chapter after the first builds on an earlier one


def test_every_chapter_has_solutions_to_look_for():
    assert all(_solution_phrases(json.loads(p.read_text())) for p in CHAPTERS)


def test_the_notebooks_bundle_holds_every_chapter_twice_the_student_copy_without_outputs_or_solutions(tmp_path):
    z = zipfile.ZipFile(build.notebooks_zip(tmp_path / "notebooks.zip"))
    names = set(z.namelist())
    for p in CHAPTERS:
        assert {f"neurcomp-notebooks/with-outputs/{p.name}", f"neurcomp-notebooks/student/{p.name}"} <= names
        assert z.read(f"neurcomp-notebooks/with-outputs/{p.name}") == p.read_bytes()
        student = json.loads(z.read(f"neurcomp-notebooks/student/{p.name}"))
        code = [c for c in student["cells"] if c["cell_type"] == "code"]
        assert code and not any(c["outputs"] for c in code) and "install" in "".join(code[0]["source"])
        text = _plain(" ".join("".join(c["source"]) for c in student["cells"]))
        exercises = sum(":::{exercise}" in "".join(c["source"]) for c in student["cells"])
        assert exercises == sum(":::{exercise}" in "".join(c["source"]) for c in json.loads(p.read_text())["cells"])
        for phrase in _solution_phrases(json.loads(p.read_text())):
            assert phrase not in text, (p.name, phrase)
    assert len(names) == 2 * len(CHAPTERS) + 1  # and the bundle's README


@pytest.mark.slow
@needs_data
def test_chapter_1_student_copy_runs_top_to_bottom_in_a_fresh_kernel(tmp_path):
    nb_path = tmp_path / CHAPTERS[0].name
    nb_path.write_text(json.dumps(build.student_notebook(json.loads(CHAPTERS[0].read_text()))))
    env = {**os.environ, "NEURCOMP_PROFILE": "quick", "NEURCOMP_DATA": str(Path(os.environ.get(
        "NEURCOMP_DATA", ROOT.parent / "shared" / "data")).resolve())}
    r = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                        "--ExecutePreprocessor.timeout=600", "--output", "ran.ipynb", str(nb_path)],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    ran = json.loads((tmp_path / "ran.ipynb").read_text())
    outputs = [o for c in ran["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert outputs and not any(o["output_type"] == "error" for o in outputs)


@pytest.mark.slow
def test_the_student_edition_builds_strictly_without_any_solution(tmp_path):
    out = tmp_path / "student"
    proc = build.build_html(out, student=True)
    assert proc.returncode == 0, "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                                           if "WARNING" in line or "ERROR" in line)[-3000:]
    html_dir = out / "_build" / "html"
    for p in CHAPTERS:
        page = (html_dir / p.relative_to(ROOT).with_suffix(".html")).read_text()
        text = _plain(page)
        n = int(p.name[:2])
        exercises = sum(":::{exercise}" in "".join(c["source"]) for c in json.loads(p.read_text())["cells"])
        assert all(f"Exercise {n}.{k}" in html.unescape(re.sub(r"<[^>]+>", " ", page)) for k in range(1, exercises + 1)), p
        assert "solution-content" not in page and "Solution to" not in page, p.name
        for phrase in _solution_phrases(json.loads(p.read_text())):
            assert phrase not in text, (p.name, phrase)


def _words(text: str) -> str:
    """The words of a PDF's text, one space apart (as :func:`_plain` for a page, with no tags to strip)."""
    return " ".join(re.findall(r"[A-Za-z]+(?:'[a-z]+)?", text))


def _pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def _needs_tex():
    """The PDF tests need TeX (and poppler's pdftotext / pdftoppm); in CI (``CI=true``) they fail without it."""
    import shutil

    missing = [t for t in ("latexmk", "xelatex", "pdftotext", "pdftoppm") if shutil.which(t) is None]
    if missing and os.environ.get("CI") != "true":
        pytest.skip(f"{', '.join(missing)} not installed (make pdf needs TeX: see neurcomp/book/build.py)")
    assert not missing, f"{missing} missing in CI: .ci/run installs them"


def _check_pdf(pdf: Path, tmp_path: Path) -> str:
    """Every chapter's title and exercise heading, no unresolved reference, no raw LaTeX, pages that render."""
    text = _pdf_text(pdf)
    flat = re.sub(r"\s+", " ", text)
    for fact in build.chapter_facts():
        assert f"{fact['number']}. {fact['title']}" in flat, fact["title"]
        for k in range(1, fact["exercises"] + 1):
            assert f"Exercise {fact['number']}.{k} (" in flat, (fact["number"], k)
    assert "??" not in text and "$$" not in text
    # math that MyST did not parse reaches LaTeX as escaped text (code blocks escape a backslash as \PYGZbs{})
    tex = (pdf.parent / "_build" / "latex" / "neurcomp.tex").read_text()
    raw = [m.group(0) for m in re.finditer(r".{0,40}\\textbackslash\{\}[A-Za-z]{2,}.{0,20}", tex)
           if "sphinxupquote" not in m.group(0)]
    assert not raw, raw[:3]
    pages = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                                                               check=True).stdout).group(1))
    assert pages > 200
    from PIL import Image

    for page in (1, pages // 3, 2 * pages // 3):  # rendered, and not blank
        subprocess.run(["pdftoppm", "-r", "20", "-f", str(page), "-l", str(page), "-png", str(pdf),
                        str(tmp_path / "page")], check=True)
        png = sorted(tmp_path.glob("page*.png"))[-1]
        img = Image.open(png).convert("L")
        assert img.getextrema()[0] < 128, f"page {page} is blank"
        png.unlink()
    return flat


@pytest.mark.slow
def test_make_pdf_builds_the_whole_book_with_its_numbers_and_solutions(tmp_path):
    """`make pdf`: one PDF from the committed outputs, with every chapter, exercise and solution."""
    _needs_tex()
    flat = _check_pdf(build.build_pdf(tmp_path / "pdf"), tmp_path)
    assert "Figure 6.1 —" in flat and "(6.1)" in flat and "Solution to Exercise 6.1" in flat
    assert "Fig. 1:" not in flat and "click to reveal" not in flat  # LaTeX's own numbers and HTML-only text are off
    assert "Text and figures: CC BY 4.0" in flat and "code: MIT" in flat  # the licences, as in every page's footer
    plain = _words(flat)
    for p in CHAPTERS:
        assert any(phrase in plain for phrase in _solution_phrases(json.loads(p.read_text()))), p.name
    _check_chapter_pdfs(tmp_path / "pdf" / "chapters")


def _check_chapter_pdfs(folder: Path) -> None:
    """One PDF per chapter: the title and licence pages, then that chapter (its title, every exercise) and
    no page of the next."""
    facts = [f for f in build.chapter_facts() if f["number"]]
    assert sorted(p.stem for p in folder.glob("*.pdf")) == sorted(f["file"] for f in facts)
    for fact, after in zip(facts, facts[1:] + [None]):
        flat = re.sub(r"\s+", " ", _pdf_text(folder / f"{fact['file']}.pdf")).strip()
        assert flat.startswith("neurcomp: neural image compression you can run"), fact["file"]
        assert "Text and figures: CC BY 4.0" in flat and f"{fact['number']}. {fact['title']}".upper() in flat.upper()
        assert all(f"Exercise {fact['number']}.{k} (" in flat for k in range(1, fact["exercises"] + 1)), fact["file"]
        assert flat.count("Learning goals.") == 1, fact["file"]  # one chapter's opening, not the next one's
        assert after is None or f"Exercise {after['number']}.1 (" not in flat, fact["file"]


def _load_chapter_pdfs_extension():
    import importlib.util

    spec = importlib.util.spec_from_file_location("chapter_pdfs", ROOT / "book" / "_ext" / "chapter_pdfs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_download_menu_offers_a_chapter_pdf_only_when_it_is_current(tmp_path):
    """book/_ext/chapter_pdfs.py: a chapter page's menu gets "chapter PDF" for a PDF at least as new as the
    notebook; the build copies it into pdf/; a stale or missing PDF is not offered."""
    from types import SimpleNamespace

    ext = _load_chapter_pdfs_extension()
    src, pdfs, outdir = tmp_path / "src", tmp_path / "pdfs", tmp_path / "html"
    (src / "book").mkdir(parents=True)
    pdfs.mkdir()
    outdir.mkdir()
    (src / "_toc.yml").write_text("root: intro\nchapters:\n- file: book/01_a\n- file: book/02_b\n")
    for stem in ("01_a", "02_b"):
        (src / "book" / f"{stem}.ipynb").write_text("{}")
        (pdfs / f"{stem}.pdf").write_bytes(b"%PDF-1.5 " + stem.encode())
    os.utime(pdfs / "02_b.pdf", (1, 1))  # older than its chapter: stale
    app = SimpleNamespace(config=SimpleNamespace(nc_chapter_pdfs=str(pdfs)), srcdir=str(src), outdir=str(outdir),
                          builder=SimpleNamespace(format="html"))

    def menu(page):
        ctx = {"header_buttons": [{"label": "download-buttons", "buttons": [{"label": "download-source-button"}]}]}
        ext._menu(app, page, "page.html", ctx, None)
        return [b for b in ctx["header_buttons"][0]["buttons"] if b["label"] == "download-chapter-pdf-button"]

    assert [b["url"] for b in menu("book/01_a")] == ["../pdf/01_a.pdf"]
    assert menu("book/02_b") == [] and menu("intro") == []
    ext._copy(app, None)
    assert sorted(p.name for p in (outdir / "pdf").iterdir()) == ["01_a.pdf"]
    assert (outdir / "pdf" / "01_a.pdf").read_bytes() == (pdfs / "01_a.pdf").read_bytes()


def test_the_student_edition_offers_its_own_chapter_pdfs():
    assert build.config(student=True)["sphinx"]["config"]["nc_chapter_pdfs"].endswith("_build/pdf-student/chapters")
    assert build.config()["sphinx"]["config"]["nc_chapter_pdfs"].endswith("_build/pdf/chapters")


@pytest.mark.slow
def test_the_student_pdf_has_no_solution(tmp_path):
    _needs_tex()
    flat = _check_pdf(build.build_pdf(tmp_path / "pdf", student=True), tmp_path)
    plain = _words(flat)
    assert "Solution to" not in flat
    for p in CHAPTERS:
        for phrase in _solution_phrases(json.loads(p.read_text())):
            assert phrase not in plain, (p.name, phrase)
    _check_chapter_pdfs(tmp_path / "pdf" / "chapters")
    assert "Solution to" not in _pdf_text(tmp_path / "pdf" / "chapters" / "06_discretization_gap.pdf")
