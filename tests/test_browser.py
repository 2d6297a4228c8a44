"""The built book as a reader's browser shows it, with the network off.

The book is built from the committed notebooks (their outputs are what nbval checks; nothing is
executed here, so the build takes seconds) with warnings as errors, into ``_build/browser-test/``.
Then headless Chromium, with every network request refused, opens every page of ``_toc.yml`` and checks:

- every figure is there and is not empty (loaded, and not one flat colour); figures captioned in
  their cell are <figure>s with the caption and real alt text (not a file path); no figure is shown
  at under 60 % of its natural width (its fonts would shrink below legibility);
- no table or printed output is clipped or runs past the text column (wide ones scroll);
- no Markdown table is left as a line of pipes;
- math is rendered by the local MathJax (no raw ``\\(``, ``\\[`` or ``$$`` left in the text, no TeX errors);
- every widget renders, and moving each slider of a pre-rendered explorer changes what is shown;
- exercises are numbered by chapter ("Exercise 7.2", sphinx-exercise), every exercise has one solution,
  and every solution is hidden by a toggle that opens it, links to its exercise ("Solution to Exercise 7.2")
  and holds the figures (with their captions) of its code cells;
- nothing was requested from the network and the console shows no errors;
- no internal link is broken (file and anchor).

One screenshot per page (scrolled to its first explorer, else its first display equation) is saved
to ``_build/browser-test/screenshots/`` for review.

Needs ``chromium`` and ``chromedriver`` (Debian: ``apt-get install chromium chromium-driver``) and
``selenium``: without them the test is skipped locally and fails in CI (``CI=true``), where
``.ci/run`` installs them. ``NEURCOMP_BOOK_HTML=path/to/_build/html`` checks an existing build instead.
"""
from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from conftest import toc_pages

from neurcomp.book.build import build_html

yaml = pytest.importorskip("yaml")
nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "browser-test"
IN_CI = os.environ.get("CI", "").lower() == "true"
CHROME_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1400",
                # every http(s) request goes to a closed port: the pages must work offline
                "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]


def _missing_tools() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if not (_chromium() and shutil.which("chromedriver")):
        return "chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver)"
    return None


def _chromium() -> str | None:
    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


PAGES = toc_pages()


@pytest.fixture(scope="module")
def html_root() -> Path:
    why = _missing_tools()
    if why:
        if IN_CI:
            pytest.fail(f"browser test cannot run in CI: {why}")
        pytest.skip(why)
    given = os.environ.get("NEURCOMP_BOOK_HTML")
    if given:
        root = Path(given).resolve()
        if not (root / "index.html").is_file():
            pytest.fail(f"NEURCOMP_BOOK_HTML={given} has no index.html")
        return root
    # the repository's _config.yml, but rendering the committed outputs instead of executing
    shutil.rmtree(OUT, ignore_errors=True)
    proc = build_html(OUT, timeout=900)
    assert proc.returncode == 0, (f"the book does not build with zero warnings (log: {OUT / 'build.log'}):\n"
                                  + "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                                              if "WARNING" in line or "ERROR" in line or "rror" in line)[-3000:])
    return OUT / "_build" / "html"


@pytest.fixture(scope="module")
def browser(html_root):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = _chromium()
    profile = OUT / "chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    for flag in [*CHROME_FLAGS, f"--user-data-dir={profile}"]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.set_page_load_timeout(60)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions",
                           {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


# --------------------------------------------------------------------------- in-page probes (JavaScript)

WAIT_READY = """
const done = arguments[arguments.length - 1];
const t0 = Date.now();
function views() { return Array.from(document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')); }
function rendered() { return views().filter(s => s.parentElement.querySelector('.jupyter-widgets')).length; }
function poll() {
  const mj = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
  const mathReady = !document.querySelector('.math') || (mj && window.MathJax.typesetPromise);
  if (document.readyState === 'complete' && mathReady && rendered() === views().length) {
    (mj ? window.MathJax.startup.promise : Promise.resolve()).then(() => done({ok: true, ms: Date.now() - t0}));
  } else if (Date.now() - t0 > 45000) {
    done({ok: false, views: views().length, rendered: rendered(), mathjax: !!mj, ready: document.readyState});
  } else { setTimeout(poll, 200); }
}
poll();
"""

PAGE_FACTS = """
const article = document.querySelector('main article') || document.querySelector('article') || document.body;
const clone = article.cloneNode(true);
clone.querySelectorAll('pre, code, script, style, mjx-container, .highlight, textarea').forEach(e => e.remove());
const imgs = Array.from(article.querySelectorAll('img')).filter(i => !i.closest('.jupyter-widgets'));
return {
  text: clone.textContent,
  math: document.querySelectorAll('.math').length,
  mathRendered: document.querySelectorAll('.math mjx-container').length,
  mathUnrendered: Array.from(document.querySelectorAll('.math')).filter(m => !m.querySelector('mjx-container'))
                       .map(m => m.textContent.slice(0, 80)),
  mathErrors: Array.from(document.querySelectorAll('mjx-merror')).map(e => e.getAttribute('data-mjx-error') || e.textContent),
  figures: imgs.map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0 && i.naturalHeight > 0})),
  views: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
  widgetErrors: Array.from(document.querySelectorAll('.jupyter-widgets')).filter(w => /Error|error/.test(w.className))
                       .map(w => w.textContent.slice(0, 120)),
  sliders: document.querySelectorAll('.widget-slider .noUi-handle').length,
  // a figure shown narrower than 60 % of its natural width has its fonts shrunk below legibility
  shrunk: imgs.filter(i => (i.getAttribute('src') || '').includes('_images/') && i.getBoundingClientRect().width > 0
                           && i.getBoundingClientRect().width < 0.6 * i.naturalWidth)
              .map(i => ({src: i.getAttribute('src'), shown: Math.round(i.getBoundingClientRect().width),
                          natural: i.naturalWidth})),
  // a table or printed output that is wider than its box and cannot be scrolled, or runs past the column
  clipped: Array.from(article.querySelectorAll('table, .cell_output pre, .output pre, .cell_output .output'))
               .filter(e => e.getBoundingClientRect().width > 0)
               .filter(e => (e.scrollWidth > e.clientWidth + 2 && !['auto', 'scroll'].includes(getComputedStyle(e).overflowX))
                            || e.getBoundingClientRect().right > article.getBoundingClientRect().right + 2)
               .map(e => e.tagName + ': ' + e.textContent.trim().slice(0, 60)),
  captioned: Array.from(article.querySelectorAll('figure')).filter(f => f.querySelector('img[src*="_images/"]'))
               .map(f => ({alt: f.querySelector('img').getAttribute('alt') || '',
                           caption: (f.querySelector('figcaption') || {textContent: ''}).textContent.trim()})),
};
"""

# what an explorer shows: the images and texts of its widgets that are visible right now
EXPLORER_VIEW = """
const handle = document.querySelectorAll('.widget-slider .noUi-handle')[arguments[0]];
const root = handle.closest('.widget-subarea') || handle.closest('.cell_output');
const visible = e => e.offsetParent !== null && e.getBoundingClientRect().width > 0;
return {
  images: Array.from(root.querySelectorAll('img')).filter(visible)
               .map(i => ({src: i.src, ok: i.complete && i.naturalWidth > 0})),
  text: Array.from(root.querySelectorAll('.widget-html-content')).filter(visible).map(e => e.textContent).join(' | '),
  readout: Array.from(root.querySelectorAll('.widget-readout')).map(e => e.textContent).join(' | '),
  at: handle.getAttribute('aria-valuenow'), max: handle.getAttribute('aria-valuemax'),
};
"""


# sphinx-exercise's exercises and solutions (solutions hidden by sphinx-togglebutton's .admonition.dropdown)
EXERCISES = """
const article = document.querySelector('main article') || document.querySelector('article') || document.body;
const title = e => (e.querySelector(':scope > .admonition-title') || {textContent: ''}).textContent.replace(/\\s+/g, ' ').trim();
const content = s => s.querySelector(':scope > .admonition-title ~ *');
const shown = s => { const c = content(s); return !!c && getComputedStyle(c).visibility !== 'hidden' && c.getBoundingClientRect().height > 0; };
return {
  exercises: Array.from(article.querySelectorAll('div.exercise.admonition')).map(e => ({id: e.id, title: title(e)})),
  solutions: Array.from(article.querySelectorAll('div.solution.admonition')).map(s => {
    const link = s.querySelector(':scope > .admonition-title a.reference.internal');
    const head = s.querySelector(':scope > .admonition-title');
    const hiddenAtFirst = s.classList.contains('toggle-hidden') && !shown(s);
    head.click();                       // the reader opens it ...
    const opens = !s.classList.contains('toggle-hidden') && shown(s);
    head.click();                       // ... and closes it again
    return {title: title(s), href: link ? link.getAttribute('href') : null, link: link ? link.textContent.trim() : '',
            dropdown: s.classList.contains('dropdown'), hiddenAtFirst: hiddenAtFirst, opens: opens,
            closes: s.classList.contains('toggle-hidden'),
            figures: s.querySelectorAll('figure img[src*="_images/"]').length};
  }),
};
"""


def _chapter_notebook(page: str):
    """The notebook of a chapter page, None for a Markdown page."""
    path = ROOT / f"{page}.ipynb"
    return nbformat.read(path, as_version=4) if path.is_file() else None


def _nb_exercises(page: str) -> tuple[int, int] | None:
    """(exercises, captioned figure outputs inside gated solutions) of a chapter, None for a page."""
    nb = _chapter_notebook(page)
    if nb is None:
        return None
    exercises = figures = 0
    gated = False
    for c in nb.cells:
        if c.cell_type == "markdown":
            for kind in re.findall(r"^:::\{(exercise|solution-start|solution-end)\}", c.source, re.M):
                exercises += kind == "exercise"
                gated = {"solution-start": True, "solution-end": False}.get(kind, gated)
        elif gated and c.metadata.get("mystnb", {}).get("figure", {}).get("caption"):
            figures += sum(1 for o in c.get("outputs", []) if {"image/png", "image/svg+xml"} & set(o.get("data", {})))
    return exercises, figures


def _check_exercises(browser, page: str) -> None:
    expected = _nb_exercises(page)
    facts = browser.execute_script(EXERCISES)
    exercises, solutions = facts["exercises"], facts["solutions"]
    if expected is None or not expected[0]:
        assert not exercises and not solutions, f"{page}: exercises or solutions on a page without exercises"
        return
    chapter = int(re.match(r"(\d+)_", Path(page).name).group(1))
    assert len(exercises) == expected[0], f"{page}: {len(exercises)} exercises on the page, the notebook has {expected[0]}"
    for k, ex in enumerate(exercises, 1):
        assert ex["id"] == f"ch{chapter}-ex{k}", f"{page}: exercise {k} has the id {ex['id']!r}"
        assert re.match(rf"Exercise {chapter}\.{k}\b", ex["title"]), (
            f"{page}: exercise {k} is titled {ex['title']!r}, not numbered 'Exercise {chapter}.{k}'")
    ids = [ex["id"] for ex in exercises]
    targets = [s["href"] for s in solutions]
    assert sorted(targets, key=str) == sorted(f"#{i}" for i in ids), (
        f"{page}: every exercise has one solution that links to it; the solutions link to {targets}")
    for s in solutions:
        k = int(s["href"].rsplit("-ex", 1)[1])
        assert s["title"].startswith("Solution to") and s["link"].startswith(f"Exercise {chapter}.{k}"), (
            f"{page}: the solution titled {s['title']!r} does not name its exercise {chapter}.{k}")
        assert s["dropdown"] and s["hiddenAtFirst"], f"{page}: the solution to exercise {chapter}.{k} is not hidden"
        assert s["opens"] and s["closes"], f"{page}: the toggle of the solution to exercise {chapter}.{k} does not work"
    inside = sum(s["figures"] for s in solutions)
    assert inside == expected[1], (
        f"{page}: {inside} captioned figures inside the solutions, the notebook's solutions draw {expected[1]}")


def _flat(png: Path) -> bool:
    from PIL import Image

    with Image.open(png) as im:
        extrema = im.convert("RGB").getextrema()
    return all(lo == hi for lo, hi in extrema)


def _nb_image_outputs(page: str) -> tuple[int, int] | None:
    """(image outputs, cells with a figure caption in their metadata) of a chapter, None for a page."""
    nb = _chapter_notebook(page)
    if nb is None:
        return None
    n = captioned = 0
    for c in nb.cells:
        if c.cell_type != "code" or {"remove-output", "remove-cell"} & set(c.metadata.get("tags", [])):
            continue
        k = sum(1 for o in c.get("outputs", []) if "image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {}))
        n += k
        captioned += k if c.metadata.get("mystnb", {}).get("figure", {}).get("caption") else 0
    return n, captioned


def _network_requests(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            url = msg["params"]["request"]["url"]
            if url.startswith(("http:", "https:", "ws:", "wss:")):
                urls.append(url)
    return urls


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_offline(browser, html_root, page):
    from selenium.webdriver.common.keys import Keys

    target = html_root / f"{page}.html"
    assert target.is_file(), f"{target} was not built"
    browser.get_log("browser"), browser.get_log("performance")  # drop what earlier pages left
    browser.get(target.as_uri())
    state = browser.execute_async_script(WAIT_READY)
    assert state["ok"], f"{page}: page did not finish rendering in 45 s: {state}"
    facts = browser.execute_script(PAGE_FACTS)

    # figures: every image output of the notebook is on the page, loaded, and not one flat colour
    figures = [f for f in facts["figures"] if "_images/" in (f["src"] or "")]
    expected = _nb_image_outputs(page)
    if expected is not None:
        assert len(figures) >= expected[0], f"{page}: {len(figures)} figures on the page, the notebook has {expected[0]}"
        assert len(facts["captioned"]) == expected[1], (
            f"{page}: {len(facts['captioned'])} captioned <figure>s on the page, the notebook captions {expected[1]}")
    bad = [f for f in facts["captioned"] if "_images/" in f["alt"] or not f["alt"] or not f["caption"].startswith("Figure")]
    assert not bad, f"{page}: figures with a file path or nothing as alt text, or without a caption: {bad[:3]}"
    broken = [f["src"] for f in facts["figures"] if not f["ok"]]
    assert not broken, f"{page}: images that did not load: {broken}"
    flat = [f["src"] for f in figures if _flat((target.parent / unquote(f["src"])).resolve())]
    assert not flat, f"{page}: empty (single-colour) figures: {flat}"
    assert not facts["shrunk"], f"{page}: figures shown at under 60 % of their natural width: {facts['shrunk'][:3]}"
    assert not facts["clipped"], f"{page}: tables or outputs clipped or wider than the text column: {facts['clipped'][:3]}"

    # math: rendered by MathJax, no TeX left as text, no TeX errors
    assert not facts["mathUnrendered"], f"{page}: math not rendered: {facts['mathUnrendered'][:5]}"
    raw = re.findall(r".{0,30}(?:\\\(|\\\[|\$\$|\\begin\{).{0,30}", facts["text"])
    pipes = re.findall(r".{0,30}\|\s*---\s*\|.{0,30}", facts["text"])
    assert not pipes, f"{page}: a Markdown table shown as text: {pipes[:3]}"
    assert not raw, f"{page}: raw TeX in the text: {raw[:5]}"
    assert not facts["mathErrors"], f"{page}: TeX errors: {facts['mathErrors'][:5]}"
    # no path of the machine that built the book (data folder, checkout, temp files, a default's value)
    paths = re.findall(r".{0,30}(?<![\w.])/(?:work|home|root|tmp|Users)/\S*", facts["text"])
    assert not paths, f"{page}: absolute filesystem paths on the page: {paths[:3]}"

    # widgets: every widget view rendered; every slider changes what its explorer shows
    assert not facts["widgetErrors"], f"{page}: widget errors: {facts['widgetErrors']}"
    screenshot_at = "document.querySelector('div.math') || document.querySelector('.math')"
    for i in range(facts["sliders"]):
        before = browser.execute_script(EXPLORER_VIEW, i)
        assert before["images"] or before["text"], f"{page}: explorer of slider {i} shows nothing"
        assert all(im["ok"] for im in before["images"]), f"{page}: explorer of slider {i} has an image that did not load"
        handle = browser.execute_script(
            "const h = document.querySelectorAll('.widget-slider .noUi-handle')[arguments[0]];"
            "h.scrollIntoView({block: 'center'}); return h;", i)
        key = Keys.ARROW_LEFT if before["at"] == before["max"] else Keys.ARROW_RIGHT
        handle.send_keys(key)
        deadline, after = time.time() + 5, before
        while time.time() < deadline and (after["images"], after["text"]) == (before["images"], before["text"]):
            time.sleep(0.1)
            after = browser.execute_script(EXPLORER_VIEW, i)
        assert after["at"] != before["at"], f"{page}: slider {i} did not move ({before['readout']})"
        assert (after["images"], after["text"]) != (before["images"], before["text"]), (
            f"{page}: moving slider {i} from {before['readout']!r} to {after['readout']!r} did not change the picture")
        assert all(im["ok"] for im in after["images"]), f"{page}: explorer of slider {i} has an image that did not load"
        screenshot_at = "document.querySelector('.widget-slider')"

    # exercises: numbered, each with one hidden solution that links to it and holds its figures
    _check_exercises(browser, page)

    # offline: nothing asked of the network, nothing in the console
    requests = _network_requests(browser)
    assert not requests, f"{page}: requests to the network: {requests[:5]}"
    errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"{page}: console errors: {errors[:5]}"

    shots = OUT / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    browser.execute_script(f"const e = {screenshot_at}; if (e) e.scrollIntoView({{block: 'start'}}); "
                           "else window.scrollTo(0, 0);")
    time.sleep(0.2)
    browser.save_screenshot(str(shots / f"{Path(page).name}.png"))


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])


def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def test_no_broken_internal_links(html_root):
    pages = [html_root / "index.html", *(html_root / f"{p}.html" for p in PAGES)]
    parsed: dict[Path, _Links] = {}
    broken = []
    for page in pages:
        links = parsed.setdefault(page, _parse(page))
        for href in links.hrefs:
            parts = urlsplit(href)
            if parts.scheme or href.startswith(("//", "mailto:", "javascript:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not target.exists():
                broken.append(f"{page.relative_to(html_root)}: {href} (no such file)")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = parsed.setdefault(target, _parse(target)).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(html_root)}: {href} (no such anchor)")
    assert not broken, f"{len(broken)} broken internal links: {broken[:10]}"


SLIDE_FACTS = """
const done = arguments[arguments.length - 1];
const t0 = Date.now();
function poll() {
  const mj = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
  if (document.readyState === 'complete' && mj) {
    window.MathJax.startup.promise.then(() => {
      const slides = Array.from(document.querySelectorAll('.slide'));
      const current = () => slides.findIndex(s => s.classList.contains('current'));
      const first = current();
      document.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowRight'}));
      const moved = current();
      const text = slides.map(s => s.innerText).join('\\n');
      done({ok: true, n: slides.length, first: first, moved: moved,
            imgs: Array.from(document.images).map(i => ({ok: i.complete && i.naturalWidth > 0, alt: i.alt})),
            mathErrors: Array.from(document.querySelectorAll('mjx-merror')).map(e => e.textContent),
            math: document.querySelectorAll('mjx-container').length, text: text});
    });
  } else if (Date.now() - t0 > 30000) { done({ok: false, mathjax: !!mj}); } else { setTimeout(poll, 200); }
}
poll();
"""


@pytest.mark.parametrize("page", [p for p in PAGES if re.search(r"/\d+_", p)])
def test_slides_render_offline(browser, html_root, page):
    """The chapter's deck (linked from its page): MathJax from the local copy, its figures, arrow keys move."""
    deck = html_root / "slides" / f"{page.rsplit('/', 1)[-1]}.html"
    assert deck.is_file(), f"{deck} was not built"
    assert f"slides/{deck.name}" in (html_root / f"{page}.html").read_text(), f"{page} does not link its slides"
    browser.get_log("browser"), browser.get_log("performance")
    browser.get(deck.as_uri())
    facts = browser.execute_async_script(SLIDE_FACTS)
    assert facts["ok"], f"{deck.name}: MathJax did not load offline: {facts}"
    assert facts["n"] >= 5 and facts["first"] == 0 and facts["moved"] == 1, facts
    assert facts["imgs"] and all(i["ok"] and i["alt"] for i in facts["imgs"]), facts["imgs"]
    assert facts["math"] > 0 and not facts["mathErrors"], facts["mathErrors"][:3]
    raw = re.findall(r".{0,30}(?:\\\(|\\\[|\$\$|\{cite\}|\{ref\}|\{eq\}).{0,30}", facts["text"])
    assert not raw, f"{deck.name}: raw TeX or MyST in the slides: {raw[:3]}"
    requests = [e for e in browser.get_log("performance") if '"Network.requestWillBeSent"' in e["message"]
                and re.search(r'"url":"https?://', e["message"])]
    assert not requests, f"{deck.name}: network requests: {requests[:2]}"


def test_slide_equation_numbers_are_the_pages(html_root):
    """Every labelled equation has the same number on a slide as on its chapter's page."""
    from neurcomp.book import slides

    for page in [p for p in PAGES if re.search(r"/\d+_", p)]:
        shown = dict(re.findall(r'id="equation-([^"]+)">\s*<span class="eqno">\(([\d.]+)\)',
                                (html_root / f"{page}.html").read_text()))
        nb = nbformat.read(ROOT / f"{page}.ipynb", as_version=4)
        labels = [m.group(2).strip() for c in nb.cells if c.cell_type == "markdown"
                  for m in slides._EQUATION.finditer(c.source)]
        n = int(page.rsplit("/", 1)[-1][:2])
        assert {lab: f"{n}.{k}" for k, lab in enumerate(labels, 1)} == shown, page
