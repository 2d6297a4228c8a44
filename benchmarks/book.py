"""Time the book in a compute profile: every chapter top to bottom, the HTML build, the total.

    python benchmarks/book.py                    # quick profile: each chapter, then the HTML render
    python benchmarks/book.py --build            # also the real `jupyter-book build` (executes all again)
    python benchmarks/book.py --only 03 --json out.json   # --only updates those rows of an existing JSON
    python benchmarks/book.py --inplace          # re-execute the committed notebooks (after re-shipped weights)

Each chapter of ``_toc.yml`` is executed in a fresh kernel (as the build does, working directory
``book/``) into a temporary copy, so the committed notebooks are not touched (``--inplace``: into the committed
notebooks themselves, the re-execution a re-shipped network needs, timed on the way). The HTML is then
rendered from the committed outputs (execution off; what the browser test builds), and with
``--build`` the README's build command runs end to end. Prints a table and writes JSON
(default ``benchmarks/results/book.json``; ``--inplace`` also records in each notebook the CPU it ran on, see
``neurcomp.book.nbcompare``): per chapter its seconds and whether it stayed under the
budget (default 180 s, the book's "about 3 minutes on 2 cores"), the render and build seconds, and
the machine (CPU count, load average, torch threads).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from _common import nan_to_none  # noqa: E402

try:
    import neurcomp  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))
from neurcomp.book import build as book_build  # noqa: E402
from neurcomp.book import nbcompare  # noqa: E402

chapters = book_build.chapters  # the notebooks of _toc.yml, in its order


def jupyter_book() -> str:
    jb = Path(sys.executable).with_name("jupyter-book")
    return str(jb) if jb.exists() else "jupyter-book"


def time_chapter(path: Path, env: dict, timeout: int, inplace: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        where = ["--inplace"] if inplace else ["--output-dir", tmp]
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", *where,
                               f"--ExecutePreprocessor.timeout={timeout}", str(path)],
                              env=env, capture_output=True, text=True, cwd=path.parent)
        seconds = time.perf_counter() - t0
    ok = proc.returncode == 0
    if inplace and ok:
        record_cpu(path)
    return {"chapter": path.stem, "seconds": round(seconds, 1), "ok": ok,
            "error": None if ok else (proc.stderr.strip().splitlines() or ["?"])[-1][:300]}


def record_cpu(path: Path) -> None:
    """Write the CPU that executed the notebook into its metadata (``neurcomp.executed_on``): nbval compares its
    float32 optimizations' digits strictly on that CPU, within a tolerance on others (neurcomp.book.nbcompare)."""
    nb = json.loads(path.read_text())
    nb.setdefault("metadata", {}).setdefault("neurcomp", {})[nbcompare.EXECUTED_ON] = nbcompare.cpu_fingerprint()
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def time_render(env: dict) -> float:
    """Seconds to render the HTML from the committed outputs (execution off), into a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "_config.yml").write_text(yaml.safe_dump(book_build.config(), sort_keys=False))
        t0 = time.perf_counter()
        subprocess.run([jupyter_book(), "build", str(ROOT), "--config", str(Path(tmp) / "_config.yml"),
                        "--path-output", tmp, "--warningiserror", "--keep-going", "--all", "-q"],
                       env=env, check=True, capture_output=True, text=True)
        return time.perf_counter() - t0


def time_build(env: dict) -> float:
    """Seconds of the README's build command (executes every chapter), into a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([jupyter_book(), "build", str(ROOT), "--path-output", tmp, "--warningiserror", "--keep-going",
                        "--all", "-q"], env=env, check=True, capture_output=True, text=True)
        return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick", choices=("quick", "full"))
    ap.add_argument("--only", nargs="*", help="chapter name prefixes, e.g. 03 05 (default: all)")
    ap.add_argument("--build", action="store_true", help="also time the real jupyter-book build")
    ap.add_argument("--budget", type=float, default=180.0, help="seconds a chapter may take (default 180)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "book.json")
    ap.add_argument("--inplace", action="store_true",
                    help="execute into the committed notebooks (their outputs are replaced) instead of copies")
    args = ap.parse_args(argv)

    env = {**os.environ, "NEURCOMP_PROFILE": args.profile}
    if env.get("NEURCOMP_DATA"):
        env["NEURCOMP_DATA"] = str(Path(env["NEURCOMP_DATA"]).resolve())  # the chapters run in book/
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    todo = [p for p in chapters() if not args.only or any(p.stem.startswith(o) for o in args.only)]
    if not todo:
        sys.exit(f"error: no chapter matches {args.only}")

    rows = []
    print(f"{'chapter':42s} {'seconds':>8s}  under {args.budget:.0f} s")
    for path in todo:
        row = time_chapter(path, env, args.timeout, args.inplace)
        row["under_budget"] = row["ok"] and row["seconds"] <= args.budget
        rows.append(row)
        print(f"{row['chapter']:42s} {row['seconds']:8.1f}  {'yes' if row['under_budget'] else 'NO'}"
              + ("" if row["ok"] else f"  FAILED: {row['error']}"), flush=True)
    render = time_render(env)
    total = sum(r["seconds"] for r in rows)
    print(f"{'HTML render (committed outputs)':42s} {render:8.1f}")
    print(f"{'chapters + render':42s} {total + render:8.1f}  ({(total + render) / 60:.1f} min)")
    build, build_note = None, None
    if args.build:
        build = time_build(env)
        print(f"{'jupyter-book build (executes all)':42s} {build:8.1f}  ({build / 60:.1f} min)")
    if args.only and args.json.is_file():  # a partial run updates its chapters' rows of an earlier full run
        earlier = json.loads(args.json.read_text())
        if earlier.get("profile") == args.profile:
            done = {r["chapter"] for r in rows}
            rows = sorted([r for r in earlier.get("chapters", []) if r["chapter"] not in done] + rows,
                          key=lambda r: r["chapter"])
            total = sum(r["seconds"] for r in rows)
            print(f"{'all chapters (with the earlier rows)':42s} {total + render:8.1f}  ({(total + render) / 60:.1f} min)")
    earlier = json.loads(args.json.read_text()) if args.json.is_file() else {}
    if build is None and earlier.get("profile") == args.profile and earlier.get("build_s") is not None:
        build, build_note = earlier["build_s"], earlier.get("build_note") or "measured by an earlier run"  # kept, marked
    result = {"profile": args.profile, "cpus": os.cpu_count(), "loadavg": list(os.getloadavg()),
              "budget_s": args.budget, "chapters": rows, "render_s": round(render, 1),
              "chapters_plus_render_s": round(total + render, 1), "build_s": None if build is None else round(build, 1)}
    if build_note:
        result["build_note"] = build_note
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(nan_to_none(result), indent=2) + "\n")
    print(f"wrote {args.json}")
    if args.json.resolve() == (ROOT / "benchmarks" / "results" / "book.json").resolve():
        (ROOT / "book" / "syllabus.md").write_text(book_build.syllabus())  # its run times come from book.json
        print("wrote book/syllabus.md")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
