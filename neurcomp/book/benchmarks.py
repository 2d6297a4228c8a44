"""The benchmark results the book reads: which script writes which file, with which command, and
whether a file is current for the installed weights.

Part of :mod:`neurcomp.book` (see there for units and conventions). The benchmark scripts in
``benchmarks/`` write results files (:mod:`neurcomp.results`: one :class:`~neurcomp.results.Record`
per image, rate point and method, and a ``provenance`` block) into ``benchmarks/results/``;
:data:`BENCHMARKS` lists each one with the command that regenerates it and the shipped networks
whose weights it depends on (``benchmarks/all.py`` runs them in this order). :func:`load_results`
reads those files and every other results file in the folder (``neurcomp eval --json`` writes
them too) and compares the weights fingerprints each recorded (the first 16 hex digits of the
weights' sha256) with the installed networks': ``current``, ``stale`` (recorded for other
weights), ``unrecorded`` (the file does not record them), ``not installed`` (a network it needs is
not shipped here), ``old format`` or ``missing``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .. import zoo
from ..results import ResultsFileError, is_results_file, read
from .chapter import shown_path

#: the repository root (``benchmarks/`` lives there in a checkout)
ROOT = Path(__file__).resolve().parents[2]


def results_dir() -> Path:
    """The folder with the benchmark JSONs: ``$NEURCOMP_RESULTS``, else ``benchmarks/results`` of the checkout.

    Examples
    --------
    >>> results_dir().name
    'results'
    """
    env = os.environ.get("NEURCOMP_RESULTS")
    return Path(env) if env else ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Benchmark:
    """One benchmark script run and the JSON it writes.

    Attributes
    ----------
    name : str
        Short name (``--only NAME`` of ``benchmarks/all.py``); the JSON is ``NAME.json``.
    script : str
        The script in ``benchmarks/``.
    args : tuple of str
        Its arguments (without ``--json``).
    weights : tuple of str
        The shipped networks (bases) whose weights the results depend on.
    minutes : float
        Expected wall time on 2 CPU cores, minutes (measured on this machine's runs).
    what : str
        What the chapter reads from it.
    needs : str
        Something the run needs besides the package ("" if nothing).
    """

    name: str
    script: str
    args: tuple
    weights: tuple
    minutes: float
    what: str
    needs: str = ""

    @property
    def json(self) -> str:
        return f"{self.name}.json"

    def command(self, out_dir: str | os.PathLike | None = None) -> list[str]:
        """The command line, run from the repository root (``--json`` into ``out_dir`` or the results folder).

        Examples
        --------
        >>> BENCHMARKS["vq"].command()[:3]
        ['python', 'benchmarks/vq.py', '--images']
        """
        out = Path(out_dir) / self.json if out_dir else Path("benchmarks") / "results" / self.json
        return ["python", f"benchmarks/{self.script}", *self.args, "--json", str(out)]

    def command_line(self) -> str:
        return " ".join(self.command())


_LAMBDAS = ("0.0018", "0.0067", "0.013", "0.0483")

#: every benchmark chapter 9 reads, in the order ``benchmarks/all.py`` runs them (cheap ones first)
BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in [
    Benchmark("baselines", "baselines.py", ("--images", "4"), (), 1,
              "JPEG, WebP, JPEG 2000 and AVIF (Pillow) on the first 4 Kodak images"),
    Benchmark("vq", "vq.py", ("--images", "6", "--crop", "256"), ("vq", "vq_alpha0"), 1,
              "the soft VQ autoencoder and its alpha = 0 ablation, 6 centre crops of 256 px"),
    Benchmark("dvae", "dvae.py", ("--images", "24"), ("dvae", "hdvae"), 16,
              "the discretized VAEs (one level, hierarchical), all 24 Kodak images"),
    Benchmark("rec_betas", "rec.py", ("--images", "2", "--methods", "seed", "orc-hint"), ("pln",), 10,
              "the PLN with REC at every beta, 2 Kodak images: the R-D curve"),
    Benchmark("codec", "codec.py", ("--images", "24", "--models", "fp", "mshp"), ("fp", "mshp"), 20,
              "the factorized prior and the hyperprior (amortized), JPEG and WebP, all 24 Kodak images"),
    Benchmark("rec", "rec.py", ("--images", "24", "--betas", "2", "--methods", "seed", "orc-hint"), ("pln",), 16,
              "the PLN with REC at the middle beta, all 24 Kodak images: actual rate / KL"),
    Benchmark("codec_compressai", "codec.py", ("--images", "4", "--models", "mshp", "--compressai-only",
                                               "--repeat", "3"), ("mshp",), 3,
              "our codec's speed against CompressAI's on the same architecture",
              needs="benchmarks/.venv-compressai (bash benchmarks/setup_compressai.sh)"),
    Benchmark("sga", "sga.py", ("--images", "4", "--crop", "128", "--steps", "2000", "--sga-steps", "500",
                                "--lambdas", *_LAMBDAS), ("mshp",), 150,
              "amortized vs SGA and its ablations A1-A4 (MAP, STE, uniform noise, det. annealing) at the paper's "
              "2000 steps, SGA also at 500, annealed; 4 crops of 128 px (resumable)"),
    Benchmark("bitsback", "bitsback.py", ("--images", "4", "--crop", "128", "--steps", "2000",
                                          "--lambdas", *_LAMBDAS), ("mshp", "bitsback"), 150,
              "amortized, SGA, SGA + bits-back and its ablations, 4 crops of 128 px; the archive curve (resumable)"),
    Benchmark("overfit", "overfit.py", ("--images", "6", "--crop", "256", "--preset", "fast", "--threads", "2"),
              ("mshp",), 70, "the overfitted codec (chapter 10; its two candidate widths fitted at once on 2 cores) "
              "against mshp amortized, JPEG, WebP and AVIF, 6 centre crops of 256 px (resumable)"),
    Benchmark("overfit_warm", "overfit.py", ("--images", "6", "--crop", "256", "--preset", "warm", "--threads", "2"),
              ("mshp",), 45, "the overfitted codec started from shipped networks (the warm preset) on overfit.json's "
              "crops (resumable)"),
    # after overfit.json: chapter 9 keeps the first file of equal rows, and overfit.json's amortized rows on these
    # crops are real files (container header included), as chapter 10 shows them
    Benchmark("sga_256", "sga.py", ("--images", "6", "--crop", "256", "--steps", "2000", "--sga-steps", "--methods", "sga",
                                    "--lambdas", *_LAMBDAS, "--threads", "1"), ("mshp",), 190,
              "amortized vs SGA at the paper's 2000 steps on chapter 10's 6 centre crops of 256 px (resumable)"),
]}


def installed_weights(bases: Iterable[str] | None = None) -> dict[str, str | None]:
    """``{base: first 16 hex digits of its sha256}`` of the installed networks (None if not installed).

    Examples
    --------
    >>> w = installed_weights(["mshp", "no_such_net"])
    >>> len(w["mshp"]), w["no_such_net"]
    (16, None)
    """
    found = {e["base"]: e["sha256"][:16] for e in zoo.list_models()}
    return {b: found.get(b) for b in (found if bases is None else bases)}


def recorded_weights(d: Mapping[str, Any]) -> dict[str, str] | None:
    """The weights fingerprints a results file recorded in ``provenance.weights``, ``{base: 16 hex digits}``,
    or None.

    Examples
    --------
    >>> recorded_weights({"provenance": {"weights": {"mshp": "82596837f06dc68f3a"}}})
    {'mshp': '82596837f06dc68f'}
    >>> recorded_weights({"records": []}) is None
    True
    """
    weights = (d.get("provenance") or {}).get("weights")
    if weights is None:
        return None
    return {b: (v or "")[:16] or None for b, v in weights.items()}


@dataclass
class Result:
    """One results file as read by :func:`load_results`: its :data:`BENCHMARKS` entry (None for another
    results file of the folder, e.g. from ``neurcomp eval``), the raw JSON, its records and status."""

    spec: Benchmark | None
    path: Path
    data: dict | None
    status: str  # current | stale | unrecorded | not installed | old format | missing
    detail: str = ""
    records: list = None  # list of neurcomp.results.Record
    verified: bool | None = None  # set by the chapter when the live subset reproduced its numbers

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def json(self) -> str:
        return self.path.name

    @property
    def ok(self) -> bool:
        return self.status == "current" or (self.status == "unrecorded" and bool(self.verified))

    @property
    def command(self) -> str:
        """The recorded command, else the one ``benchmarks/all.py`` runs for this file (marked so)."""
        prov = (self.data or {}).get("provenance") or {}
        if prov.get("command"):  # absolute paths of the machine that ran it shown as a reader's paths
            return " ".join(_reader_path(w) for w in prov["command"].split())
        return self.spec.command_line() + NOT_RECORDED if self.spec else "(not recorded)"

    @property
    def command_markdown(self) -> str:
        """:attr:`command` for a Markdown table: the command in code formatting (so that ``--`` stays two
        hyphens and it can be copied), the marker after it."""
        cmd = self.command
        if cmd.endswith(NOT_RECORDED):
            return f"`{cmd[: -len(NOT_RECORDED)]}`{NOT_RECORDED}"
        return cmd if cmd.startswith("(") else f"`{cmd}`"


def _reader_path(word: str) -> str:
    """A word of a recorded command as a reader may see it: an absolute path into a checkout of this repository
    (on whichever machine ran the command) from the repository's folder on, any other absolute path as
    :func:`~neurcomp.book.chapter.shown_path` shows it; the same on every machine that shows it.

    >>> _reader_path("/work/main/benchmarks/results/codec.json"), _reader_path("--json")
    ('benchmarks/results/codec.json', '--json')
    """
    if not word.startswith("/"):
        return word
    parts = Path(word).parts
    for top in ("benchmarks", "checkpoints", "configs", "runs", "book"):
        if top in parts[1:]:
            return "/".join(parts[parts.index(top, 1):])
    return shown_path(word)


#: after a command the results file did not record: the one ``benchmarks/all.py`` runs for it
NOT_RECORDED = " (not recorded; benchmarks/all.py's)"


def check(spec: Benchmark | None, d: Mapping[str, Any] | None, installed: Mapping[str, str | None] | None = None):
    """``(status, detail)`` of a results file against the installed weights (see the module docstring).

    ``spec`` None: a results file outside the registry, checked against the weights it recorded.

    Examples
    --------
    >>> spec = BENCHMARKS["codec"]
    >>> check(spec, None)[0]
    'missing'
    >>> check(spec, {"provenance": {"weights": {"fp": "0" * 64, "mshp": "1" * 64}}}, {"fp": "0" * 16, "mshp": "2" * 16})
    ('stale', 'mshp: recorded 1111111111111111, installed 2222222222222222')
    """
    if d is None:
        return "missing", "no file"
    rec = recorded_weights(d)
    bases = tuple(spec.weights) if spec else tuple(rec or ())
    installed = installed_weights(bases) if installed is None else installed
    absent = [b for b in bases if not installed.get(b)]
    if absent:
        return "not installed", f"{', '.join(absent)} not installed" + (
            f" (recorded {', '.join(f'{b} {rec.get(b)}' for b in absent if rec and rec.get(b))})" if rec else "")
    if spec and not spec.weights:
        return "current", "no network weights involved"
    if rec is None:
        return "unrecorded", "the file does not record the weights it used"
    diff = [f"{b}: recorded {rec.get(b)}, installed {installed[b]}" for b in bases if rec.get(b) != installed[b]]
    if diff:
        return "stale", "; ".join(diff)
    return "current", ", ".join(f"{b} {installed[b]}" for b in bases) or "no network weights involved"


def _load(spec: Benchmark | None, path: Path, installed: Mapping[str, str | None]) -> Result:
    if not path.is_file():
        return Result(spec, path, None, "missing", "no file", [])
    try:
        f = read(path)
    except ResultsFileError as e:
        return Result(spec, path, None, "old format", str(e), [])
    d = {**f.details, "provenance": f.provenance}
    bases = spec.weights if spec else tuple(recorded_weights(d) or ())
    status, detail = check(spec, d, {b: installed.get(b) for b in bases})
    return Result(spec, path, d, status, detail, f.records)


def load_results(folder: str | os.PathLike | None = None, names: Sequence[str] | None = None) -> dict[str, Result]:
    """Read the results files and check each against the installed weights.

    Parameters
    ----------
    folder : path, optional
        Where the files are (default :func:`results_dir`).
    names : sequence of str, optional
        Which benchmarks (default all of :data:`BENCHMARKS` and every other results file in the folder,
        e.g. one that ``neurcomp eval --json`` wrote).

    Returns
    -------
    dict
        ``{name: Result}`` (the file's stem), registered benchmarks first, in their order.
    """
    folder = Path(folder) if folder else results_dir()
    installed = installed_weights()
    out = {name: _load(BENCHMARKS[name], folder / BENCHMARKS[name].json, installed) for name in names or BENCHMARKS}
    if names is None:
        for path in sorted(folder.glob("*.json")):
            if path.stem not in out and is_results_file(path):
                out[path.stem] = _load(None, path, installed)
    return out


def recompute_all(out_dir: str | os.PathLike, names: Sequence[str] | None = None) -> int:
    """Run ``benchmarks/all.py --force --out OUT_DIR`` (the ``full`` profile): hours on a CPU; returns its exit code."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "all.py"), "--force", "--out", str(out_dir)]
    for n in names or ():
        cmd += ["--only", n]
    return subprocess.run(cmd, cwd=ROOT).returncode
