"""The invertible blocks and the posterior summaries, against independent computations."""

import numpy as np
import pytest
import torch
from scipy import optimize, stats

from starlabel.inference.posterior import kde_peak, precision_summary
from starlabel.nn.condnet import ConditioningNet
from starlabel.nn.glow import ConditionalINN


def random_inn(dim: int, cond_dims, seed: int = 0) -> ConditionalINN:
    """An INN far from the identity: large output weights, random ActNorm."""
    torch.manual_seed(seed)
    inn = ConditionalINN(dim, cond_dims, hidden=16, init_std=0.3).double()
    with torch.no_grad():
        for norm in inn.norms:
            norm.bias.uniform_(-0.5, 0.5)
            norm.log_scale.uniform_(-0.5, 0.5)
    return inn.eval()


@pytest.mark.parametrize("dim", [2, 5])
def test_inn_inverts_exactly(dim):
    inn = random_inn(dim, [4, 3, 4, 2])
    conds = [torch.randn(50, c, dtype=torch.float64) for c in (4, 3, 4, 2)]
    proj = inn.project(conds)
    x = torch.randn(50, dim, dtype=torch.float64) * 2
    z, _ = inn(x, proj)
    assert (z - x).abs().max() > 0.1  # not the identity
    torch.testing.assert_close(inn.inverse(z, proj), x, rtol=0, atol=1e-5)


def test_log_determinant_equals_brute_force_jacobian():
    inn = random_inn(3, [2, 2])
    conds = [torch.randn(1, 2, dtype=torch.float64) for _ in range(2)]
    proj = inn.project(conds)
    for _ in range(5):
        x = torch.randn(1, 3, dtype=torch.float64)
        _, logdet = inn(x, proj)
        jac = torch.autograd.functional.jacobian(
            lambda v: inn(v[None], proj)[0][0], x[0]
        )
        expected = torch.linalg.slogdet(jac).logabsdet
        torch.testing.assert_close(logdet[0], expected, rtol=1e-8, atol=1e-8)


def test_projection_broadcasts_over_draws():
    inn = random_inn(3, [4, 4])
    conds = [torch.randn(6, 4, dtype=torch.float64) for _ in range(2)]
    z = torch.randn(6, 7, 3, dtype=torch.float64)
    once = inn.inverse(z, inn.project([c[:, None] for c in conds]))
    repeated = inn.inverse(
        z.reshape(-1, 3), inn.project([c.repeat_interleave(7, 0) for c in conds])
    ).reshape(6, 7, 3)
    torch.testing.assert_close(once, repeated)


def test_conditioning_banded_path_equals_torch_layers():
    torch.manual_seed(0)
    net = ConditioningNet(
        700, [8, 4, 6], channels=(4, 5, 3), kernel_size=7, pool=(3, 2, 2)
    )
    x = torch.rand(4, 700)
    banded = net.conv_stages(x)
    h, reference = x.unsqueeze(1), []
    for conv, p in zip(net.convs, net.pools, strict=True):
        h = torch.nn.functional.max_pool1d(torch.relu(conv(h)), p)
        reference.append(h.flatten(1))
    for got, expected in zip(banded, reference, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def reference_peak(samples: np.ndarray) -> float:
    """scipy's Gaussian KDE (Silverman) maximised on a fine grid, then polished."""
    kde = stats.gaussian_kde(samples, bw_method="silverman")
    grid = np.linspace(samples.min(), samples.max(), 4001)
    i = int(np.argmax(kde(grid)))
    step = grid[1] - grid[0]
    res = optimize.minimize_scalar(
        lambda v: -kde(v)[0],
        bounds=(grid[i] - step, grid[i] + step),
        method="bounded",
        options={"xatol": 1e-10},
    )
    return float(res.x)


def test_kde_peak_matches_scipy_on_a_bimodal_sample():
    rng = np.random.default_rng(3)
    s = np.concatenate([rng.normal(0, 1, 150), rng.normal(4, 0.5, 100)])
    got = float(kde_peak(torch.as_tensor(s)))
    assert got == pytest.approx(reference_peak(s), abs=1e-4)


def test_precision_summary_equals_slow_reference():
    rng = np.random.default_rng(1)
    n_stars, n_copies, n_draws, n_labels = 3, 5, 250, 2
    samples = rng.normal(size=(n_stars, n_copies, n_draws, n_labels))
    samples[..., 1] = rng.gamma(2.0, 1.0, size=samples.shape[:-1])  # skewed posterior
    value, internal, external = precision_summary(torch.as_tensor(samples))
    for i in range(n_stars):
        for k in range(n_labels):
            peaks = [reference_peak(samples[i, c, :, k]) for c in range(n_copies)]
            half = [
                (
                    np.percentile(samples[i, c, :, k], 84)
                    - np.percentile(samples[i, c, :, k], 16)
                )
                / 2
                for c in range(n_copies)
            ]
            assert float(value[i, k]) == pytest.approx(np.median(peaks), abs=1e-4)
            assert float(internal[i, k]) == pytest.approx(np.median(half), rel=1e-9)
            assert float(external[i, k]) == pytest.approx(
                np.std(peaks, ddof=1), abs=1e-4
            )
