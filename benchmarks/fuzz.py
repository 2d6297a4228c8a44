"""A fuzz campaign over every method that writes streams: forged, damaged and spliced ``.ncz`` files.

Base streams: two small images (crops of Kodak photos, or a synthetic photo-like image without data)
coded with every shipped network's middle rate point and default method (amortized for the
transform coders, the discretized VAEs and VQ; ``rec`` for the PLN) and with SGA. Each case mutates
one base stream, decodes it in this process under a time cap (``signal.alarm``) while watching the
peak memory, and is classified as ``refused (own error)`` (``BitstreamError``: the package's own
one-line error), ``other exception``, ``hang``, ``memory blow-up`` or ``image returned``.

Half of the mutations leave the container's CRC-32 broken (truncations, bit and byte flips, splices
of two streams); the other half *recompute* it, so the deeper decoders see them: emptied, reordered,
duplicated, dropped or extended sections, trailing or missing section bytes, bits flipped inside a
section, huge or random image sizes, another method id, random ``extra`` bytes, another rate point's
or another model's name, and sections spliced in from other streams.

Bits-back streams get two more mutations with the CRC recomputed: other valid-looking method
parameters (BBVI steps up to 2000, seed, padding) and a large image at the most BBVI steps, which the
decoding-work bound must refuse from the header.

**Archives** (``--archive-cases``; ``.nca``, :mod:`neurcomp.bitsback`): two real archives of two images
each (``bitsback_no_iter`` and ``bitsback`` with 3 steps), mutated with the CRC broken or recomputed:
entry names that leave the output folder (``../x``, absolute, nested, empty, NUL, duplicates), random
name bytes, more or fewer entries, huge sizes, 2000 BBVI steps over many entries, truncated or flipped
stacks, other method ids, models and padding. An archive that decodes must name only plain, unique files.

**CompressAI checkpoints** (``--checkpoint-cases``): the example state dict of each supported
architecture (:func:`neurcomp.zoo.compressai.example_state_dict`) saved with one mutation (a key dropped
or renamed, an integer key, a 0-d, 1-d, reshaped, empty or huge-but-empty tensor, bool / integer / half
dtypes, NaN or infinity, sparse or meta tensors, a non-tensor value, swapped tensors), loaded with
``load_compressai``; one that loads must code a small image into a stream that decodes to the same image.

Decoding work: the library bounds it by ``NEURCOMP_MAX_DECODE_WORK`` (pixel-iterations; default about 7
minutes of bits-back decoding). The campaign sets that bound to what decodes in half its time cap
(``--decode-work``; default ``time_cap / 2 * 2.5e6``, the rate measured on one core, see
``neurcomp.codec.DEFAULT_MAX_DECODE_WORK``), so a forged stream or archive must either be refused by the
bound from its header or finish: a "hang" is a forged input whose work the bound failed to count.

Pass criteria (exit code 1 otherwise): no exception other than the package's own (``BitstreamError``;
``WeightsError`` for checkpoints), no hang, no memory blow-up, no image returned for a stream or archive
whose CRC is broken, none for a stream with trailing or missing section bytes, no archive decoded with a
name that is not a plain file name, no checkpoint that writes a stream it cannot decode. (A forged
stream with a valid CRC may decode to *some* image: that is the nature of entropy coding.)

    NEURCOMP_DATA=../shared/data python benchmarks/fuzz.py --cases 10000      # ~15 min on 2 cores
    python benchmarks/fuzz.py --cases 0 --archive-cases 2000 --checkpoint-cases 2000
"""
from __future__ import annotations

import argparse
import json
import os
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
from neurcomp.bitsback import _pack, check_entry_names, compress_archive, decompress_archive, read_header
from neurcomp.codec import compress_image, decompress_stream
from neurcomp.container import METHODS, pack, unpack
from neurcomp.fileio import atomic_write
from neurcomp.models.bitsback import BitsBackHyperprior
from neurcomp.zoo import WeightsError, list_models

BASES = [("mshp@0.0067", None, None), ("mshp@0.0067", "sga", 3), ("fp@0.0067", None, None),
         ("dvae@0.0067", None, None), ("hdvae@0.0067", None, None), ("vq", None, None), ("pln@400", "rec", None),
         ("bitsback@0.0067", "bitsback", 3), ("bitsback@0.0067", "bitsback_no_iter", None)]
OUTCOMES = ("refused (own error)", "other exception", "hang", "memory blow-up", "image returned")


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
                 "other rate point", "other model", "splice sections", "bits-back parameters", "bits-back work")


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
    elif kind == "bits-back parameters":  # well-formed for a bits-back stream: steps, seed, padding
        s.extra = BitsBackHyperprior.pack_extra(int(rng.integers(0, 2001)), int(rng.integers(0, 2 ** 32)),
                                                int(rng.integers(0, 4)))
    elif kind == "bits-back work":  # a consistent large image at the most BBVI steps: the work bound's case
        s.height, s.width = int(rng.choice([1024, 2048, 8192])), int(rng.choice([1024, 4096, 8192]))
        s.latent_shape = (-(-s.height // 64), -(-s.width // 64))
        s.extra = BitsBackHyperprior.pack_extra(2000, 0, 0)
    else:  # splice sections of another stream into this header
        o = unpack(others[rng.integers(0, len(others))])
        secs = list(o.sections)
    s.sections = secs
    return kind, pack(s)


ARCHIVE_KINDS = ("name ../x", "absolute name", "nested name", "empty name", "NUL in name", "duplicate names",
                 "random name bytes", "more entries", "fewer entries", "huge size", "many entries at 2000 steps",
                 "truncate stack", "flip in stack", "method id", "other model", "padding")


def base_archives() -> list[bytes]:
    """Two real archives of two images each."""
    names = {m["name"] for m in list_models()}
    if "bitsback@0.0067" not in names:
        return []
    pics = images()
    return [compress_archive([("a", pics[0]), ("b", pics[1])], "bitsback@0.0067", method, steps)[0]
            for method, steps in (("bitsback_no_iter", None), ("bitsback", 3))]


def _archive_valid_crc(rng, data: bytes, names: list[str]) -> tuple[str, bytes]:
    """One archive mutation, the CRC recomputed (:func:`neurcomp.bitsback._pack`)."""
    head = read_header(data)
    kind = ARCHIVE_KINDS[rng.integers(0, len(ARCHIVE_KINDS))]
    method, model, steps, pad = head["method"], head["model"], head["bbvi_steps"], head["pad"]
    entries, stack = list(head["images"]), head["stack"]
    renamed = {"name ../x": "../x", "absolute name": "/tmp/neurcomp-fuzz", "nested name": "deep/er/x",
               "empty name": "", "NUL in name": "a\0b"}
    if kind in renamed:
        entries[0] = (renamed[kind], *entries[0][1:])
    elif kind == "duplicate names":
        entries[-1] = (entries[0][0], *entries[-1][1:])
    elif kind == "random name bytes":
        raw = bytes(rng.integers(0, 256, rng.integers(0, 12)).astype(np.uint8))
        entries[0] = (raw.decode("utf-8", "replace"), *entries[0][1:])
    elif kind == "more entries":
        entries += [(f"x{k}", int(rng.integers(1, 300)), int(rng.integers(1, 300))) for k in range(rng.integers(1, 200))]
    elif kind == "fewer entries":
        entries = entries[:1]
    elif kind == "huge size":
        entries[0] = (entries[0][0], int(rng.integers(20000, 65536)), int(rng.integers(20000, 65536)))
    elif kind == "many entries at 2000 steps":
        steps = 2000
        entries = [(f"e{k}", 1024, 1024) for k in range(int(rng.integers(2, 204)))]
    elif kind == "truncate stack":
        stack = stack[: 4 * int(rng.integers(0, len(stack) // 4))]
    elif kind == "flip in stack":
        b = bytearray(stack)
        i = rng.integers(0, len(b))
        b[i] ^= 1 << rng.integers(0, 8)
        stack = bytes(b)
    elif kind == "method id":
        method = ("bitsback", "bitsback_no_sga", "bitsback_no_iter")[rng.integers(0, 3)]
        steps = 0 if method == "bitsback_no_iter" else int(rng.integers(1, 50))
    elif kind == "other model":
        model = names[rng.integers(0, len(names))]
    else:
        pad = int(rng.integers(0, 4))
    return kind, _pack(method, model, head["weights"], steps, head["seed"], pad, entries, stack)


CHECKPOINT_ARCHS = ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean")
CHECKPOINT_KINDS = ("drop key", "rename key", "integer key", "0-d tensor", "1-d tensor", "reshape", "empty tensor",
                    "huge empty tensor", "bool dtype", "integer dtype", "half dtype", "NaN", "infinity", "sparse",
                    "meta", "not a tensor", "swap tensors", "quantiles shape", "huge median", "wrapped")


def mutate_checkpoint(rng, arch: str) -> tuple[str, object]:
    """One crafted checkpoint of ``arch``: ``(mutation, what torch.save writes)``."""
    from neurcomp.zoo.compressai import example_state_dict

    state = dict(example_state_dict(arch, N=8, M=12, seed=int(rng.integers(0, 1000))))
    keys = sorted(state)
    key = keys[rng.integers(0, len(keys))]
    kind = CHECKPOINT_KINDS[rng.integers(0, len(CHECKPOINT_KINDS))]
    v = state[key]
    if kind == "drop key":
        del state[key]
    elif kind == "rename key":
        state[key + "x"] = state.pop(key)
    elif kind == "integer key":
        state[int(rng.integers(0, 100))] = state.pop(key)
    elif kind == "0-d tensor":
        state[key] = torch.tensor(float(rng.normal()))
    elif kind == "1-d tensor":
        state[key] = v.flatten()
    elif kind == "reshape":
        state[key] = v.reshape(-1, 1) if v.dim() != 2 else v.reshape(1, -1)
    elif kind == "empty tensor":
        state[key] = torch.empty(0)
    elif kind == "huge empty tensor":  # declares N = M = 30000 without the memory
        state[key] = torch.empty((30000, 0, *v.shape[2:])) if v.dim() > 1 else torch.empty((30000, 0))
    elif kind == "bool dtype":
        state[key] = v > 0
    elif kind == "integer dtype":
        state[key] = v.round().long()
    elif kind == "half dtype":
        state[key] = v.half()
    elif kind in ("NaN", "infinity"):
        w = v.clone().float()
        if w.numel():
            w.view(-1)[rng.integers(0, w.numel())] = float("nan") if kind == "NaN" else float("inf")
        state[key] = w
    elif kind == "sparse":
        state[key] = v.float().to_sparse() if v.dim() else v
    elif kind == "meta":
        state[key] = torch.empty(v.shape, device="meta")
    elif kind == "not a tensor":
        state[key] = ["a", 1] if rng.integers(0, 2) else "weights"
    elif kind == "swap tensors":
        other = keys[rng.integers(0, len(keys))]
        state[key], state[other] = state[other], state[key]
    elif kind == "quantiles shape":
        q = "entropy_bottleneck.quantiles"
        state[q] = state[q][:, :, :2] if rng.integers(0, 2) else state[q].reshape(-1)
    elif kind == "huge median":
        q = state["entropy_bottleneck.quantiles"].clone()
        q[:, 0, 1] = 1e30
        state["entropy_bottleneck.quantiles"] = q
    else:  # a training checkpoint around the state dict, with a non-tensor entry
        return kind, {"state_dict": state, "epoch": 3, "note": "trained"}
    return kind, state


def decode(data: bytes, cap_s: float, cap_gib: float, archive: bool = False) -> tuple[str, str, np.ndarray | None]:
    """Decode a stream (or an archive) under a time cap and watching the peak memory:
    ``(outcome, detail, image or None)``; an archive's "image" is its list of ``(name, image)``."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    signal.setitimer(signal.ITIMER_REAL, cap_s)
    try:
        image = decompress_archive(data)[0] if archive else decompress_stream(data)[0]
        outcome, detail = "image returned", ""
    except Hang:
        return "hang", f"over {cap_s} s", None
    except BitstreamError as e:
        image, outcome, detail = None, "refused (own error)", str(e)[:120]
    except Exception as e:  # noqa: BLE001 (what the campaign is looking for)
        image, outcome, detail = None, "other exception", f"{type(e).__name__}: {str(e)[:200]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    if peak > cap_gib and peak > before:
        return "memory blow-up", f"peak RSS {peak:.2f} GiB", None
    return outcome, detail, image


class Campaign:
    """Outcome counts per base and per mutation, and the failures, of one kind of input."""

    def __init__(self, what: str):
        self.what, self.counts, self.by_kind, self.failures = what, defaultdict(Counter), defaultdict(Counter), []

    def record(self, case: int, base: str, group: str, kind: str, outcome: str, detail: str, bad: bool) -> None:
        self.counts[base][outcome] += 1
        self.counts[group][outcome] += 1
        self.by_kind[kind][outcome] += 1
        if bad:
            self.failures.append({"input": self.what, "case": case, "base": base, "mutation": kind, "group": group,
                                  "outcome": outcome, "detail": detail})

    def table(self) -> str:
        lines = [f"| {self.what} | " + " | ".join(OUTCOMES) + " |", "| --- |" + " --- |" * len(OUTCOMES)]
        lines += [f"| {r} | " + " | ".join(str(self.counts[r][o]) for o in OUTCOMES) + " |" for r in sorted(self.counts)]
        return "\n".join(lines)

    def as_json(self) -> dict:
        return {"counts": {r: dict(self.counts[r]) for r in sorted(self.counts)},
                "by_mutation": {k: dict(v) for k, v in sorted(self.by_kind.items())}, "failures": self.failures}


def _crc_ok(data: bytes) -> bool:
    return len(data) >= 4 and zlib.crc32(data[:-4]) == int.from_bytes(data[-4:], "little")


def stream_campaign(a, rng, progress) -> Campaign:
    c = Campaign("stream")
    bases = base_streams()
    all_data = [b["data"] for b in bases]
    names = [m["name"] for m in list_models()]
    for case in range(a.cases):
        b = bases[rng.integers(0, len(bases))]
        recomputed = case % 2 == 1
        kind, data = (_crc_valid(rng, b["data"], all_data, names) if recomputed
                      else _crc_broken(rng, b["data"], all_data))
        kind = str(kind)
        if data in all_data:  # e.g. a splice cut inside the common header: exactly another valid stream
            kind = "another valid stream"
        outcome, detail, image = decode(data, a.time_cap, a.memory_cap)
        crc_ok = _crc_ok(data)
        group = "CRC recomputed" if recomputed else ("CRC broken" if not crc_ok else "splice = another valid stream")
        bad = outcome in ("other exception", "hang", "memory blow-up")
        bad |= outcome == "image returned" and not crc_ok  # a broken CRC must never give an image
        bad |= outcome == "image returned" and kind in ("trailing bytes", "missing bytes")
        c.record(case, f"{b['model']} {b['method']}", group, kind, outcome, detail, bad)
        progress(c, case)
    return c


def archive_campaign(a, rng, progress) -> Campaign:
    c = Campaign("archive")
    bases = base_archives()
    names = [m["name"] for m in list_models()]
    for case in range(a.archive_cases if bases else 0):
        k = int(rng.integers(0, len(bases)))
        recomputed = case % 2 == 1
        kind, data = (_archive_valid_crc(rng, bases[k], names) if recomputed
                      else _crc_broken(rng, bases[k], bases))
        kind = f"archive {kind}"
        if data in bases:
            kind = "another valid archive"
        outcome, detail, decoded = decode(data, a.time_cap, a.memory_cap, archive=True)
        crc_ok = _crc_ok(data)
        bad = outcome in ("other exception", "hang", "memory blow-up")
        bad |= outcome == "image returned" and not crc_ok
        if outcome == "image returned":
            try:
                check_entry_names([name for name, _ in decoded])
            except ValueError as e:  # an archive that decodes must name only plain, unique files
                bad, detail = True, str(e)
        group = "archive CRC recomputed" if recomputed else ("archive CRC broken" if not crc_ok else "another archive")
        c.record(case, f"archive {('bitsback_no_iter', 'bitsback')[k]}", group, kind, outcome, detail, bad)
        progress(c, case)
    return c


def checkpoint_campaign(a, rng, progress) -> Campaign:
    import tempfile

    from neurcomp.zoo.compressai import checkpoint_entry

    c = Campaign("checkpoint")
    x = images()[1][:, :32, :48]
    folder = Path(tempfile.mkdtemp(prefix="neurcomp-fuzz-"))
    for case in range(a.checkpoint_cases):
        arch = CHECKPOINT_ARCHS[case % len(CHECKPOINT_ARCHS)]
        kind, state = mutate_checkpoint(rng, arch)
        path = folder / f"case{case}.pth"
        torch.save(state, path)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
        signal.setitimer(signal.ITIMER_REAL, a.time_cap)
        try:
            checkpoint_entry(path)
            data, info = compress_image(x, None, checkpoint=path)
            image, _ = decompress_stream(data, checkpoint=path)
            outcome, detail = "image returned", ""
            if not np.array_equal(image, info["x_hat"]):
                outcome, detail = "other exception", "the decoded image differs from the encoder's"
        except Hang:
            outcome, detail = "hang", f"over {a.time_cap} s"
        except (WeightsError, BitstreamError) as e:
            # a BitstreamError here is a stream the encoder wrote and the decoder refused: a failure
            outcome, detail = ("refused (own error)" if isinstance(e, WeightsError) else "other exception"), str(e)[:160]
        except Exception as e:  # noqa: BLE001
            outcome, detail = "other exception", f"{type(e).__name__}: {str(e)[:200]}"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            path.unlink(missing_ok=True)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
        if peak > a.memory_cap and peak > before:
            outcome, detail = "memory blow-up", f"peak RSS {peak:.2f} GiB"
        bad = outcome in ("other exception", "hang", "memory blow-up")
        c.record(case, f"checkpoint {arch}", "checkpoint", f"checkpoint {kind}", outcome, detail, bad)
        progress(c, case)
    folder.rmdir()
    return c


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=10000, help="forged single-image streams")
    ap.add_argument("--archive-cases", type=int, default=2000, help="forged bits-back archives")
    ap.add_argument("--checkpoint-cases", type=int, default=1000, help="crafted CompressAI checkpoints")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-cap", type=float, default=60.0, help="seconds per decode")
    ap.add_argument("--memory-cap", type=float, default=4.0, help="GiB of peak RSS")
    ap.add_argument("--decode-work", type=int, help="NEURCOMP_MAX_DECODE_WORK during the campaign (default: what "
                    "decodes in half the time cap at 2.5 million pixel-iterations per second)")
    ap.add_argument("--json", default=str(Path(__file__).parent / "results" / "fuzz.json"))
    a = ap.parse_args(argv)
    a.decode_work = a.decode_work or int(a.time_cap / 2 * 2.5e6)
    os.environ["NEURCOMP_MAX_DECODE_WORK"] = str(a.decode_work)
    torch.set_num_threads(1)
    signal.signal(signal.SIGALRM, _alarm)
    rng = np.random.default_rng(a.seed)
    t0 = time.perf_counter()

    def progress(c: Campaign, case: int) -> None:
        if (case + 1) % 500 == 0:
            print(f"{c.what}: {case + 1} cases, {len(c.failures)} failures, {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)

    campaigns = [stream_campaign(a, rng, progress), archive_campaign(a, rng, progress),
                 checkpoint_campaign(a, rng, progress)]
    failures = [f for c in campaigns for f in c.failures]
    print(f"\n{a.cases} streams ({a.cases // 2} with the CRC recomputed), {a.archive_cases} archives, "
          f"{a.checkpoint_cases} checkpoints, {time.perf_counter() - t0:.0f} s, time cap {a.time_cap:g} s, "
          f"memory cap {a.memory_cap:g} GiB, decoding work bound {a.decode_work:.3g} pixel-iterations")
    for c in campaigns:
        print("\n" + c.table())
    print(f"\nfailures: {len(failures)}")
    for f in failures[:20]:
        print(f"  {f}")
    atomic_write(a.json, (json.dumps({"command": " ".join(sys.argv), "cases": a.cases, "archive_cases": a.archive_cases,
                                      "checkpoint_cases": a.checkpoint_cases, "seed": a.seed,
                                      "time_cap_s": a.time_cap, "memory_cap_gib": a.memory_cap,
                                      "max_decode_work": a.decode_work,
                                      **{c.what: c.as_json() for c in campaigns}, "failures": failures},
                                     indent=1) + "\n").encode())
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
