"""Sphinx extension: the built book renders math and widgets with no network.

By default Sphinx loads MathJax, and MyST-NB loads require.js and the ipywidgets HTML manager,
from public CDNs: offline, every equation shows raw TeX and every widget is blank space. This
extension downloads pinned npm packages once (SHA-512 checked against the registry's integrity
field, cached outside the repository), unpacks the files the pages need into a folder that is
added to ``html_static_path``, and points ``mathjax_path`` and ``nb_ipywidgets_js`` at the copies
in ``_static/vendor/``. Nothing downloaded is committed.

Cache folder: ``$NEURCOMP_WEB_ASSETS``, else ``~/.cache/neurcomp/web``. Offline, put the three
``.tgz`` files named in :data:`PACKAGES` there (e.g. copied from a machine that built the book).

Run as a script to fetch (and check) the files without building: ``python book/_ext/offline_assets.py``.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

#: name -> (tarball URL, npm integrity (sha512, base64), members kept: path in the package -> path under vendor/)
PACKAGES: dict[str, tuple[str, str, dict[str, str]]] = {
    "mathjax-3.2.2.tgz": (
        "https://registry.npmjs.org/mathjax/-/mathjax-3.2.2.tgz",
        "Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
        {"es5/tex-mml-chtml.js": "mathjax/tex-mml-chtml.js", "es5/input/": "mathjax/input/",
         "es5/output/chtml/": "mathjax/output/chtml/", "es5/output/chtml.js": "mathjax/output/chtml.js",
         "es5/a11y/": "mathjax/a11y/", "es5/ui/": "mathjax/ui/", "es5/sre/": "mathjax/sre/",
         "es5/adaptors/": "mathjax/adaptors/", "LICENSE": "mathjax/LICENSE"},
    ),
    "requirejs-2.3.7.tgz": (
        "https://registry.npmjs.org/requirejs/-/requirejs-2.3.7.tgz",
        "DouTG8T1WanGok6Qjg2SXuCMzszOo0eHeH9hDZ5Y4x8Je+9JB38HdTLT4/VA8OaUhBa0JPVHJ0pyBkM1z+pDsw==",
        {"require.js": "require.js"},
    ),
    # the HTML manager of ipywidgets 8 (@jupyter-widgets/controls 5): embed-amd.js bundles the
    # standard widgets; the dist/ folder also holds the icon fonts its CSS refers to
    "html-manager-1.0.15.tgz": (
        "https://registry.npmjs.org/@jupyter-widgets/html-manager/-/html-manager-1.0.15.tgz",
        "5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
        {"dist/embed-amd.js": "html-manager/embed-amd.js", "dist/": "html-manager/", "LICENSE": "html-manager/LICENSE"},
    ),
}

#: what the pages load, relative to ``_static/`` (Sphinx prefixes ``_static/`` to a relative path)
MATHJAX_PATH = "vendor/mathjax/tex-mml-chtml.js"
IPYWIDGETS_JS = {
    "vendor/require.js": {},
    # ours (book/_ext/_static/): the manager's fonts from the local copy, and MathJax 3 for its MathJax 2 calls
    "widgets-offline.js": {},
    # standard widgets only: the CDN below would be asked for third-party widget modules, of which the book has none
    "vendor/html-manager/embed-amd.js": {"data-jupyter-widgets-cdn": "https://cdn.jsdelivr.net/npm/"},
}
_SKIP_SUFFIXES = (".map", ".d.ts")
_SKIP_NAMES = ("dist/embed.js", "dist/libembed-amd.js", "dist/embed.js.LICENSE.txt")


class AssetError(RuntimeError):
    """A web asset could not be downloaded or does not match its pinned checksum."""


def cache_dir() -> Path:
    """The cache folder: ``$NEURCOMP_WEB_ASSETS``, else ``~/.cache/neurcomp/web``."""
    env = os.environ.get("NEURCOMP_WEB_ASSETS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "neurcomp" / "web"


def _integrity(blob: bytes) -> str:
    return base64.b64encode(hashlib.sha512(blob).digest()).decode()


def _tarball(name: str, cache: Path) -> bytes:
    url, integrity, _ = PACKAGES[name]
    path = cache / name
    if path.is_file():
        blob = path.read_bytes()
        if _integrity(blob) == integrity:
            return blob
        path.unlink()  # a partial or altered file: fetch it again
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            blob = r.read()
    except (urllib.error.URLError, OSError) as e:
        raise AssetError(f"cannot download {url} ({e}); build once online, or put {name} into {cache} "
                         f"(or set NEURCOMP_WEB_ASSETS to a folder that has it)") from None
    if _integrity(blob) != integrity:
        raise AssetError(f"{url}: sha512 does not match the pinned npm integrity; refusing to use it")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(blob)
    tmp.replace(path)
    return blob


def _unpack(name: str, blob: bytes, vendor: Path) -> int:
    import io

    keep = PACKAGES[name][2]
    count = 0
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for m in tar.getmembers():
            if not m.isfile() or not m.name.startswith("package/"):
                continue
            rel = m.name[len("package/"):]
            if rel.endswith(_SKIP_SUFFIXES) or rel in _SKIP_NAMES:
                continue
            for src, dst in keep.items():
                if rel == src or (src.endswith("/") and rel.startswith(src)):
                    out = vendor / (dst + rel[len(src):] if src.endswith("/") else dst)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(m) as f:
                        out.write_bytes(f.read())
                    count += 1
                    break
    return count


def prepare(cache: Path | None = None) -> Path:
    """Download (once) and unpack the assets; return the folder to add to ``html_static_path``.

    The returned folder holds ``vendor/`` (copied by Sphinx to ``_static/vendor/``).
    """
    cache = cache_dir() if cache is None else Path(cache)
    key = hashlib.sha256("".join(sorted(v[1] for v in PACKAGES.values())).encode()).hexdigest()[:12]
    static = cache / f"static-{key}"
    if (static / ".complete").is_file():
        return static
    tmp = cache / f"static-{key}.part"
    shutil.rmtree(tmp, ignore_errors=True)
    for name in PACKAGES:
        if _unpack(name, _tarball(name, cache), tmp / "vendor") == 0:
            raise AssetError(f"{name}: none of the expected files found in the package")
    for rel in (MATHJAX_PATH, *(k for k in IPYWIDGETS_JS if k.startswith("vendor/"))):
        if not (tmp / rel).is_file():
            raise AssetError(f"{rel} missing after unpacking the web assets")
    (tmp / ".complete").write_text(key + "\n")
    shutil.rmtree(static, ignore_errors=True)
    tmp.replace(static)
    return static


def _on_config_inited(app, config) -> None:
    from sphinx.errors import ExtensionError

    try:
        static = prepare()
    except AssetError as e:
        raise ExtensionError(str(e)) from None
    config.html_static_path = [*config.html_static_path, str(static), str(Path(__file__).parent / "_static")]
    config.mathjax_path = MATHJAX_PATH
    config.nb_ipywidgets_js = {k: dict(v) for k, v in IPYWIDGETS_JS.items()}


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    # sphinx-thebe 0.3.1 registers its inline config twice, and the second copy throws
    # "Identifier 'THEBE_JS_URL' has already been declared"
    # (once with filename None, once with ""), so the key ignores that difference
    scripts = context.get("script_files")
    if isinstance(scripts, list):
        seen, unique = set(), []
        for js in scripts:
            key = (str(getattr(js, "filename", js) or ""), tuple(sorted(getattr(js, "attributes", {}).items())))
            if key not in seen:
                seen.add(key)
                unique.append(js)
        scripts[:] = unique


def setup(app):
    # after myst-nb's and jupyter-book's own config-inited handlers (priority 500)
    app.connect("config-inited", _on_config_inited, priority=900)
    app.connect("html-page-context", _dedupe_scripts, priority=100)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    try:
        print(prepare())
    except AssetError as e:
        sys.exit(f"error: {e}")
