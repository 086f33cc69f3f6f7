"""Shared fixtures: tiny generated spectra, seeds, paths to the shared real files."""

from __future__ import annotations

import sys
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest

from starlabel.spectra import Spectra

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _seed() -> None:
    np.random.seed(0)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"real data folder {SHARED_DATA} absent (a user's clone has no ../shared)"
        )
    return SHARED_DATA


def gaussian_line_spectra(n: int = 16, n_pixels: int = 256, seed: int = 0) -> Spectra:
    """Spectra of Gaussian lines whose depth and width follow known labels."""
    rng = np.random.default_rng(seed)
    wl = np.linspace(5000.0, 5025.5, n_pixels)
    teff = rng.uniform(4000, 7000, n)
    fe_h = rng.uniform(-2, 0.5, n)
    depth = 0.3 + 0.15 * fe_h[:, None]
    width = 0.1 + 0.05 * (teff[:, None] - 4000) / 3000
    flux = 1 - depth * np.exp(-0.5 * ((wl[None, :] - 5012.0) / width) ** 2)
    sigma = 0.01
    noisy = flux + rng.normal(0, sigma, flux.shape)
    ivar = np.full(flux.shape, 1 / sigma**2)
    return Spectra(
        noisy,
        wl * u.AA,
        ivar,
        {"teff": teff, "fe_h": fe_h},
        labels_err={"teff": np.full(n, 50.0)},
        labels_crlb={"fe_h": np.full(n, 0.01)},
        extra={"gmag": rng.uniform(10, 15, n)},
        meta={
            "id": [f"s{i:03d}" for i in range(n)],
            "snr": np.full(n, 100.0),
            "cluster": ["NGC 2420"] * n,
        },
        setup="test",
    )


@pytest.fixture
def small_spectra() -> Spectra:
    return gaussian_line_spectra()


def cli_process(*args) -> list[str]:
    """The argv that runs ``starlabel ARGS`` in a fresh Python process (for
    subprocess tests: kill -9, several processes at once)."""
    code = "import sys; from starlabel.cli.main import main; sys.argv[0]='starlabel'; main()"
    return [sys.executable, "-c", code, *map(str, args)]
