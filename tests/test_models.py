import pytest
import torch

from neurcomp.models import FactorizedPrior, MeanScaleHyperprior, ScaleHyperprior, build_model


@pytest.mark.parametrize("cls", [FactorizedPrior, ScaleHyperprior, MeanScaleHyperprior])
def test_forward_shapes_and_loss(cls):
    torch.manual_seed(0)
    m = cls(N=8, M=12, lambdas=[0.003, 0.03])
    x = torch.rand(2, 3, 64, 64)
    out = m(x, torch.tensor([0, 1]))
    assert out["x_hat"].shape == x.shape
    assert all(torch.all(b >= 0) for b in out["rate_bits"].values())
    loss = m.rd_loss(x, out, torch.tensor([0, 1]))
    loss["loss"].backward()
    assert m.g_a[0].weight.grad is not None and m.log_gain.grad is not None
    assert build_model(m.config).config == m.config


@pytest.mark.parametrize("cls", [FactorizedPrior, ScaleHyperprior, MeanScaleHyperprior])
def test_eval_rate_equals_coded_rate(cls):
    """In eval mode, the rate_bits give the rate the range coder achieves (within 1 %)."""
    torch.manual_seed(0)
    m = cls(N=8, M=12, lambdas=[0.003, 0.03]).eval()
    m.update()
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        out = m(x, 1)
    ideal_bits = sum(float(b.sum()) for b in out["rate_bits"].values())
    c = m.compress(x, 1)
    coded_bits = 8 * sum(len(s) for s in c.sections)
    assert abs(coded_bits - ideal_bits) <= 0.01 * ideal_bits + 64
    x_hat = m.decompress(c.sections, c.latent_shape, 1)
    assert torch.equal(x_hat, c.x_hat)
    assert torch.allclose(x_hat, out["x_hat"], atol=1e-4)


def test_gains_make_rate_points_differ():
    torch.manual_seed(0)
    m = MeanScaleHyperprior(N=8, M=12, lambdas=[0.001, 0.1])
    assert m.log_gain[1].mean() > m.log_gain[0].mean()
