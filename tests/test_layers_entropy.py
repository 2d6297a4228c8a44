import numpy as np
import torch

from neurcomp.entropy import FactorizedDensity, GaussianConditional
from neurcomp.layers import GDN


def test_gdn_inverse_and_positive_params():
    torch.manual_seed(0)
    gdn, igdn = GDN(6), GDN(6, inverse=True)
    x = torch.randn(2, 6, 5, 5)
    assert torch.all(gdn.beta() > 0) and torch.all(gdn.gamma() >= 0)
    # with the same parameters, IGDN(GDN(x)) ~ x only approximately; check the defining formula instead
    norm = torch.sqrt(gdn.beta().view(1, 6, 1, 1) + torch.einsum("ij,bjhw->bihw", gdn.gamma(), x ** 2))
    assert torch.allclose(gdn(x), x / norm, atol=1e-5)
    assert torch.allclose(igdn(x), x * norm, atol=1e-5)
    # a gradient step that pushes the parameters negative keeps them positive
    with torch.no_grad():
        gdn.beta.param.fill_(-5.0)
    assert torch.all(gdn.beta() > 0)


def test_factorized_density_is_a_pmf_over_integers():
    torch.manual_seed(0)
    d = FactorizedDensity(3)
    k = torch.arange(-300, 301, dtype=torch.float32).view(1, 1, 1, -1).expand(1, 3, 1, -1)
    total = d.likelihood(k).sum(-1)
    assert torch.allclose(total, torch.ones_like(total), atol=1e-4)


def test_factorized_tail_bounds_cover_the_mass():
    torch.manual_seed(0)
    d = FactorizedDensity(4)
    d.update()
    t = d.tables()
    for c in range(4):
        k = torch.arange(t.offsets[c], t.offsets[c] + t.lengths[c], dtype=torch.float32)
        mass = d.likelihood(k.view(1, 1, 1, -1).expand(1, 4, 1, -1))[0, c].sum()
        assert mass > 1 - 2e-6


def test_gaussian_conditional_pmf_and_coding():
    g = GaussianConditional()
    for s in (0.11, 1.0, 7.3, 200.0):
        k = torch.arange(-int(10 * s) - 10, int(10 * s) + 11, dtype=torch.float64)
        p = g.likelihood(k, torch.zeros_like(k), torch.full_like(k, s))
        assert abs(float(p.sum()) - 1) < 1e-5  # bins are floored at 1e-9
    torch.manual_seed(1)
    scale = torch.rand(1, 8, 6, 6) * 20 + 0.05
    sym = torch.round(torch.randn_like(scale) * scale)
    data = g.compress(sym, scale)
    assert torch.equal(g.decompress(data, scale).float(), sym)
    # coded size within 1 % of the continuous-scale information content
    ideal = float(-torch.log2(g.likelihood(sym, torch.zeros_like(sym), scale)).sum())
    assert abs(len(data) * 8 - ideal) < 0.01 * ideal + 64


def test_scale_index_nearest_in_log_space():
    g = GaussianConditional()
    table = g.scale_table()
    idx = g.scale_index(torch.tensor(table * 1.001)).numpy()
    assert np.array_equal(idx, np.arange(len(table)))
