"""The overfitted codec (neurcomp.models.overfit): exact arithmetic, its stream, its cost, a golden stream.

The conformance test (tests/test_model_contract.py) also covers it: a fresh process with another thread count
decodes its streams to the encoder's pixels.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch

from neurcomp.entropy import CodingError
from neurcomp.models import OverfitCodec
from neurcomp.models.overfit import _dyadic, soft_round
from test_golden_streams import golden_image

GOLDEN = Path(__file__).parent / "golden" / "overfit.json"
TINY = {"grids": 4, "arm_hidden": 6, "synth_hidden": 6, "lambdas": [0.01, 0.05], "steps": 40}


def _coded(seed=0):
    torch.manual_seed(0)
    m = OverfitCodec(**TINY)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return m, m.compress(golden_image(64, 64, 2)[None], 1, seed=seed)
    finally:
        torch.set_num_threads(threads)


def test_soft_rounding_goes_from_the_identity_to_rounding():
    v = torch.linspace(-2, 2, 81)
    assert torch.allclose(soft_round(v, 50.0), v, atol=1e-3)
    assert torch.equal(soft_round(v + 0.013, 1e-3), torch.round(v + 0.013))
    warm, cold = soft_round(v + 0.2, 0.3), soft_round(v + 0.2, 0.1)
    assert ((cold - torch.round(v + 0.2)).abs() <= (warm - torch.round(v + 0.2)).abs() + 1e-6).all()


def test_the_exact_decoder_does_not_depend_on_the_order_of_summation():
    """Dyadic parameters and activations: permuting the hidden units (rows of one layer, columns of the next)
    changes the order of every sum and leaves every output bit as it was."""
    m, c = _coded()
    m64 = m.decoding_copy()
    y = [torch.round(v.detach()).double() for v in m.latents]
    before = m64._synthesize(y, exact=True)
    perm = torch.randperm(m.synth_hidden, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        m64.synth[0].weight.copy_(m64.synth[0].weight[perm]); m64.synth[0].bias.copy_(m64.synth[0].bias[perm])
        m64.synth[1].weight.copy_(m64.synth[1].weight[perm][:, perm]); m64.synth[1].bias.copy_(m64.synth[1].bias[perm])
        m64.synth[2].weight.copy_(m64.synth[2].weight[:, perm])
    assert torch.equal(m64._synthesize(y, exact=True), before)
    assert torch.equal(_dyadic(before), before)


def test_the_stream_holds_the_networks_and_decodes_to_the_encoders_pixels():
    m, c = _coded()
    assert len(c.sections) == 2 and c.bits["params"] > 0 and c.bits["latents"] > 0
    assert abs(8 * c.payload_bytes - c.information_bits) <= 0.01 * c.information_bits + 128
    fresh = OverfitCodec(**TINY)  # other initial weights: the decoder reads every parameter from the stream
    assert torch.equal(fresh.decompress(c.sections, c.latent_shape, 1), c.x_hat)
    assert c.info["macs_per_pixel"] == m.macs_per_pixel and c.info["steps"] == TINY["steps"]


def test_a_damaged_stream_is_refused_in_one_line():
    m, c = _coded()
    with pytest.raises(CodingError, match="parameter section too short"):
        m.decompress([c.sections[0][:3], c.sections[1]], c.latent_shape, 1)
    with pytest.raises(CodingError, match="width out of range"):
        m.decompress([bytes([1]) + c.sections[0][1:], c.sections[1]], c.latent_shape, 1)
    with pytest.raises(CodingError, match="parameter step out of range"):
        m.decompress([c.sections[0][:1] + bytes([99]) + c.sections[0][2:], c.sections[1]], c.latent_shape, 1)
    with pytest.raises(CodingError, match="whole 32-bit words"):
        m.decompress([c.sections[0], c.sections[1][:-1]], c.latent_shape, 1)


def test_multiply_accumulates_per_pixel_count_every_weight_once_per_position():
    m = OverfitCodec()
    arm = sum(conv.weight.numel() for conv in m.arm)
    synth = sum(conv.weight.numel() for conv in m.synth)
    latents_per_px = sum(4.0 ** -k for k in range(m.grids))
    up = m.macs_per_pixel - latents_per_px * arm - synth
    assert 0 < up <= 6 * 4 / 3 * (m.grids - 1)  # the upsampling: 6 per output, under 4/3 outputs per pixel and grid
    assert 1000 <= m.macs_per_pixel <= 3000, m.macs_per_pixel


def test_golden_stream():
    """The stream of a fixed image, seed and tiny configuration, on one thread (NEURCOMP_REGEN_GOLDEN=1
    rewrites it): byte for byte on the CPU that wrote it; encoding trains in float32, so another CPU may write
    another, equally valid, stream: there its length as test_golden_streams.length_agrees."""
    from test_golden_streams import length_agrees

    from neurcomp.book.nbcompare import cpu_fingerprint

    _, c = _coded()
    data = b"".join(c.sections)
    got = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    if os.environ.get("NEURCOMP_REGEN_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps({"cpu": cpu_fingerprint(), "tiny@0.05 golden b seed 0": got}, indent=1) + "\n")
    golden = json.loads(GOLDEN.read_text())
    want = golden["tiny@0.05 golden b seed 0"]
    if golden["cpu"] == cpu_fingerprint():
        assert got["sha256"] == want["sha256"]
    else:
        assert length_agrees(got["bytes"], want["bytes"]), (got, want)


def test_the_exact_range_is_enforced():
    """Beyond the magnitudes whose sums float64 holds exactly, the decoder refuses (one line); a configuration
    with wider layers than the range allows is refused when built."""
    assert torch.equal(_dyadic(torch.tensor([1.0 / 3])), torch.tensor([21845.0 / 65536]).double().float())
    with pytest.raises(CodingError, match="beyond the exact range"):
        _dyadic(torch.tensor([3.0e4]))
    with pytest.raises(ValueError, match="are 1 to 30"):
        OverfitCodec(arm_hidden=31)
    with pytest.raises(ValueError, match="are 1 to 30"):
        OverfitCodec(widths=[[8, 8], [16, 40]])


def test_the_command_line_trains_writes_decodes_and_describes_an_overfitted_stream(tmp_path, capsys):
    """``--model overfit --lambda L --steps N``: a progress bar while fitting (N steps per candidate width),
    a stream that names ``overfit:fast@L``, ``info`` with the kept width, its MAC/px and both sections' bits, a decoded PNG equal to
    the encoder's reconstruction; ``models`` lists the presets."""
    from neurcomp.cli import main
    from neurcomp.codec import compress_file
    from neurcomp.data import save_png
    from neurcomp.zoo.overfit import PRESETS

    src, out = tmp_path / "img.png", tmp_path / "img.ncz"
    save_png(golden_image(64, 128, 3), src)
    assert main(["compress", str(src), str(out), "--model", "overfit", "--lambda", "0.02", "--steps", "60"]) == 0
    err = capsys.readouterr().err
    assert "fitting" in err and "120/120" in err and "dB" in err  # 60 steps for each of the preset's 2 widths
    assert main(["info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model"] == "overfit:fast@0.02" and info["method"] == "overfit"
    model = OverfitCodec(**{k: v for k, v in PRESETS["fast"].items()})
    model.build(model.widths.index(tuple(info["widths"])))  # the width the encoder kept
    assert info["macs_per_pixel"] == round(model.macs_per_pixel, 1)
    assert info["param_bits"] == 8 * info["sections"][0] and info["latent_bits"] == 8 * info["sections"][1]
    assert main(["decompress", str(out), str(tmp_path / "back.png")]) == 0
    r = compress_file(src, tmp_path / "again.ncz", "overfit:fast@0.02", steps=60)
    assert (tmp_path / "again.ncz").read_bytes() == out.read_bytes()  # seeded: the same stream
    from PIL import Image
    import numpy as np
    assert np.array_equal(np.asarray(Image.open(tmp_path / "back.png")), r["x_hat"])
    capsys.readouterr()
    assert main(["models"]) == 0
    assert "overfit:slow@0.0018 overfit lambda 0.0018 0" in capsys.readouterr().out.splitlines()


def test_overfitted_model_names_and_options_are_checked_in_one_line(tmp_path, capsys):
    from neurcomp.cli import main
    from neurcomp.zoo import UnknownModel, load_pretrained

    assert load_pretrained("overfit:slow@0.0018")[0].arm_hidden == 16
    for bad in ("overfit:medium@0.01", "overfit:fast@-1", "overfit:fast@x", "overfit:fast"):
        with pytest.raises(UnknownModel, match="overfit:PRESET@LAMBDA"):
            load_pretrained(bad)
    src = tmp_path / "img.png"
    from neurcomp.data import save_png
    save_png(golden_image(64, 64, 3), src)
    assert main(["compress", str(src), str(tmp_path / "a.ncz"), "--model", "mshp@0.0067", "--lambda", "0.01"]) == 2
    assert "--lambda and --preset go with --model overfit" in capsys.readouterr().err
    assert main(["compress", str(src), str(tmp_path / "a.ncz"), "--model", "overfit", "--lambda", "0"]) == 2
    assert main(["compress", str(src), str(tmp_path / "a.ncz"), "--model", "overfit", "--lambda", "0.01",
                 "--quality", "2"]) == 2


def test_the_encoder_keeps_the_width_of_lowest_rate_distortion_cost():
    """Every candidate width is fitted; the stream's first byte says which had the lowest cost (real bits
    per pixel + lambda 255^2 MSE of the decoded pixels), and a decoder built at another width reads it."""
    m = OverfitCodec(grids=4, widths=[[2, 2], [6, 6]], lambdas=[0.05], steps=40)
    x = golden_image(64, 64, 2)[None]
    c = m.compress(x, 0)
    costs = c.info["width_rd_costs"]
    best = min(range(2), key=costs.__getitem__)
    assert len(costs) == 2 and c.sections[0][0] == best == m.width_idx
    assert c.info["widths"] == [2 + 4 * best] * 2 == [m.arm_hidden, m.synth_hidden]
    cost = sum(c.bits.values()) / x[0, 0].numel() + 0.05 * 255.0 ** 2 * float(((c.x_hat - x) ** 2).mean())
    assert abs(cost - costs[best]) <= 1e-6 * cost
    fresh = OverfitCodec(grids=4, widths=[[2, 2], [6, 6]], lambdas=[0.05], steps=40)
    fresh.build(1 - best)
    assert torch.equal(fresh.decompress(c.sections, c.latent_shape, 0), c.x_hat)
    assert fresh.width_idx == best and c.info["macs_per_pixel"] == fresh.macs_per_pixel
    kept = m.decoding_copy()._synthesize([torch.round(v.detach()).double() for v in m.latents], exact=True)
    assert torch.equal(kept.clamp(0, 1).float(), c.x_hat)  # the model holds the kept candidate's networks and latents


def test_candidates_fitted_at_once_write_the_stream_of_one_thread():
    """On 2 threads the candidate widths are fitted at once, one per thread, each on one core: the same
    arithmetic as fitting them one after the other on one thread, so the same stream."""
    x = golden_image(64, 64, 2)[None]
    threads, streams = torch.get_num_threads(), []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            c = OverfitCodec(grids=4, widths=[[2, 2], [6, 6]], lambdas=[0.05], steps=30).compress(x, 0)
            streams.append(b"".join(c.sections))
            assert torch.get_num_threads() == n  # restored after the parallel fits
    finally:
        torch.set_num_threads(threads)
    assert streams[0] == streams[1]


def test_the_stream_says_where_its_bits_go():
    """Per grid (finest first) and per layer, the bits add up to the coder's totals."""
    m, c = _coded()
    by_grid, by_layer = c.info["latent_bits_by_grid"], c.info["param_bits_by_layer"]
    assert len(by_grid) == m.grids and abs(sum(by_grid) - c.bits["latents"]) < 1e-6
    assert list(by_layer)[:-1] == list(m.param_groups()) and abs(sum(by_layer.values()) - c.bits["params"]) < 1e-6
    assert by_grid[0] > by_grid[-1] >= 0  # the finest grid holds most latents


def _init_values(m: OverfitCodec, seed: int) -> dict:
    """Starting networks for ``m``'s width: seeded values on the exact decoder's grid (multiples of 2^-11)."""
    g = torch.Generator().manual_seed(seed)
    return {f"{m.arm_hidden}x{m.synth_hidden}": {n: torch.round(torch.randn(t.shape, generator=g, dtype=torch.float64) * 0.3 * 2048) / 2048
                                                  for n, t in m.named_parameters()}}


def test_shipped_starting_networks_are_where_encoding_starts_and_what_the_stream_codes_from():
    """With starting networks (set_init) a fit starts from them and the stream codes each parameter's difference
    to them: unfitted networks cost almost nothing, a decoder with the same starting networks decodes the
    encoder's pixels, one without them does not."""
    x = golden_image(64, 64, 2)[None]
    m = OverfitCodec(**TINY)
    init = _init_values(m, 3)
    m.set_init(init)
    assert all(torch.equal(t.double(), init["6x6"][n]) for n, t in m.named_parameters())
    unfitted = m.compress(x, 0, steps=0)
    plain = OverfitCodec(**TINY).compress(x, 0, steps=0)  # random networks, coded from zero
    n_tensors = sum(len(v) for v in m.param_groups().values())
    assert unfitted.bits["params"] < 8 * (1 + len(m.param_groups()) + n_tensors) + 2 * n_tensors < plain.bits["params"] / 4
    c = m.compress(x, 1)
    same = OverfitCodec(**TINY)
    same.set_init(init)
    assert torch.equal(same.decompress(c.sections, c.latent_shape, 1), c.x_hat)
    assert not torch.equal(OverfitCodec(**TINY).decompress(c.sections, c.latent_shape, 1), c.x_hat)


def test_starting_networks_off_the_exact_grid_are_refused():
    m = OverfitCodec(**TINY)
    bad = _init_values(m, 0)
    bad["6x6"]["arm.0.bias"] = bad["6x6"]["arm.0.bias"] + 2.0 ** -13
    with pytest.raises(ValueError, match="multiples of 2\\^-11"):
        m.set_init(bad)


def test_the_warm_preset_starts_from_the_shipped_networks_of_the_nearest_lambda():
    from neurcomp.zoo.overfit import PRESETS, architecture_sha256, init_path, load_named

    card = json.loads(init_path("overfit_init").read_text())
    lams = sorted(float(v) for v in card["lambdas"])
    model, _, entry = load_named("overfit:warm@0.0070")  # nearest (in log lambda): 0.0067
    nearest = min(lams, key=lambda v: abs(float(torch.log(torch.tensor(v / 0.007)))))
    ints = card["lambdas"][f"{nearest:g}"]["16x16"]["arm.0.weight"]["ints"]
    assert torch.equal(model.init_values["16x16"]["arm.0.weight"].flatten() * 2048, torch.tensor(ints, dtype=torch.float64))
    assert set(model.init_values) == {f"{a}x{s}" for a, s in PRESETS["warm"]["widths"]}
    assert torch.equal(model.arm[0].weight.double(), model.init_values["16x16"]["arm.0.weight"])  # it starts there
    fast = {**PRESETS["warm"], "kind": "overfit"}
    del fast["init"]
    assert entry["sha256"] != architecture_sha256(fast)  # the starting networks are part of the fingerprint


def test_a_model_named_after_starting_networks_it_has_not_loaded_refuses_to_code():
    m = OverfitCodec(**TINY, init="overfit_init")
    with pytest.raises(ValueError, match="set_init"):
        m.compress(golden_image(64, 64, 2)[None], 0, steps=1)
    with pytest.raises(ValueError, match="set_init"):
        m.decompress([b"\0", b""], (1, 1), 0)


def test_a_warm_stream_decodes_through_the_codec_and_names_its_preset():
    from neurcomp.codec import compress_image, decompress_stream

    x = golden_image(64, 64, 2)
    data, info = compress_image(x, "overfit:warm@0.0483", steps=3)
    img, stream = decompress_stream(data)
    assert stream.model == "overfit:warm@0.0483" and (img == info["x_hat"]).all()
