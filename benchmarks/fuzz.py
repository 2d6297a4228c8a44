"""A fuzz campaign over every method that writes streams: forged, damaged and spliced ``.ncz`` files.

Base streams: two small images (crops of Kodak photos, or a synthetic photo-like image without data)
coded with every shipped network's middle rate point and default method (amortized for the
transform coders, the discretized VAEs and VQ; ``rec`` for the PLN) and with SGA. Each case mutates
one base stream, decodes it in this process under a time cap (``signal.alarm``) while watching the
peak memory, and is classified as ``BitstreamError``, ``other exception``, ``hang``, ``memory
blow-up`` or ``image returned``.

Half of the mutations leave the container's CRC-32 broken (truncations, bit and byte flips, splices
of two streams); the other half *recompute* it, so the deeper decoders see them: emptied, reordered,
duplicated, dropped or extended sections, trailing or missing section bytes, bits flipped inside a
section, huge or random image sizes, another method id, random ``extra`` bytes, another rate point's
or another model's name, and sections spliced in from other streams.

Pass criteria (exit code 1 otherwise): no exception other than ``BitstreamError``, no hang, no memory
blow-up, no image returned for a stream whose CRC is broken, and none for a stream with trailing or
missing section bytes. (A forged stream with a valid CRC may decode to *some* image: that is the
nature of entropy coding.)

    NEURCOMP_DATA=../shared/data python benchmarks/fuzz.py --cases 10000      # ~15 min on 2 cores
"""
from __future__ import annotations

import argparse
import json
import resource
import signal
import sys
import time
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch

from neurcomp import BitstreamError
from neurcomp.codec import compress_image, decompress_stream
from neurcomp.container import METHODS, pack, unpack
from neurcomp.fileio import atomic_write
from neurcomp.zoo import list_models

BASES = [("mshp@0.0067", None, None), ("mshp@0.0067", "sga", 3), ("fp@0.0067", None, None),
         ("dvae@0.0067", None, None), ("hdvae@0.0067", None, None), ("vq", None, None), ("pln@400", "rec", None),
         ("bitsback@0.0067", "bitsback", 3), ("bitsback@0.0067", "bitsback_no_iter", None)]
OUTCOMES = ("BitstreamError", "other exception", "hang", "memory blow-up", "image returned")


class Hang(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` in the decoder swallows it."""


def _alarm(signum, frame):
    raise Hang()


def images() -> list[torch.Tensor]:
    try:
        from neurcomp.data import kodak
        pics = kodak()
        return [pics[4][1][:, 200:264, 300:396], pics[22][1][:, 100:148, 200:280]]
    except Exception:  # no data: a synthetic photo-like image
        yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 96), indexing="ij")
        x = torch.stack([0.2 + 0.6 * xx, 0.3 + 0.5 * yy, 0.5 + 0.3 * (xx > 0.5).float()])
        return [x, x[:, :48, :80].flip(-1)]


def base_streams() -> list[dict]:
    names = {m["name"] for m in list_models()}
    out = []
    for model, method, steps in BASES:
        if model not in names:
            continue
        for k, x in enumerate(images()):
            data, info = compress_image(x, model, method, steps, seed=k)
            out.append({"model": model, "method": method or "default", "data": data, "x_hat": info["x_hat"]})
    return out


def _crc_broken(rng, data: bytes, others: list[bytes]) -> tuple[str, bytes]:
    kind = rng.choice(["truncate", "bit flip", "byte", "splice"])
    b = bytearray(data)
    if kind == "truncate":
        return kind, bytes(b[: rng.integers(0, len(b))])
    if kind == "bit flip":
        for _ in range(rng.integers(1, 4)):
            i = rng.integers(0, len(b))
            b[i] ^= 1 << rng.integers(0, 8)
        return kind, bytes(b)
    if kind == "byte":
        i = rng.integers(0, len(b))
        b[i] = (b[i] + rng.integers(1, 256)) % 256
        return kind, bytes(b)
    other = others[rng.integers(0, len(others))]
    cut = rng.integers(1, min(len(b), len(other)))
    return kind, bytes(b[:cut] + other[cut:])


SECTION_KINDS = ("empty section", "reorder sections", "duplicate section", "drop section", "trailing bytes",
                 "missing bytes", "flip in section", "huge size", "random size", "method id", "random extra",
                 "other rate point", "other model", "splice sections")


def _crc_valid(rng, data: bytes, others: list[bytes], names: list[str]) -> tuple[str, bytes]:
    s = unpack(data)
    kind = SECTION_KINDS[rng.integers(0, len(SECTION_KINDS))]
    secs = list(s.sections)
    j = rng.integers(0, len(secs))
    if kind == "empty section":
        secs[j] = b""
    elif kind == "reorder sections":
        secs = secs[::-1] if len(secs) > 1 else secs + secs
    elif kind == "duplicate section":
        secs.insert(j, secs[j])
    elif kind == "drop section":
        secs.pop(j)
    elif kind == "trailing bytes":
        secs[j] = secs[j] + bytes(rng.integers(0, 256, rng.choice([1, 4, 8])).astype(np.uint8))
    elif kind == "missing bytes":
        n = min(len(secs[j]), int(rng.choice([1, 4, 8])))
        secs[j] = secs[j][:-n] if n else secs[j]
    elif kind == "flip in section":
        b = bytearray(secs[j])
        if b:
            i = rng.integers(0, len(b))
            b[i] ^= 1 << rng.integers(0, 8)
        secs[j] = bytes(b)
    elif kind == "huge size":
        s.height, s.width = int(rng.integers(20000, 65536)), int(rng.integers(20000, 65536))
        s.latent_shape = (-(-s.height // 64), -(-s.width // 64))
    elif kind == "random size":
        s.height, s.width = int(rng.integers(0, 400)), int(rng.integers(0, 400))
        s.latent_shape = (int(rng.integers(0, 30)), int(rng.integers(0, 30)))
    elif kind == "method id":
        s.method = METHODS[rng.integers(0, len(METHODS))]
    elif kind == "random extra":
        s.extra = bytes(rng.integers(0, 256, rng.integers(0, 12)).astype(np.uint8))
    elif kind == "other rate point":
        base = s.model.split("@")[0]
        same = [n for n in names if n.split("@")[0] == base and n != s.model]
        s.model = same[rng.integers(0, len(same))] if same else s.model
    elif kind == "other model":
        s.model = names[rng.integers(0, len(names))]
    else:  # splice sections of another stream into this header
        o = unpack(others[rng.integers(0, len(others))])
        secs = list(o.sections)
    s.sections = secs
    return kind, pack(s)


def decode(data: bytes, cap_s: float, cap_gib: float) -> tuple[str, str, np.ndarray | None]:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    signal.setitimer(signal.ITIMER_REAL, cap_s)
    try:
        image, _ = decompress_stream(data)
        outcome, detail = "image returned", ""
    except Hang:
        return "hang", f"over {cap_s} s", None
    except BitstreamError as e:
        image, outcome, detail = None, "BitstreamError", str(e)[:120]
    except Exception as e:  # noqa: BLE001 (what the campaign is looking for)
        image, outcome, detail = None, "other exception", f"{type(e).__name__}: {str(e)[:200]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    if peak > cap_gib and peak > before:
        return "memory blow-up", f"peak RSS {peak:.2f} GiB", None
    return outcome, detail, image


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-cap", type=float, default=30.0, help="seconds per decode")
    ap.add_argument("--memory-cap", type=float, default=4.0, help="GiB of peak RSS")
    ap.add_argument("--json", default=str(Path(__file__).parent / "results" / "fuzz.json"))
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    signal.signal(signal.SIGALRM, _alarm)
    rng = np.random.default_rng(a.seed)
    bases = base_streams()
    all_data = [b["data"] for b in bases]
    names = [m["name"] for m in list_models()]
    counts, by_kind = defaultdict(Counter), defaultdict(Counter)
    failures = []
    t0 = time.perf_counter()
    for case in range(a.cases):
        b = bases[rng.integers(0, len(bases))]
        recomputed = case % 2 == 1
        kind, data = (_crc_valid(rng, b["data"], all_data, names) if recomputed
                      else _crc_broken(rng, b["data"], all_data))
        kind = str(kind)
        if data in all_data:  # e.g. a splice cut inside the common header: exactly another valid stream
            kind = "another valid stream"
        outcome, detail, image = decode(data, a.time_cap, a.memory_cap)
        crc_ok = len(data) >= 4 and zlib.crc32(data[:-4]) == int.from_bytes(data[-4:], "little")
        key = f"{b['model']} {b['method']}"
        counts[key][outcome] += 1
        group = "CRC recomputed" if recomputed else ("CRC broken" if not crc_ok else "splice = another valid stream")
        counts[group][outcome] += 1
        by_kind[kind][outcome] += 1
        bad = outcome in ("other exception", "hang", "memory blow-up")
        bad |= outcome == "image returned" and not crc_ok  # a broken CRC must never give an image
        bad |= outcome == "image returned" and kind in ("trailing bytes", "missing bytes")
        if bad:
            failures.append({"case": case, "base": key, "mutation": kind, "crc_recomputed": recomputed,
                             "outcome": outcome, "detail": detail})
        if (case + 1) % 500 == 0:
            print(f"{case + 1} cases, {len(failures)} failures, {time.perf_counter() - t0:.0f} s", file=sys.stderr,
                  flush=True)
    rows = sorted(counts)
    print(f"\n{a.cases} cases ({a.cases // 2} with the CRC recomputed), {time.perf_counter() - t0:.0f} s, "
          f"time cap {a.time_cap:g} s, memory cap {a.memory_cap:g} GiB")
    print("| stream | " + " | ".join(OUTCOMES) + " |")
    print("| --- |" + " --- |" * len(OUTCOMES))
    for r in rows:
        print(f"| {r} | " + " | ".join(str(counts[r][o]) for o in OUTCOMES) + " |")
    print(f"failures: {len(failures)}")
    for f in failures[:20]:
        print(f"  {f}")
    atomic_write(a.json, (json.dumps({"command": " ".join(sys.argv), "cases": a.cases, "seed": a.seed,
                                      "time_cap_s": a.time_cap, "memory_cap_gib": a.memory_cap,
                                      "counts": {r: dict(counts[r]) for r in rows},
                                      "by_mutation": {k: dict(v) for k, v in sorted(by_kind.items())},
                                      "failures": failures},
                                     indent=1) + "\n").encode())
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
