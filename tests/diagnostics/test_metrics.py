import numpy as np

from starlabel.diagnostics.metrics import label_metrics


def test_metrics_of_calibrated_gaussian_errors():
    rng = np.random.default_rng(0)
    n = 20000
    truth = rng.uniform(4000, 7000, n)
    sigma = rng.uniform(20, 80, n)
    pred = truth + 5.0 + rng.normal(0, 1, n) * sigma
    m = label_metrics("teff", pred, truth, sigma=sigma, crlb=np.full(n, 10.0), unit="K")
    res = pred - truth
    assert m.n == n and abs(m.bias - res.mean()) < 1e-9
    assert abs(m.std - res.std(ddof=1)) < 1e-9
    assert abs(m.z_std - 1.0) < 0.02
    assert abs(m.coverage_68 - 0.6827) < 0.01 and abs(m.coverage_95 - 0.9545) < 0.005
    assert abs(m.sigma_over_crlb - res.std(ddof=1) / 10.0) < 1e-9
    assert m.p15 < m.bias < m.p85
    # robust std of one Gaussian equals its std (the mixture above is heavier-tailed)
    g = label_metrics("teff", truth + rng.normal(0, 40.0, n), truth)
    assert abs(g.robust_std / g.std - 1) < 0.03 and abs(g.std - 40.0) < 1.0


def test_metrics_ignore_missing_values():
    m = label_metrics(
        "fe_h", np.array([0.1, np.nan, 0.3]), np.array([0.0, 0.0, np.nan])
    )
    assert m.n == 1 and m.bias == 0.1
