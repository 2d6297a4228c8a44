"""Regenerate every benchmark JSON that chapter 9 reads, in one documented, resumable sequence.

The sequence and each command live in ``neurcomp.book.synthesis.BENCHMARKS`` (so the chapter
shows the same commands); ``--list`` prints it with the expected times on 2 CPU cores (about
4.5 hours in all, most of it SGA and bits-back at 2000 steps). Each benchmark writes one JSON;
this script adds a ``provenance`` block to it: the command, the weights fingerprint (first 16
hex digits of the sha256) of every shipped network the results depend on, the date, the run
time and the versions (over the block the script wrote, keeping its run id).

Resumable per benchmark: a JSON that is *current* (its recorded fingerprints equal the
installed weights') is skipped unless ``--force``, so a long run can be split over several
sessions (``--only NAME``, repeatable) and an interrupted one continued by running it again.
Results are written atomically, only after the benchmark succeeded.

It refuses to mix results from different weights: the installed fingerprints are read before
and after every benchmark, and a JSON whose weights changed during its run is not written;
``--check`` exits 1 unless every JSON is current for the installed weights (``stale``: made with
other weights; ``unrecorded``: an older file that did not record them; ``not installed``: a
network it needs is not shipped here).

Usage (from the repository root; Kodak from $NEURCOMP_DATA/kodak):

    python benchmarks/all.py --list                 # the sequence, each JSON's status, expected minutes
    python benchmarks/all.py --dry-run              # print the commands that would run, run nothing
    python benchmarks/all.py                        # run every benchmark whose JSON is not current
    python benchmarks/all.py --only sga --only bitsback --force
    python benchmarks/all.py --force --out /tmp/results   # everything into another folder (chapter 9, full)
    python benchmarks/all.py --check                # exit 1 unless every JSON is current
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
try:
    import neurcomp  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import neurcomp  # noqa: E402
from neurcomp.book.synthesis import BENCHMARKS, check, installed_weights, results_dir  # noqa: E402
from neurcomp.fileio import atomic_write  # noqa: E402


def _status_rows(names, out: Path):
    rows = []
    for n in names:
        spec = BENCHMARKS[n]
        path = out / spec.json
        d = json.loads(path.read_text()) if path.is_file() else None
        status, detail = check(spec, d)
        rows.append((spec, status, detail))
    return rows


def _print_status(rows) -> None:
    total = sum(spec.minutes for spec, _, _ in rows)
    print(f"{'#':>2} {'benchmark':17s} {'status':13s} {'~min':>5}  depends on")
    for i, (spec, status, detail) in enumerate(rows, 1):
        print(f"{i:>2} {spec.name:17s} {status:13s} {spec.minutes:5.0f}  {', '.join(spec.weights) or '-'}"
              f"{'' if status == 'current' else '   (' + detail + ')'}")
    print(f"   expected in all: about {total / 60:.1f} h on 2 CPU cores")


def _needs_missing(spec) -> str | None:
    if spec.needs.startswith("benchmarks/.venv-compressai") and not (ROOT / "benchmarks" / ".venv-compressai").is_dir():
        return spec.needs
    return None


def run_one(spec, out: Path, threads_env: dict) -> tuple[bool, str]:
    """Run one benchmark into ``out``; returns ``(ok, message)``."""
    partial = out / f".{spec.name}.partial.json"
    cmd = spec.command(out)
    shown = " ".join(cmd)
    cmd = [sys.executable, *cmd[1:-1], str(partial)]
    before = installed_weights(spec.weights)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=threads_env)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        return False, f"exit code {proc.returncode} after {seconds:.0f} s; nothing written"
    after = installed_weights(spec.weights)
    if after != before:
        partial.unlink(missing_ok=True)
        return False, f"the installed weights changed during the run ({before} -> {after}): refusing to mix, not written"
    d = json.loads(partial.read_text())
    if isinstance(d.get("compressai"), dict) and d["compressai"].get("skipped"):
        partial.unlink(missing_ok=True)
        return False, f"skipped by the script: {d['compressai']['skipped']}"
    import torch

    d["provenance"] = {**(d.get("provenance") or {}), "command": shown, "weights": before, "written": dt.datetime.now(dt.timezone.utc).isoformat(
        timespec="seconds"), "seconds": round(seconds, 1), "by": "benchmarks/all.py", "neurcomp": neurcomp.__version__,
        "torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine()}
    atomic_write(out / spec.json, (json.dumps(d, indent=1) + "\n").encode())
    partial.unlink(missing_ok=True)
    return True, f"wrote {out / spec.json} ({seconds / 60:.1f} min)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="print the sequence and each JSON's status, run nothing")
    ap.add_argument("--dry-run", action="store_true", help="print the commands that would run, run nothing")
    ap.add_argument("--check", action="store_true", help="exit 1 unless every JSON is current for the installed weights")
    ap.add_argument("--only", action="append", choices=list(BENCHMARKS), metavar="NAME",
                    help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    ap.add_argument("--force", action="store_true", help="run even when the JSON is current")
    ap.add_argument("--out", help="folder for the JSONs (default benchmarks/results)")
    args = ap.parse_args(argv)

    out = Path(args.out) if args.out else results_dir()
    out.mkdir(parents=True, exist_ok=True)
    names = [n for n in BENCHMARKS if not args.only or n in args.only]
    rows = _status_rows(names, out)
    if args.list or args.check:
        print(f"results folder: {out}")
        _print_status(rows)
        if args.list:
            print()
            for spec, _, _ in rows:
                print(f"  {spec.name}: {spec.what}\n      {spec.command_line() if not args.out else ' '.join(spec.command(out))}"
                      + (f"\n      needs {spec.needs}" if spec.needs else ""))
        if args.check:
            bad = [spec.name for spec, status, _ in rows if status != "current"]
            if bad:
                print(f"\nnot current for the installed weights: {', '.join(bad)} -- these results must not be "
                      "mixed with the others; regenerate them (python benchmarks/all.py)")
                return 1
            print("\nevery JSON is current for the installed weights")
        return 0

    todo = [(spec, status) for spec, status, _ in rows if args.force or status != "current"]
    skipped = [spec.name for spec, status, _ in rows if not (args.force or status != "current")]
    if skipped:
        print(f"current, skipped (use --force to rerun): {', '.join(skipped)}")
    env = dict(os.environ)
    failed = []
    total = sum(spec.minutes for spec, _ in todo)
    done_min = 0.0
    t_all = time.perf_counter()
    for i, (spec, status) in enumerate(todo, 1):
        missing = _needs_missing(spec)
        head = f"[{i}/{len(todo)}] {spec.name} ({status}; expected ~{spec.minutes:g} min, {done_min:g}/{total:g} min done)"
        absent = [b for b, v in installed_weights(spec.weights).items() if not v]
        if missing or absent:
            print(f"{head}: skipped, needs {missing or ', '.join(absent) + ' (not installed)'}")
            failed.append(spec.name)
            continue
        print(f"{head}\n    {' '.join(spec.command(out if args.out else None))}", flush=True)
        if args.dry_run:
            done_min += spec.minutes
            continue
        ok, msg = run_one(spec, out, env)
        done_min += spec.minutes
        print(f"    {'ok' if ok else 'FAILED'}: {msg} ({(time.perf_counter() - t_all) / 60:.1f} min so far)", flush=True)
        if not ok:
            failed.append(spec.name)
    if args.dry_run:
        print(f"dry run: {len(todo)} benchmark(s), about {total / 60:.1f} h; nothing was run")
        return 0
    print()
    _print_status(_status_rows(names, out))
    if failed:
        print(f"failed or skipped: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
