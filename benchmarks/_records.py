"""Every benchmark's per-image rows as :class:`neurcomp.results.Record` s, and the one writer of results files.

Each benchmark script builds its own rows while it runs (with its own fields: ``lambda`` or ``beta``,
the payload's or the file's bits, ``seconds`` or ``enc_s``); this module is the one place that maps
them to records (one function per script in :data:`LAYOUTS`), and :func:`write` writes the results
file with its provenance (the command, a run id, the fingerprints of the installed weights the
records used). ``python benchmarks/_records.py --upgrade FILE ...`` rewrites a file of the layout
before ``neurcomp-results/1`` in place: its numbers and its recorded provenance are kept, and
weights it did not record stay unrecorded.
"""
from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
try:
    import neurcomp  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from neurcomp import results  # noqa: E402
from neurcomp.container import SIDE_INFO_METHODS  # noqa: E402
from neurcomp.evaluate import to_records  # noqa: E402
from neurcomp.models import MODEL_CLASSES  # noqa: E402
from neurcomp.book.benchmarks import installed_weights  # noqa: E402
from neurcomp.results import Record, group_name, row_label  # noqa: E402
from neurcomp.zoo import list_models  # noqa: E402

#: the network the other rows of a group are compared with (``role == "anchor"``): our amortized hyperprior
ANCHOR = "mshp"


@functools.lru_cache(maxsize=1)
def _entries() -> tuple:
    """The installed networks' cards, read once per run (a script converts hundreds of rows)."""
    return tuple(list_models())


def title(base: str) -> str:
    """What tables call the shipped network ``base`` (its class's ``title``, else its kind, else ``base``)."""
    kind = next((e["kind"] for e in _entries() if e["base"] == base), None)
    cls = MODEL_CLASSES.get(kind)
    return (cls.title or cls.kind) if cls else base


def model_name(base: str, value: float) -> str:
    """The shipped rate point of ``base`` at ``value`` (``"pln@150"``), else ``base@value``."""
    return next((e["name"] for e in _entries() if e["base"] == base and e["value"] == value), f"{base}@{value:g}")


def codec_records(rows, group: str) -> list[Record]:
    """Pillow codec rows (``codec, quality, bpp, psnr, ms_ssim, enc_s, dec_s, height, width, ...``)."""
    known = {"image", "codec", "quality", "bpp", "psnr", "ms_ssim", "ms_ssim_db", "enc_s", "dec_s", "height", "width"}
    return [Record(results.METHOD_LABELS[r["codec"]], group, r["image"], f"{r['codec']}@{r['quality']:g}", r["codec"],
                   r["quality"], r["codec"], r["bpp"], r["psnr"], ms_ssim=r.get("ms_ssim"), pixels=r["height"] * r["width"],
                   enc_s=r.get("enc_s"), dec_s=r.get("dec_s"), extra={k: v for k, v in r.items() if k not in known})
            for r in rows]


def network_records(rows, group: str) -> list[Record]:
    """:func:`neurcomp.evaluate.record` rows of shipped networks (one or more rate points each)."""
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        rs = [{k: v for k, v in r.items() if k not in ("base", "kind", "lambda", "ms_ssim_db")}
              for r in rows if r["model"] == model]
        base = model.split("@")[0]
        value = next((e["value"] for e in _entries() if e["name"] == model), None)
        out += to_records(rs, group, title(base), base, value, role="anchor" if base == ANCHOR else "")
    return out


def _crop_rows(rows, args, base_of, ideal_of) -> list[Record]:
    """SGA / bits-back rows on centre crops (``method, steps, lambda, bpp`` of the payload, ``est_bpp``, ...)."""
    group = group_name("kodak", args["crop"])
    known = {"image", "method", "steps", "lambda", "bpp", "est_bpp", "psnr", "seconds", "dec_s", "net_bpp"}
    out = []
    for r in rows:
        base = base_of(r["method"])
        steps = (r["steps"] or args["steps"]) if r["method"] in results.STEPPED_METHODS else None  # BBVI: args
        extra = {k: v for k, v in r.items() if k not in known}
        extra["rate"] = "payload"
        if "net_bpp" in r:
            extra["gross_bpp"] = r["bpp"]
        out.append(Record(row_label(title(base), base, r["method"], steps), group, r["image"],
                          model_name(base, r["lambda"]), base, r["lambda"], r["method"], r.get("net_bpp", r["bpp"]),
                          r["psnr"], steps=steps,
                          ideal_bpp=r["est_bpp"], ideal=ideal_of(r["method"]), pixels=args["crop"] ** 2,
                          enc_s=r.get("seconds"), dec_s=r.get("dec_s"),
                          role="anchor" if r["method"] == "amortized" and base == ANCHOR else "", extra=extra))
    return out


def _dataset(d) -> str:
    return d.get("dataset") or "kodak"


def _codec(d):
    group = _dataset(d).replace("held-out ", "")
    return network_records(d.get("records", []), group) + codec_records(d.get("baseline_records", []), group)


def _dvae(d):  # its JPEG sweep (jpeg_records) stays the script's own: codec.json's is the book's JPEG row
    return network_records(d["records"], group_name(_dataset(d), d.get("crop")))


def _rec(d):
    known = {"beta", "image", "height", "width", "method", "bpp", "kl_bpp", "psnr_rec", "enc_s", "dec_s"}
    base = "pln"  # rec.py codes the shipped probabilistic ladder network
    hw = [int(v) for v in "".join(c if c.isdigit() else " " for c in str(d.get("crop", ""))).split()]
    crop = tuple(hw) if len(hw) == 2 else None  # rec.py writes "full images" or "centre crops (H, W)"
    return [Record(row_label(title(base), base, r["method"]), group_name("kodak", crop), r["image"],
                   model_name(base, r["beta"]), base, r["beta"], r["method"], r["bpp"], r["psnr_rec"],
                   ideal_bpp=r["kl_bpp"], ideal="KL", pixels=r["height"] * r["width"], enc_s=r["enc_s"],
                   dec_s=r["dec_s"], extra={k: v for k, v in r.items() if k not in known}) for r in d["records"]]


def _vq(d):
    crop = d["args"]["crop"]
    known = {"image", "model", "bpp", "est_bpp", "psnr", "ms_ssim", "enc_s", "dec_s"}
    values = {t["model"]: t["lambda"] for t in d.get("table", [])}
    return [Record(row_label(title(r["model"]), r["model"], "amortized"), group_name("kodak", crop), r["image"],
                   model_name(r["model"], values.get(r["model"])) if values.get(r["model"]) else r["model"],
                   r["model"], values.get(r["model"]), "amortized", r["bpp"], r["psnr"], ms_ssim=r.get("ms_ssim"),
                   ideal_bpp=r["est_bpp"], ideal="information content", pixels=crop ** 2, enc_s=r["enc_s"],
                   dec_s=r["dec_s"], extra={k: v for k, v in r.items() if k not in known}) for r in d["records"]]


def _sga(d):
    return _crop_rows(d["records"], d["args"], lambda m: d["args"].get("model", "mshp"),
                      lambda m: "information content")


def _bitsback(d):
    return _crop_rows(d["records"], d["args"], lambda m: "bitsback" if m in SIDE_INFO_METHODS else "mshp",
                      lambda m: "NELBO" if m in SIDE_INFO_METHODS else "information content")


#: ``{layout: (records from the script's output, the keys that held its raw rows)}``
LAYOUTS = {"baselines": (lambda d: codec_records(d["records"], _dataset(d)), ("records",)),
           "codec": (_codec, ("records", "baseline_records")),
           "dvae": (_dvae, ("records",)),
           "rec": (_rec, ("records",)),
           "vq": (_vq, ("records",)),
           "sga": (_sga, ("records",)),
           "bitsback": (_bitsback, ("records", "weights"))}
#: the layout of each results file name
FILE_LAYOUT = {"baselines": "baselines", "codec": "codec", "codec_held_out": "codec", "codec_compressai": "codec", "dvae": "dvae", "rec": "rec",
               "rec_betas": "rec", "vq": "vq", "sga": "sga", "sga_256": "sga",
               "bitsback": "bitsback"}


def _recorded_weights(d) -> dict | None:
    """What a file of the older layout recorded about its weights (None: nothing)."""
    if (d.get("provenance") or {}).get("weights") is not None:
        return d["provenance"]["weights"]
    if isinstance(d.get("models"), dict):
        return {b: m.get("sha256", "")[:16] for b, m in d["models"].items()}
    if isinstance(d.get("weights"), dict):
        return {n.split("@")[0]: v[:16] for n, v in d["weights"].items()}
    return None


def write(path, layout: str, d: dict, **more):
    """Write a benchmark's output ``d`` (its own layout ``layout``) as a results file at ``path``,
    recording the installed weights of every network its records used (``more``: further provenance, e.g.
    the ``run_id`` and number of ``starts`` of a run that was interrupted and went on)."""
    to_recs, raw = LAYOUTS[layout]
    recs = to_recs(d)
    bases = {r.base for r in recs if r.method not in results.CODECS}
    bases |= set(d.get("models") or {})  # the networks a run timed without writing records (codec.py --compressai-only)
    prov = results.provenance(weights=installed_weights(sorted(bases)), **more)
    return results.write(path, recs, prov, **{k: v for k, v in d.items() if k not in raw and k != "provenance"})


def upgrade(path: Path, layout: str | None = None) -> str:
    """Rewrite a results file of the older layout in place; returns what was done (one line)."""
    d = json.loads(path.read_text())
    if d.get("format") == results.FORMAT:
        return f"{path.name}: already {results.FORMAT}"
    layout = layout or FILE_LAYOUT[path.stem]
    to_recs, raw = LAYOUTS[layout]
    recs = to_recs(d)
    prov = dict(d.get("provenance") or {})
    weights = _recorded_weights(d)
    if weights is None:
        prov.pop("weights", None)
    else:
        prov["weights"] = weights
    if d.get("command") and "command" not in prov:
        prov["command"] = "python " + d["command"]
    prov["upgraded"] = {"from": "the per-benchmark layout before neurcomp-results/1", "by": "benchmarks/_records.py",
                        "on": dt.date.today().isoformat()}
    results.write(path, recs, prov, **{k: v for k, v in d.items() if k not in raw and k not in ("provenance", "command")})
    return f"{path.name}: {len(recs)} records ({layout} layout) -> {results.FORMAT}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upgrade", nargs="+", metavar="FILE", required=True, help="results files to rewrite in place")
    ap.add_argument("--layout", choices=list(LAYOUTS), help="their layout (default: from the file name)")
    a = ap.parse_args(argv)
    for f in a.upgrade:
        print(upgrade(Path(f), a.layout))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
