"""The ``neurcomp`` command line (also ``python -m neurcomp``).

Exit codes: 0 ok, 2 usage error (bad option, unknown model or method), 1 any other
failure (missing or unreadable file, corrupted stream), always with one line on stderr.

Example::

    neurcomp models
    neurcomp compress kodim01.png kodim01.ncz --model mshp@0.0067
    neurcomp decompress kodim01.ncz kodim01_hat.png
    neurcomp compress kodim01.png kodim01.ncz --method bitsback --side-info caption.txt
    neurcomp decompress kodim01.ncz kodim01_hat.png --side-info-out caption_back.txt
    neurcomp compress $NEURCOMP_DATA/kodak album.nca --method bitsback     # one ANS stack for all images
    neurcomp decompress album.nca album/
    neurcomp eval --images $NEURCOMP_DATA/kodak --model mshp@0.0067 --json out.json   # a neurcomp.results file
    neurcomp compress kodim01.png kodim01.ncz --checkpoint mine.pth.tar --arch mbt2018-mean --method sga
    neurcomp decompress kodim01.ncz kodim01_hat.png --checkpoint mine.pth.tar
    neurcomp compress kodim01.png kodim01.ncz --model compressai:mbt2018-mean:3     # CompressAI's published weights
    neurcomp compress kodim01.png kodim01.ncz --model overfit --lambda 0.0067 --preset fast   # trained on the image
"""
from __future__ import annotations

import argparse
import json
import sys
import threading

from . import BitstreamError, __version__

# Every other import of the package sits inside the function that needs it, on purpose: importing torch
# takes a second or more, and main() installs its Ctrl-C handler first, so an interrupt during the imports
# too gives one line and no traceback (tests/test_reliability.py); `--help` and usage errors stay fast.


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2
        raise UsageError(f"{message} (see '{self.prog} --help')")


#: the model ``neurcomp compress`` uses without ``--model``: the mean-scale hyperprior at its middle rate
DEFAULT_MODEL = "mshp@0.0067"
#: ... and with a bits-back ``--method``: the bits-back hyperprior at the same rate
DEFAULT_BITSBACK_MODEL = "bitsback@0.0067"
#: the CompressAI architectures ``--checkpoint`` reads (``neurcomp.models.compressai.ARCHITECTURES``)
COMPRESSAI_ARCHS = ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _overfit_options(s) -> None:
    s.add_argument("--lambda", dest="lmbda_opt", type=_positive_float, metavar="L", help="with --model overfit: the "
                   "rate-distortion trade-off it trains for (bpp + L * 255^2 * MSE; default 0.0067)")
    s.add_argument("--preset", choices=("fast", "slow", "warm"), help="with --model overfit: the architecture and its "
                   "default steps (fast: 8 or 16 hidden units, 757 or 1,605 MAC/px, 1,000 steps; slow: the same, "
                   "4,000 steps; warm: fast's, starting from shipped networks fitted to training photos)")


def _parser() -> argparse.ArgumentParser:
    from .container import METHODS

    p = _Parser(prog="neurcomp", description="Neural image compression with real bitstreams.")
    p.add_argument("--version", action="version", version=f"neurcomp {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, required=True)

    s = sub.add_parser("models", help="list shipped models: name kind rate_param value params")
    s.add_argument("--json", action="store_true", help="print a JSON list instead of lines")

    s = sub.add_parser("compress", help="compress an image to a .ncz stream (several images or a folder: one "
                       "bits-back archive)")
    s.add_argument("inputs", nargs="+", metavar="IN", help="an image; or several images or a folder (with a "
                   "bits-back --method: one archive)")
    s.add_argument("output", help="the .ncz stream (or archive) to write")
    s.add_argument("--model", help=f"a name from 'neurcomp models', e.g. mshp@0.0067, or a network with --quality "
                   f"(default {DEFAULT_MODEL})")
    s.add_argument("--quality", type=_positive_int, help="rate point of a --model given by its network name "
                   "(1 = lowest rate)")
    s.add_argument("--method", choices=METHODS, help="encoder (default: the model's own: amortized, rec for a PLN)")
    s.add_argument("--steps", type=_positive_int, help="iterations of an iterative method (default 2000)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--side-info", help="a file whose bytes the stream carries besides the image (bits-back methods; "
                   "any length: one shorter than what the image takes is topped up with random bits; without it a "
                   "bits-back stream carries random initial bits)")
    _overfit_options(s)
    _checkpoint_options(s)

    s = sub.add_parser("decompress", help="decompress a .ncz stream to PNG (an archive: every image into a folder)")
    s.add_argument("input")
    s.add_argument("output", help="PNG file (for an archive: a folder)")
    s.add_argument("--side-info-out", help="where to write the side information a bits-back stream gives back")
    s.add_argument("--checkpoint", metavar="FILE", help="the CompressAI checkpoint the stream was written with")

    s = sub.add_parser("info", help="print a stream's header as JSON")
    s.add_argument("input")

    s = sub.add_parser("eval", help="compress + decompress images, write per-image records (a neurcomp.results file)")
    s.add_argument("--images", required=True, nargs="+", help="a folder or image files")
    s.add_argument("--model", help="a name from 'neurcomp models'; a network's name alone (mshp) codes every rate "
                                    "point of it; or with --quality (or --checkpoint)")
    s.add_argument("--quality", type=_positive_int, help="rate point of a network name (1 = lowest rate)")
    s.add_argument("--method", choices=METHODS, help="encoder (default: the model's own)")
    s.add_argument("--steps", type=_positive_int)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--crop", type=int, nargs=2, metavar=("H", "W"), help="centre crop before coding")
    s.add_argument("--json", required=True, help="output JSON file")
    _overfit_options(s)
    _checkpoint_options(s)

    s = sub.add_parser("baseline", help="evaluate a Pillow codec over a quality sweep")
    s.add_argument("--images", required=True, nargs="+")
    s.add_argument("--codec", required=True, choices=["jpeg", "webp", "jpeg2000", "avif"])
    s.add_argument("--qualities", type=float, nargs="+", help="override the default quality sweep")
    s.add_argument("--json", required=True)
    return p


def _checkpoint_options(s) -> None:
    s.add_argument("--checkpoint", metavar="FILE", help="code with a CompressAI checkpoint (a state dict) instead "
                   "of --model; --quality N then sets the lambda of CompressAI's quality N for iterative methods")
    s.add_argument("--arch", choices=COMPRESSAI_ARCHS, help="the checkpoint's architecture (default: read off the "
                   "checkpoint)")


def _checkpoint_args(a) -> dict:
    """``checkpoint``, ``arch``, ``lmbda`` for the codec from ``--checkpoint`` / ``--arch`` / ``--quality``
    (empty without ``--checkpoint``); UsageError for combinations that cannot work."""
    if a.checkpoint is None:
        if a.arch:
            raise UsageError("--arch goes with --checkpoint FILE (a CompressAI checkpoint)")
        return {}
    if a.model:
        raise UsageError("give --model NAME or --checkpoint FILE, not both")
    from .container import SIDE_INFO_METHODS

    if a.method in SIDE_INFO_METHODS:
        from .models.compressai import NO_BITS_BACK

        raise UsageError(f"--method {a.method} cannot code with a CompressAI checkpoint: {NO_BITS_BACK}")
    lmbda = None
    if a.quality is not None:
        from .zoo.compressai import QUALITY_LAMBDAS

        if a.quality not in QUALITY_LAMBDAS:
            raise UsageError(f"CompressAI's qualities are 1..{len(QUALITY_LAMBDAS)}, not {a.quality}")
        lmbda = QUALITY_LAMBDAS[a.quality]
    return {"checkpoint": a.checkpoint, "arch": a.arch, "lmbda": lmbda}


def _model_arg(a) -> str:
    """The model name of ``--model`` / ``--quality`` (``--model`` alone may be a full name; ``--model overfit``
    with ``--preset`` and ``--lambda`` names an overfitted model, ``overfit:PRESET@LAMBDA``)."""
    from .container import SIDE_INFO_METHODS

    if a.model == "overfit" or (a.model or "").startswith("overfit:") and "@" not in a.model:
        from .zoo.overfit import DEFAULT_LAMBDA, model_name

        if a.quality is not None and a.lmbda_opt is not None:
            raise UsageError("give --lambda L or --quality N, not both")
        preset = a.preset or (a.model.partition(":")[2] or "fast")
        if a.quality is not None:
            from .zoo import name_with_quality

            return name_with_quality(model_name(preset), a.quality)
        return model_name(preset, DEFAULT_LAMBDA if a.lmbda_opt is None else a.lmbda_opt)
    if a.lmbda_opt is not None or a.preset is not None:
        raise UsageError("--lambda and --preset go with --model overfit (the other models' rates are their names, "
                         "e.g. mshp@0.0067, or --quality N)")
    bits_back = a.method in SIDE_INFO_METHODS
    name = a.model or (DEFAULT_BITSBACK_MODEL if bits_back else DEFAULT_MODEL)
    if a.quality is None:
        return name
    from .zoo import name_with_quality

    return name_with_quality(name, a.quality)


def _images_arg(values):
    return values[0] if len(values) == 1 else values


def cmd_models(a) -> int:
    from .zoo import SOURCES, list_models

    rows = [{k: m[k] for k in ("name", "kind", "rate_param", "value", "params")} for m in list_models()]
    rows += [{k: m[k] for k in ("name", "kind", "rate_param", "value", "params")}
             for source in SOURCES.values() for m in source.catalogue()]  # e.g. overfit:fast@0.0067 (no weights)
    if a.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{r['name']} {r['kind']} {r['rate_param']} {r['value']:g} {r['params']}")
    return 0


def _side_info(path) -> bytes | None:
    from .codec import read_side_info

    return None if path is None else read_side_info(path)


def cmd_compress(a) -> int:
    from pathlib import Path

    from .codec import check_outputs, compress_file
    from .container import SIDE_INFO_METHODS

    bits_back = a.method in SIDE_INFO_METHODS
    ckpt = _checkpoint_args(a)
    if a.side_info and not bits_back:
        raise UsageError("--side-info is only used by the bits-back methods (--method bitsback, bitsback_no_sga, "
                         "bitsback_no_iter)")
    if len(a.inputs) > 1 or Path(a.inputs[0]).is_dir():
        if not bits_back:
            raise UsageError("several images (or a folder) go into one archive only with a bits-back --method "
                             "(e.g. --method bitsback)")
        return _compress_archive(a)
    check_outputs([a.inputs[0], a.side_info, a.checkpoint], [a.output])
    name = None if ckpt else _model_arg(a)
    with _TrainingBar() as bar:
        r = compress_file(a.inputs[0], a.output, name, a.method, a.steps, a.seed, _side_info(a.side_info),
                          progress=bar.update, **ckpt)
    given = "side information" if a.side_info else "random initial bits"
    if a.side_info and r.get("initial_bits"):  # a short side information, topped up with random words
        given += f", topped up with {r['initial_bits']} random initial bits"
    net = f", net {r['net_bpp']:.4f} bpp after {r['side_info_bits']} bits of {given}" if "net_bpp" in r else ""
    print(f"{a.output}: {r['bytes']} bytes, {r['bpp']:.4f} bpp (model estimate {r['est_bpp']:.4f}){net}, "
          f"{r['enc_s']:.2f} s", file=sys.stderr)
    return 0


class _TrainingBar:
    """A progress bar for models that train on the image while encoding (step, rate, PSNR); nothing is shown
    for the others (they never call :meth:`update`)."""

    def __init__(self):
        self.bar = None

    def update(self, step: int, steps: int, bpp: float, psnr: float) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=steps, desc="fitting", unit="step", file=sys.stderr)
        self.bar.set_postfix_str(f"{bpp:.3f} bpp (latents), {psnr:.2f} dB", refresh=False)
        self.bar.update(step - self.bar.n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()


def _compress_archive(a) -> int:
    from .bitsback import check_entry_names, compress_archive
    from .codec import check_outputs
    from .data import list_images, load_image
    from .fileio import atomic_write

    paths = list_images(_images_arg(a.inputs))
    check_outputs([*paths, a.side_info], [a.output])
    check_entry_names([p.stem for p in paths])  # before loading anything: plain, unique names
    images = [(p.stem, load_image(p)) for p in paths]
    data, report = compress_archive(images, _model_arg(a), a.method, a.steps, a.seed, _side_info(a.side_info),
                                    progress=True)
    atomic_write(a.output, data)
    last = report["cumulative"][-1]
    given = "side information" if a.side_info else "random initial bits"
    if a.side_info and report["initial_bits"]:  # a short side information, topped up with random words
        given += f", topped up with {report['initial_bits']} random initial bits"
    print(f"{a.output}: {len(images)} images, {len(data)} bytes, {last['bpp']:.4f} bpp "
          f"(net {last['net_bpp']:.4f} bpp after {report['side_info_bits']} bits of {given})", file=sys.stderr)
    return 0


def cmd_decompress(a) -> int:
    from .bitsback import is_archive
    from .codec import decompress_file, read_stream

    with open(a.input, "rb") as f:
        archive = is_archive(f.read(4))
    if archive:
        if a.checkpoint:
            raise UsageError(f"{a.input} is a bits-back archive: it needs no --checkpoint (CompressAI models write "
                             "single-image streams)")
        return _decompress_archive(a, read_stream(a.input))
    r = decompress_file(a.input, a.output, a.side_info_out, a.checkpoint)
    side = f", {r['side_info_bytes']} bytes of side information to {a.side_info_out}" if a.side_info_out else ""
    print(f"{a.output}: {r['width']}x{r['height']} from {r['model']} ({r['method']}){side}, {r['dec_s']:.2f} s",
          file=sys.stderr)
    return 0


def _decompress_archive(a, data: bytes) -> int:
    from pathlib import Path

    from .bitsback import decompress_archive, read_header
    from .codec import check_outputs
    from .data import save_png
    from .fileio import atomic_write

    out_dir = Path(a.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} is a file; an archive decompresses into a folder")
    # every output checked before any decoding: plain, unique names (read_header) inside out_dir, none of
    # them the archive itself, a folder or read-only
    names = [name for name, _, _ in read_header(data)["images"]]
    targets = check_outputs([a.input], [*(out_dir / f"{name}.png" for name in names), a.side_info_out])
    images, side = decompress_archive(data, progress=True)
    existed = {t for t in targets if t.exists()}
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        for (name, image), target in zip(images, targets):
            save_png(image, target)
        if a.side_info_out:
            atomic_write(a.side_info_out, side)
    except BaseException:  # no half archive: remove what this run created
        for t in targets:
            if t not in existed:
                t.unlink(missing_ok=True)
        raise
    print(f"{out_dir}: {len(images)} images" + (f", {len(side)} bytes of side information to {a.side_info_out}"
                                                 if a.side_info_out else ""), file=sys.stderr)
    return 0


def cmd_info(a) -> int:
    from .bitsback import archive_info, is_archive
    from .codec import read_stream, stream_info

    data = read_stream(a.input)
    print(json.dumps(archive_info(data) if is_archive(data) else stream_info(data), indent=1))
    return 0


def cmd_eval(a) -> int:
    from pathlib import Path

    from . import results
    from .evaluate import describe, evaluate_model, to_records
    from .inference import DEFAULT_STEPS
    from .zoo import list_models

    ckpt = _checkpoint_args(a)
    if not ckpt and not a.model:
        raise UsageError("eval needs --model NAME or --checkpoint FILE")
    name = None if ckpt else _model_arg(a)
    # a shipped network's name without a rate point (--model mshp): every rate point, one curve in one file
    points = [e["name"] for e in list_models() if e["base"] == name and e["name"] != name] or [name]
    images = _images_arg(a.images)
    folders = {Path(p).parent.name if Path(p).is_file() else Path(p).name for p in a.images}
    group = results.group_name(folders.pop() if len(folders) == 1 else "images", a.crop and tuple(a.crop))
    recs, weights = [], {}
    for point in points:
        records = evaluate_model(images, point, a.method, a.steps, a.crop, a.seed, **ckpt)
        about = describe(point, **ckpt)
        steps = a.steps or records[0].get("steps") or DEFAULT_STEPS  # an overfit model's: its preset's
        recs += to_records(records, group, about["title"], about["base"], about["value"], steps)
        weights[about["base"]] = about["weights"]
        n = len(records)
        print(f"{point or ckpt['checkpoint']}: {n} images, mean bpp {sum(r['bpp'] for r in records) / n:.4f}, "
              f"mean PSNR {sum(r['psnr'] for r in records) / n:.2f} dB", file=sys.stderr)
    results.write(a.json, recs, results.provenance(a.command_line, weights))
    print(f"wrote {a.json}: {len(recs)} records", file=sys.stderr)
    return 0


def cmd_baseline(a) -> int:
    from .baselines import run_baseline

    records = run_baseline(_images_arg(a.images), a.codec, a.json, a.qualities)
    print(f"{a.json}: {len(records)} records", file=sys.stderr)
    return 0


COMMANDS = {"models": cmd_models, "compress": cmd_compress, "decompress": cmd_decompress, "info": cmd_info,
            "eval": cmd_eval, "baseline": cmd_baseline}


def _exit_code(e: BaseException) -> int:
    """2 for a usage error (bad option, unknown model, method the model does not have), 1 otherwise."""
    from .bitsback import ArchiveNameError
    from .codec import MethodUnavailable, OutputCollision
    from .models.bitsback import BitsBackParameterError
    from .zoo import UnknownModel

    usage = (UsageError, UnknownModel, MethodUnavailable, BitsBackParameterError, OutputCollision, ArchiveNameError)
    return 2 if isinstance(e, usage) else 1


_interrupted = False


def _on_sigint(signum, frame):
    """Ctrl-C: raise KeyboardInterrupt as usual, and remember it, in case a library's import swallows it."""
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def _run(argv) -> int:
    from .baselines import CodecUnavailable
    from .bitsback import ArchiveNameError
    from .codec import MethodUnavailable, OutputCollision
    from .data import DataError
    from .models.bitsback import BitsBackParameterError
    from .models.bitsback import SideInfoTooShort as SideInfoError
    from .zoo import WeightsError

    if _interrupted:  # a Ctrl-C during the imports that some import caught
        raise KeyboardInterrupt

    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        a = _parser().parse_args(argv)
        a.command_line = "neurcomp " + " ".join(argv)  # what results files record as their command
        return COMMANDS[a.command](a)
    except (UsageError, WeightsError, MethodUnavailable, BitstreamError, DataError, CodecUnavailable, OSError,
            SideInfoError, BitsBackParameterError, OutputCollision, ArchiveNameError) as e:
        msg = f"{e.strerror}: {e.filename}" if isinstance(e, OSError) and e.strerror and e.filename else str(e)
        print(f"neurcomp: error: {msg}", file=sys.stderr)
        return _exit_code(e)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"neurcomp: warning: {message}", file=sys.stderr)


def main(argv=None) -> int:
    import signal
    import warnings

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_sigint)
    warnings.showwarning = _one_line_warning
    try:
        return _run(argv)
    except KeyboardInterrupt:  # also during the imports
        print("neurcomp: interrupted", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
