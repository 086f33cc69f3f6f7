"""S/N augmentation: degraded spectra reach log-uniform target S/N between the
floor and their own, masked pixels and spectra already below the floor are left
alone, and the share degraded is the configured fraction."""

import numpy as np
import torch

from starlabel.training.augment import degrade_snr


def test_degraded_spectra_are_log_uniform_in_snr():
    torch.manual_seed(0)
    n, p = 4000, 2000
    flux = torch.ones(n, p)
    sigma = torch.full((n, p), 0.01)  # S/N 100 spectra
    sigma[:, :10] = 0.0  # masked pixels
    out = degrade_snr(flux, sigma, torch.full((n,), 100.0), snr_min=10.0, fraction=1.0)
    added = (out - flux)[:, 10:].std(dim=1).numpy()
    snr = 1.0 / np.sqrt(0.01**2 + added**2)  # total noise of the degraded spectrum
    # log-uniform on [10, 100]: quartiles at 10^1.25, 10^1.5, 10^1.75
    q = np.quantile(np.log10(snr), [0.25, 0.5, 0.75])
    np.testing.assert_allclose(q, [1.25, 1.5, 1.75], atol=0.03)
    assert snr.min() > 9.5 and snr.max() <= 100.0 + 1e-6
    assert torch.equal(out[:, :10], flux[:, :10])


def test_fraction_and_spectra_below_the_floor():
    torch.manual_seed(1)
    n = 10000
    flux, sigma = torch.ones(n, 50), torch.full((n, 50), 0.05)
    snr = torch.cat([torch.full((n // 2,), 20.0), torch.full((n // 2,), 4.0)])
    out = degrade_snr(flux, sigma, snr, snr_min=5.0, fraction=0.3)
    changed = (out != flux).any(dim=1).numpy()
    assert not changed[n // 2 :].any()  # already below S/N 5
    assert abs(changed[: n // 2].mean() - 0.3) < 0.02
