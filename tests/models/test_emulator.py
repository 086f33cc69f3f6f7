"""The spectrum emulator and the per-star fit: the emulator reproduces a toy grid to
its noise, the fit recovers labels from a start far away with Laplace errors equal
to an independent finite-difference Fisher inverse, a spectrum outside the training
range gets a high chi^2 and flags, refine streams a file in input order, and a bad
start catalogue is refused in one line."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
import torch
from astropy.table import Table

from starlabel.errors import StarlabelInputError
from starlabel.inference import predict_file, read_catalogue_table, refine_file
from starlabel.models import EmulatorConfig, SpectrumEmulator
from starlabel.models.labelfit import FitSettings, levenberg_marquardt
from starlabel.nn.emulator import EmulatorNet
from starlabel.spectra import Flag, Spectra, write_dataset
from starlabel.training import TrainConfig

N_PIXELS = 60
NAMES = ("teff", "logg", "fe_h")
RANGES = np.array([[4500.0, 6500.0], [1.5, 4.5], [-1.0, 0.4]])
SIGMA = 0.01


def _coefficients() -> np.ndarray:
    rng = np.random.default_rng(42)
    return rng.normal(0.0, 0.05, (3, N_PIXELS))


def linear_flux(labels: np.ndarray) -> np.ndarray:
    """A toy grid linear in the labels (each scaled to 0..1)."""
    z = (labels - RANGES[:, 0]) / (RANGES[:, 1] - RANGES[:, 0])
    return 0.8 + z @ _coefficients()


def linear_spectra(labels: np.ndarray, seed: int, *, sigma: float = SIGMA) -> Spectra:
    rng = np.random.default_rng(seed)
    flux = linear_flux(labels) + (
        rng.normal(0, sigma, (len(labels), N_PIXELS)) if sigma else 0
    )
    return Spectra(
        flux,
        np.linspace(6000, 6059, N_PIXELS) * u.AA,
        np.full(flux.shape, 1 / SIGMA**2),
        dict(zip(NAMES, labels.T, strict=True)),
        meta={"id": [f"e{seed}-{i:04d}" for i in range(len(labels))]},
    )


def draw_labels(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(RANGES[:, 0], RANGES[:, 1], (n, 3))


CONFIG = EmulatorConfig(
    hidden=(32, 32),
    train=TrainConfig(
        optimizer="adam",
        lr=3e-3,
        batch_size=64,
        max_epochs=150,
        patience=20,
        lr_schedule="plateau",
        lr_gamma=0.3,
    ),
    n_candidates=200,
)


@pytest.fixture(scope="module")
def emulator() -> SpectrumEmulator:
    torch.manual_seed(0)
    train = linear_spectra(draw_labels(800, 1), 1)
    valid = linear_spectra(draw_labels(300, 2), 2)
    return SpectrumEmulator(CONFIG, device="cpu").fit(train, valid)


def test_jacobian_in_closed_form_equals_autograd():
    torch.manual_seed(0)
    net = EmulatorNet(4, 30, (8, 7)).double()
    x = torch.randn(5, 4, dtype=torch.float64)
    _, jac_t = net.with_jacobian(x)
    for i in range(5):
        ref = torch.autograd.functional.jacobian(lambda v: net(v[None])[0], x[i])
        torch.testing.assert_close(jac_t[i], ref.T)


def test_emulator_reproduces_a_linear_grid_to_its_noise(emulator):
    labels = draw_labels(500, 3)
    rms = np.sqrt(np.mean((emulator.emulate(labels) - linear_flux(labels)) ** 2))
    assert rms < 0.25 * SIGMA, rms  # well below the noise of one spectrum
    err = emulator.error_per_pixel()
    # the stored error (residual variance beyond the noise) measures that rms
    assert 0.3 * rms < np.sqrt(np.mean(err["error"] ** 2)) < 3 * rms + 1e-4
    np.testing.assert_allclose(err["median_noise"], SIGMA, rtol=1e-3)


def _fisher_sigma(est: SpectrumEmulator, labels: np.ndarray) -> np.ndarray:
    """1-sigma from the inverse of a finite-difference Fisher matrix plus the fit's
    prior, in label units (independent of the closed-form Jacobian)."""
    mod = est.module_
    scale = mod.label_scaler.scale.double().numpy()
    w = (1 / SIGMA**2) / (1 + mod.error.double().numpy() ** 2 / SIGMA**2)
    prior = est._config.fit_settings().prior / scale**2
    out = []
    for x in labels:
        cols = []
        for k in range(3):
            h = 1e-2 * scale[k]
            up, down = x.copy(), x.copy()
            up[k] += h
            down[k] -= h
            cols.append(
                (est.emulate(up[None])[0] - est.emulate(down[None])[0]) / (2 * h)
            )
        jac = np.stack(cols, axis=1)
        fisher = jac.T @ (w[:, None] * jac) + np.diag(prior)
        out.append(np.sqrt(np.diag(np.linalg.inv(fisher))))
    return np.array(out)


def test_fit_recovers_noise_free_labels_with_fisher_errors(emulator):
    truth = draw_labels(40, 4)
    truth = np.clip(
        truth,
        RANGES[:, 0] + 0.1 * np.ptp(RANGES, 1),
        RANGES[:, 1] - 0.1 * np.ptp(RANGES, 1),
    )
    clean = emulator.emulate(truth)
    sp = linear_spectra(truth, 5, sigma=0.0)
    sp = Spectra(clean, sp.wavelength, sp.ivar, sp.labels, meta={"id": sp.ids})
    fisher = _fisher_sigma(emulator, truth)
    span = np.ptp(RANGES, axis=1)
    signs = np.where(np.arange(40)[:, None] % 2 == 0, 1.0, -1.0) * np.array(
        [1.0, -1.0, 1.0]
    )
    for start in (truth + 3 * fisher * signs, None):
        pred = emulator.refine(sp, start)
        assert (np.abs(pred.mean - truth) < 0.01 * span).all(), np.abs(
            pred.mean - truth
        ).max(0)
        assert pred.columns["fit_converged"].all()
        # Laplace errors (before calibration) = the finite-difference Fisher inverse
        np.testing.assert_allclose(pred.sigma_internal, fisher, rtol=0.03)


def test_fit_from_a_far_start_on_an_analytic_model():
    """Levenberg-Marquardt alone, on a model with an exact Jacobian, from starts
    a third of the box away."""
    a = torch.tensor(
        np.random.default_rng(0).normal(0, 1, (3, 80)), dtype=torch.float64
    )

    def model(x):
        return torch.tanh(x @ a)

    def model_jac(x):
        y = torch.tanh(x @ a)
        return y, (1 - y**2)[:, None, :] * a[None]

    truth = torch.tensor(np.random.default_rng(1).uniform(-1, 1, (50, 3)))
    flux = model(truth)
    x0 = truth + torch.where(truth > 0, -0.7, 0.7)
    fit = levenberg_marquardt(
        model,
        model_jac,
        flux,
        torch.full_like(flux, 1e4),
        x0,
        torch.full((3,), -1.5, dtype=torch.float64),
        torch.full((3,), 1.5, dtype=torch.float64),
        FitSettings(prior=0.0, tol_chi2=1e-8, max_iter=60),
    )
    np.testing.assert_allclose(fit.x, truth.numpy(), atol=1e-4)
    assert fit.converged.all() and not fit.at_bound.any()


def test_spectrum_outside_the_training_range_gets_high_chi2_and_flags(emulator):
    inside = draw_labels(60, 6)
    outside = inside[:10].copy()
    outside[:, 2] = 1.6  # [Fe/H] far above the training range (max 0.4)
    sp = linear_spectra(np.vstack([inside, outside]), 7)
    pred = emulator.predict(sp)
    chi2 = pred.columns["chi2"]
    assert np.median(chi2[:60]) < 1.5
    assert (chi2[60:] > 5 * np.median(chi2[:60])).all()
    assert ((pred.flags[60:] & Flag.FIT_AT_BOUND) > 0).all()
    assert (pred.ood_score[60:] > 1).all()
    assert (pred.ood_score[:60] > 1).mean() < 0.1


def test_refine_streams_a_file_in_input_order(emulator, tmp_path):
    truth = draw_labels(300, 8)
    sp = linear_spectra(truth, 9)
    write_dataset(sp, tmp_path / "d.h5")
    # a start catalogue in another row order, with one star NaN (another model failed)
    order = np.random.default_rng(0).permutation(300)
    start = Table({"id": sp.ids[order]})
    for k, name in enumerate(NAMES):
        start[name] = truth[order, k] + 0.05 * np.ptp(RANGES[k])
    start["teff"][0] = np.nan
    start.write(tmp_path / "start.csv")
    opts = emulator.predict_options(batch_size=128)  # three batches
    counts = refine_file(
        emulator,
        tmp_path / "d.h5",
        tmp_path / "r.fits",
        start=tmp_path / "start.csv",
        options=opts,
    )
    cat = read_catalogue_table(tmp_path / "r.fits")
    assert counts["n_spectra"] == 300 and list(cat["id"]) == list(sp.ids)
    whole = emulator.refine(
        sp, np.column_stack([np.asarray(start[n])[np.argsort(order)] for n in NAMES])
    )
    for k, name in enumerate(NAMES):
        np.testing.assert_allclose(
            np.asarray(cat[name]), whole.mean[:, k], rtol=1e-5, atol=1e-6
        )
    for col in (
        "chi2",
        "fit_iter",
        "fit_converged",
        "teff_err",
        "teff_err_raw",
        "teff_start",
        "ood_score",
        "flag",
    ):
        assert col in cat.colnames, col
    assert cat.meta["SLSTART"] == "start.csv"


def test_bad_start_catalogues_are_one_line_errors(emulator, tmp_path):
    sp = linear_spectra(draw_labels(20, 10), 11)
    write_dataset(sp, tmp_path / "d.h5")
    t = Table({"id": sp.ids[1:], "teff": np.full(19, 5000.0)})  # first star missing
    t.write(tmp_path / "missing_id.csv")
    with pytest.raises(
        StarlabelInputError,
        match=r"star e11-0000: not in the start catalogue .* \(row 1 of the dataset\)",
    ) as exc:
        refine_file(
            emulator,
            tmp_path / "d.h5",
            tmp_path / "o.fits",
            start=tmp_path / "missing_id.csv",
        )
    assert "\n" not in str(exc.value) and not (tmp_path / "o.fits").exists()
    Table({"id": sp.ids, "vmic": np.ones(20)}).write(tmp_path / "no_labels.csv")
    with pytest.raises(StarlabelInputError, match="none of the emulator's labels"):
        refine_file(
            emulator,
            tmp_path / "d.h5",
            tmp_path / "o.fits",
            start=tmp_path / "no_labels.csv",
        )
    # a regressor's catalogue is not an emulator
    cat = tmp_path / "c.csv"
    predict_file(emulator, tmp_path / "d.h5", cat)
    with pytest.raises(StarlabelInputError, match="refine needs an emulator"):
        refine_file(
            type("M", (), {"kind": "cnn"})(), tmp_path / "d.h5", tmp_path / "o.fits"
        )
