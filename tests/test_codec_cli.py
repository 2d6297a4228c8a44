import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import needs_data
from neurcomp import BitstreamError, results
from neurcomp.cli import main
from neurcomp.codec import compress_image, decompress_stream
from neurcomp.container import unpack
from neurcomp.zoo import list_models, resolve


def _image(tmp_path, h=80, w=112, name="img.png"):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([(xx * 2) % 256, (yy * 3) % 256, ((xx + yy) * 5) % 256], -1).astype(np.uint8)
    arr = np.clip(arr.astype(int) + rng.integers(-10, 10, arr.shape), 0, 255).astype(np.uint8)
    p = tmp_path / name
    Image.fromarray(arr).save(p)
    return p


def _fresh_decode(stream_path, out_path, threads, env):
    code = ("import sys, torch; torch.set_num_threads(int(sys.argv[1])); from neurcomp.cli import main; "
            "sys.exit(main(['decompress', sys.argv[2], sys.argv[3]]))")
    return subprocess.run([sys.executable, "-c", code, str(threads), str(stream_path), str(out_path)],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["tiny@0.0067", "tinyfp@0.025"])
def test_round_trip_fresh_process_other_thread_count(tiny_zoo, tmp_path, model):
    src = _image(tmp_path)
    torch.set_num_threads(2)
    from neurcomp.data import load_image
    data, info = compress_image(load_image(src), model)
    (tmp_path / "a.ncz").write_bytes(data)
    r = _fresh_decode(tmp_path / "a.ncz", tmp_path / "a.png", 1, dict(os.environ))
    assert r.returncode == 0, r.stderr
    decoded = np.asarray(Image.open(tmp_path / "a.png"))
    assert decoded.shape == (80, 112, 3)
    assert np.array_equal(decoded, info["x_hat"])


def test_cli_compress_decompress_info(tiny_zoo, tmp_path, capsys):
    src = _image(tmp_path)
    assert main(["compress", str(src), str(tmp_path / "a.ncz"), "--model", "tiny@0.025"]) == 0
    assert main(["info", str(tmp_path / "a.ncz")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model"] == "tiny@0.025" and info["height"] == 80 and info["width"] == 112
    assert main(["decompress", str(tmp_path / "a.ncz"), str(tmp_path / "b.png")]) == 0
    assert Image.open(tmp_path / "b.png").size == (112, 80)


def test_cli_models_json(tiny_zoo, capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"name", "kind", "rate_param", "value", "params"} <= set(rows[0])
    assert main(["models"]) == 0
    line = [l for l in capsys.readouterr().out.splitlines() if l.startswith("tiny@0.025")][0]
    tiny = next(r for r in rows if r["name"] == "tiny@0.025")
    assert line.split() == ["tiny@0.025", "hyperprior", "lambda", "0.025", str(tiny["params"])]


def test_cli_eval_json_fields(tiny_zoo, tmp_path):
    _image(tmp_path, name="a.png")
    _image(tmp_path, 64, 64, name="b.png")
    out = tmp_path / "e.json"
    assert main(["eval", "--images", str(tmp_path), "--model", "tiny@0.0067", "--json", str(out)]) == 0
    f = results.read(out)
    assert len(f.records) == 2 and f.provenance["weights"] == {"tiny": resolve("tiny@0.0067")["sha256"][:16]}
    assert len(f.provenance["run_id"]) == 12 and f.provenance["command"].startswith("neurcomp eval --images ")
    for r in f.records:
        assert r.group == tmp_path.name and r.model == "tiny@0.0067" and r.base == "tiny" and r.value == 0.0067
        assert r.bpp > r.ideal_bpp * 0.9 and r.ideal == "information content" and r.enc_s > 0 and r.dec_s > 0
        assert r.label == "mean-scale hyperprior (tiny), amortized" and r.extra["bytes"] * 8 == pytest.approx(r.bpp * r.pixels)


def _run_cli(args):
    return subprocess.run([sys.executable, "-m", "neurcomp", *args], capture_output=True, text=True, timeout=300)


def test_errors_exit_codes_and_one_line(tiny_zoo, tmp_path, capsys):
    notimg = tmp_path / "x.png"
    notimg.write_text("hello")
    cases = [
        (["compress", str(tmp_path / "missing.png"), str(tmp_path / "o.ncz"), "--model", "tiny@0.025"], 1),
        (["compress", str(notimg), str(tmp_path / "o.ncz"), "--model", "tiny@0.025"], 1),
        (["eval", "--images", str(tmp_path / "nofolder"), "--model", "tiny@0.025", "--json", str(tmp_path / "o.json")], 1),
        (["baseline", "--images", str(tmp_path / "nofolder"), "--codec", "jpeg", "--json", str(tmp_path / "o.json")], 1),
        (["compress", "--bogus"], 2),
        (["compress", str(_image(tmp_path)), str(tmp_path / "o.ncz"), "--model", "no-such-model"], 2),
        (["compress", str(notimg), str(tmp_path / "o.ncz"), "--model", "tiny@0.025", "--method", "teleport"], 2),
        (["decompress", str(notimg), str(tmp_path / "o.png")], 1),
        (["frobnicate"], 2),
    ]
    assert os.environ.get("NEURCOMP_WEIGHTS_PATH")
    for args, code in cases:  # in this process (the subprocess cases: tests/test_reliability.py)
        assert main(args) == code, args
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("neurcomp: error:"), (args, err)
        assert "Traceback" not in err


def test_bad_streams_raise_bitstream_error(tiny_zoo, tmp_path):
    from neurcomp.data import load_image
    data, _ = compress_image(load_image(_image(tmp_path)), "tiny@0.025")
    with pytest.raises(BitstreamError, match="truncated"):
        decompress_stream(data[: len(data) // 2])
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    with pytest.raises(BitstreamError):
        decompress_stream(bytes(flipped))
    other, _ = compress_image(load_image(_image(tmp_path)), "tinyfp@0.025")
    s = unpack(other)
    from neurcomp.container import pack
    s.model = "tiny@0.025"  # sections of another model, wrong fingerprint
    with pytest.raises(BitstreamError, match="other weights"):
        decompress_stream(pack(s))


SHIPPED = [m["name"] for m in list_models() if m["base"] == "mshp"]


@pytest.mark.slow
@needs_data
@pytest.mark.skipif(not SHIPPED, reason="no shipped mean-scale hyperprior weights")
def test_every_kodak_image_round_trips_with_shipped_model(tmp_path):
    """Acceptance: encode here (2 threads), decode all 24 in one fresh process with 1 thread;
    identical pixels, and the file within 0.5 % (+ header) of the information content."""
    from neurcomp.data import kodak_paths, load_image
    model = SHIPPED[len(SHIPPED) // 2]
    torch.set_num_threads(2)
    paths = kodak_paths()
    for p in paths:
        data, info = compress_image(load_image(p), model)
        (tmp_path / f"{p.stem}.ncz").write_bytes(data)
        np.save(tmp_path / f"{p.stem}.npy", info["x_hat"])
        payload_bits = 8 * (len(data) - info["header_bytes"])
        ideal = sum(info["bits"].values())
        assert payload_bits <= ideal * 1.005 + 64, (p.stem, payload_bits, ideal)
    code = ("import sys, glob, numpy as np, torch; torch.set_num_threads(1)\n"
            "from pathlib import Path\nfrom neurcomp.codec import decompress_stream\n"
            "bad = [p for p in sorted(glob.glob(sys.argv[1] + '/*.ncz')) if not np.array_equal("
            "decompress_stream(Path(p).read_bytes())[0], np.load(p[:-4] + '.npy'))]\n"
            "print(len(bad)); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_sga_stream_decodes_in_fresh_process(tiny_zoo, tmp_path):
    from neurcomp.data import load_image
    data, info = compress_image(load_image(_image(tmp_path)), "tiny@0.025", method="sga", steps=20)
    assert unpack(data).method == "sga"
    (tmp_path / "s.ncz").write_bytes(data)
    r = _fresh_decode(tmp_path / "s.ncz", tmp_path / "s.png", 2, dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / "s.png")), info["x_hat"])


def test_iterative_methods_need_a_hyperprior(tiny_zoo, tmp_path):
    from neurcomp.data import load_image
    with pytest.raises(ValueError, match="codes with amortized"):
        compress_image(load_image(_image(tmp_path)), "tinyfp@0.025", method="sga", steps=5)


def test_cli_eval_with_sga_and_crop(tiny_zoo, tmp_path):
    _image(tmp_path, name="a.png")
    out = tmp_path / "e.json"
    assert main(["eval", "--images", str(tmp_path / "a.png"), "--model", "tiny@0.025", "--method", "sga",
                 "--steps", "10", "--crop", "64", "64", "--json", str(out)]) == 0
    (rec,) = results.read(out).records
    assert rec.method == "sga" and rec.pixels == 64 * 64 and rec.ms_ssim is None and rec.steps == 10
    assert rec.group == "crops 64" and rec.label.endswith("SGA [M1], 10 steps")


# vq_alpha0 has vq's architecture and decoder (its streams are in the golden test and the determinism matrix);
# bits-back models have their own CLI round trips (tests/test_bitsback.py)
SHIPPED_BASES = sorted({m["base"] for m in list_models()
                        if m["base"] not in ("mshp", "vq_alpha0") and m["kind"] not in ("pln", "bitsback")})


@pytest.mark.slow
@needs_data
@pytest.mark.parametrize("base", SHIPPED_BASES)
def test_shipped_model_round_trips_through_the_cli_in_fresh_processes(tmp_path, base):
    """Every other shipped network (factorized prior, VQ, discretized VAEs): `neurcomp compress` in
    one process (2 threads), `neurcomp decompress` in another (1 thread), identical pixels to the
    encoder's reconstruction, and the payload within 1 % of the model's information content (a 384x256
    centre crop of kodim01)."""
    from neurcomp.data import kodak_paths, load_image, save_png
    from neurcomp.evaluate import centre_crop
    names = [m["name"] for m in list_models() if m["base"] == base]
    model = names[len(names) // 2]
    src = save_png(centre_crop(load_image(kodak_paths()[0]), (256, 384)), tmp_path / "crop.png")
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    r = subprocess.run([sys.executable, "-m", "neurcomp", "compress", str(src), str(tmp_path / "a.ncz"),
                        "--model", model], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    r = _fresh_decode(tmp_path / "a.ncz", tmp_path / "a.png", 1, dict(os.environ))
    assert r.returncode == 0, r.stderr
    torch.set_num_threads(2)
    x_here = decompress_stream((tmp_path / "a.ncz").read_bytes())[0]
    x_fresh = np.array(Image.open(tmp_path / "a.png"))  # writable, for torch.from_numpy
    assert np.array_equal(x_fresh, x_here)
    from neurcomp.metrics import psnr
    assert psnr(torch.from_numpy(x_fresh).permute(2, 0, 1).float() / 255, load_image(src)) > 20
    data, info = compress_image(load_image(src), model)
    payload_bits = 8 * (len(data) - info["header_bytes"])
    assert payload_bits <= sum(info["bits"].values()) * 1.01 + 64


PLN_NAMES = [m["name"] for m in list_models() if m["kind"] == "pln"]


@pytest.mark.slow
@needs_data
@pytest.mark.skipif(not PLN_NAMES, reason="no shipped PLN")
def test_shipped_pln_round_trips_through_the_cli_in_fresh_processes(tmp_path):
    """The shipped PLN at its middle beta on a 256x256 Kodak crop: `neurcomp compress --method rec`
    in one process (2 threads), `neurcomp decompress` in another (1 thread): the decoder regenerates
    the encoder's latent samples exactly (identical pixels); the REC file is close to the KL."""
    from neurcomp.data import kodak_paths, load_image, to_uint8
    model = PLN_NAMES[len(PLN_NAMES) // 2]
    x = load_image(kodak_paths()[0])[:, 128:384, 256:512]
    src = tmp_path / "crop.png"
    Image.fromarray(to_uint8(x)).save(src)
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    r = subprocess.run([sys.executable, "-m", "neurcomp", "compress", str(src), str(tmp_path / "a.ncz"),
                        "--model", model, "--method", "rec", "--seed", "7"], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    r = _fresh_decode(tmp_path / "a.ncz", tmp_path / "a.png", 1, dict(os.environ))
    assert r.returncode == 0, r.stderr
    torch.set_num_threads(2)
    data = (tmp_path / "a.ncz").read_bytes()
    x_here = decompress_stream(data)[0]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), x_here)
    again, info = compress_image(x, model, "rec", seed=7)
    assert again == data  # the encoder is deterministic given the seed
    assert np.array_equal(info["x_hat"], x_here)
    kl_bits = sum(info["bits"].values())
    payload_bits = 8 * (len(data) - info["header_bytes"])
    assert kl_bits < payload_bits < 1.35 * kl_bits + 800  # + 96 bytes of per-channel scales
    extra = info["extra_info"]
    assert extra["psnr_rec"] > extra["psnr_exact"] - 1.5 and extra["psnr_rec"] > 22
