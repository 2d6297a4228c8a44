import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, needs_data
from neurcomp.train import load_config, train
from neurcomp.zoo import WeightsError, list_models, load_pretrained, load_weights


def test_tiny_zoo_lists_every_rate_point(tiny_zoo):
    names = [m["name"] for m in list_models()]
    assert "tiny@0.0067" in names and "tiny@0.025" in names and "tinyfp@0.025" in names
    model, idx, entry = load_pretrained("tiny@0.025")
    assert idx == 1 and entry["kind"] == "hyperprior" and entry["params"] > 0


def test_unknown_model(tiny_zoo):
    with pytest.raises(WeightsError, match="unknown model"):
        load_pretrained("nope@1")
    with pytest.raises(WeightsError, match="several rate points"):
        load_pretrained("tiny")


def test_hash_mismatch_is_a_clear_error(tiny_zoo, tmp_path):
    card = json.loads((tiny_zoo / "tiny.json").read_text())
    bad = tmp_path / "tiny.safetensors"
    data = bytearray((tiny_zoo / "tiny.safetensors").read_bytes())
    data[-1] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_weights(bad, card["config"], card["sha256"])


def test_shipped_cards_match_files():
    from neurcomp.fileio import sha256_file
    from neurcomp.zoo import WEIGHTS_DIR
    for card_path in WEIGHTS_DIR.glob("*.json"):
        card = json.loads(card_path.read_text())
        f = WEIGHTS_DIR / card["file"]
        # float16 weights plus integer coding tables (the bits-back hyperprior's z tables span a 1/16 grid: ~1 MB)
        assert f.stat().st_size < 7_500_000, f"{f} is too large to ship"
        assert sha256_file(f) == card["sha256"]
        for key in ("config", "training", "kodak", "learning_curve", "params"):
            assert key in card, f"{card_path.name} lacks {key}"


@pytest.mark.slow
@needs_data
def test_resume_continues_from_checkpoint(tmp_path):
    cfg = {**load_config(ROOT / "configs" / "mshp_tiny.yaml"), "eval_images": 0, "steps": 4}
    train(cfg, tmp_path, quiet=True, max_steps=2)
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 2
    train(cfg, tmp_path, resume=True, quiet=True, max_steps=2)
    ck2 = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ck2["step"] == 4
    assert not torch.equal(ck["model"]["g_a.0.weight"], ck2["model"]["g_a.0.weight"])


@pytest.mark.slow
@needs_data
def test_cli_train_with_eval_writes_learning_curve(tmp_path):
    r = subprocess.run([sys.executable, "-m", "neurcomp.train", "--config", str(ROOT / "configs" / "mshp_tiny.yaml"),
                        "--out", str(tmp_path), "--steps", "25", "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    hist = json.loads((tmp_path / "history.json").read_text())
    assert hist and hist[0]["step"] == 25 and len(hist[0]["kodak"]) == 2


@pytest.mark.slow
@needs_data
def test_full_config_smoke(tmp_path):
    """The paper-scale config builds and takes two optimizer steps (so the path never rots)."""
    cfg = load_config(ROOT / "configs" / "mshp_full.yaml")
    assert cfg["model"]["N"] == 192 and cfg["model"]["M"] == 320 and cfg["crop"] == 256
    cfg = {**cfg, "batch_size": 2, "eval_images": 0}
    ck = train(cfg, tmp_path, quiet=True, max_steps=2)
    assert ck["step"] == 2


@pytest.mark.slow
@needs_data
def test_torchrun_two_cpu_processes_gloo(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
                        "-m", "neurcomp.train", "--config", str(ROOT / "configs" / "mshp_tiny.yaml"), "--out", str(tmp_path),
                        "--steps", "3", "--quiet", "--device", "cpu"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 3


@pytest.mark.slow
@needs_data
def test_slim_checkpoint_resumes(tmp_path):
    from neurcomp.train import save_slim
    cfg = {**load_config(ROOT / "configs" / "mshp_tiny.yaml"), "eval_images": 0, "steps": 6}
    ck = train(cfg, tmp_path / "a", quiet=True, max_steps=3)
    slim = save_slim(ck, tmp_path / "slim.pt")
    assert slim.stat().st_size < (tmp_path / "a" / "checkpoint.pt").stat().st_size / 2
    ck2 = train(cfg, tmp_path / "b", resume=True, resume_from=slim, quiet=True, max_steps=2)
    assert ck2["step"] == 5


def test_learning_rate_warms_up_again_from_a_fresh_optimizer():
    from neurcomp.train import learning_rate
    cfg = {"lr": 1e-3, "warmup_steps": 100, "lr_milestones": [1000], "lr_gamma": 0.3}
    assert learning_rate(cfg, 0) == pytest.approx(1e-5)
    assert learning_rate(cfg, 500) == pytest.approx(1e-3)
    assert learning_rate(cfg, 1500) == pytest.approx(3e-4)
    assert learning_rate(cfg, 1500, warm_from=1500) == pytest.approx(3e-6)
    assert learning_rate(cfg, 1599, warm_from=1500) == pytest.approx(3e-4)


@pytest.mark.slow
@needs_data
def test_resume_with_an_added_rate_point_keeps_the_old_ones(tmp_path):
    """A variable-rate model can grow a lambda on resume: old gain rows are carried over exactly."""
    cfg = {**load_config(ROOT / "configs" / "mshp_tiny.yaml"), "eval_images": 0, "steps": 6}
    old = list(cfg["model"]["lambdas"])
    ck = train(cfg, tmp_path, quiet=True, max_steps=2)
    grown = {**cfg, "model": {**cfg["model"], "lambdas": [old[0] / 2, *old]}}
    ck2 = train(grown, tmp_path, resume=True, quiet=True, max_steps=0)
    assert ck2["step"] == 2
    assert ck2["model"]["log_gain"].shape[0] == len(old) + 1
    torch.testing.assert_close(ck2["model"]["log_gain"][1:], ck["model"]["log_gain"])


def test_free_bits_and_rate_warmup_shape_only_the_training_loss():
    """Free bits: a channel below the threshold gets no rate gradient (its level cannot be pushed onto the
    prior), one above it gets the usual one; warm-up scales the rate term; the trainer hands both to
    rd_loss, and a model whose rate cannot take free bits (VQ) refuses them there."""
    from neurcomp.models import build_model
    from neurcomp.train import DEFAULTS, training_options

    def training_objective(model, out, losses, cfg, step):  # the loss the trainer minimizes at step
        return model.rd_loss(x_of[id(model)], out, 0, **training_options(cfg, step))["loss"]

    torch.manual_seed(0)
    m = build_model({"kind": "hdvae", "channels": 8, "latent_channels": 2, "levels": 2, "lambdas": [0.01]})
    x = torch.rand(2, 3, 32, 32)
    x_of = {id(m): x}
    out = m(x, 0)
    losses = m.rd_loss(x, out, 0)
    per_channel = {k: b.detach().transpose(0, 1).reshape(b.shape[1], -1).mean(1) for k, b in out["rate_bits"].items()}
    threshold = float(torch.cat(list(per_channel.values())).median())
    rate_tensors = list(out["rate_bits"].values())
    grads = torch.autograd.grad(training_objective(m, out, losses, {**DEFAULTS, "free_bits": threshold}, 5),
                                rate_tensors, retain_graph=True)
    for (key, mean), g in zip(per_channel.items(), grads):
        for c in range(len(mean)):
            if mean[c] < threshold:
                assert float(g[:, c].abs().max()) == 0.0, (key, c)
            else:
                assert float(g[:, c].abs().min()) > 0.0, (key, c)
    plain = training_objective(m, out, losses, DEFAULTS, 5)
    assert float(plain) == float(losses["loss"])
    ramp = [float(training_objective(m, out, losses, {**DEFAULTS, "rate_warmup_steps": 100}, s).detach())
            for s in (0, 50, 100, 500)]
    assert ramp[0] == pytest.approx(float((losses["loss"] - losses["bpp"]).detach()), rel=1e-5)
    assert ramp[1] == pytest.approx(float((losses["loss"] - 0.5 * losses["bpp"]).detach()), rel=1e-5)
    assert ramp[2] == ramp[3] == pytest.approx(float((losses["loss"]).detach()), rel=1e-5)
    vq = build_model(load_config(ROOT / "configs" / "vq_tiny.yaml")["model"])
    xv = torch.rand(1, 3, 32, 32)
    x_of[id(vq)] = xv
    out_v = vq(xv, 0)
    with pytest.raises(ValueError, match="no latent channels"):
        training_objective(vq, out_v, vq.rd_loss(xv, out_v, 0), {**DEFAULTS, "free_bits": 0.1}, 5)


@pytest.mark.slow
def test_a_stretch_leaves_a_slim_checkpoint_and_a_log_line_and_the_next_resumes_from_it(tmp_path, capsys):
    """Training across sessions: `python -m neurcomp.train CONFIG --resume --hours H` starts from the committed
    slim checkpoint when its run folder is empty, and leaves the next one plus a line in training_log.tsv."""
    from neurcomp.train import main

    ckpts = tmp_path / "checkpoints"
    cfg = str(ROOT / "configs" / "mshp_tiny.yaml")
    assert main([cfg, "--steps", "2", "--hours", "1", "--checkpoints", str(ckpts), "--out", str(tmp_path / "a"),
                 "--quiet", "--device", "cpu"]) == 0
    assert torch.load(ckpts / "mshp_tiny.pt", weights_only=True)["step"] == 2
    assert main([cfg, "--resume", "--steps", "3", "--hours", "1", "--checkpoints", str(ckpts), "--out",
                 str(tmp_path / "b"), "--quiet", "--device", "cpu"]) == 0  # a fresh run folder: the committed one
    assert torch.load(ckpts / "mshp_tiny.pt", weights_only=True)["step"] == 5
    rows = [line.split("\t") for line in (ckpts / "training_log.tsv").read_text().splitlines()]
    assert rows[0][:4] == ["date", "config", "from step", "to step"]
    assert [r[1:4] for r in rows[1:]] == [["mshp_tiny", "0", "2"], ["mshp_tiny", "2", "5"]]
