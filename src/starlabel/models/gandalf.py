"""Disentangling adversarial autoencoder (Santoveña/Manteiga et al. 2025, "GANDALF").

An encoder maps a spectrum (optionally with its labels) to a latent vector z; a
decoder rebuilds the spectrum from z and the labels; one discriminator per
conditioned label tries to tell the label's bin (equal-width bins over the training
range) from z. The autoencoder minimises

    MSE(x, x_hat) - sum_i lambda_i * CE_i

(or, with ``adversary="uniform"``, + lambda_i * CE(uniform, D_i(z)) for the
disentangled labels) with lambda_i > 0 to remove label i from z (disentangle), lambda_i < 0 to reinforce
it (entangle), 0 to ignore it. Flux enters standardised per pixel (training mean and
scatter), so the MSE is dimensionless and lambda is relative to it.

Schedule (per mini-batch): one discriminator step on z of the current encoder
(detached), then one autoencoder step against the updated discriminators. lambda is
ramped linearly from 0 over the first ``lambda_ramp_epochs`` epochs so the
discriminators learn something before the encoder starts to fight them. Training
runs ``max_epochs`` epochs and keeps the last weights (an adversarial objective has
no validation loss that is safe to early-stop on).

After training, latent regressors (scikit-learn MLPs, paper 200 -> 100; the first on
every training star, the others on bootstrap samples) map z to every label;
``predict`` encodes and averages them. ``_err_int`` is their spread (per star),
``_err_ext`` the held-out scatter (one number per label); ``_err`` is calibrated on
the validation stars like every model's (``models.recalibration``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..nn.gandalf_network import AutoencoderNetwork
from ..spectra.container import Spectra
from ..spectra.preprocess import dense_flux
from ..training import History
from ._shared import SpectralModel
from .base import LabelPrediction
from .gandalf_config import (
    GANDALF_PRESETS,
    GANDALF_SEARCH_SPACE,
    EditedSpectrum,
    GandalfConfig,
    GandalfPredictOptions,
)
from .gandalf_parts import edit_spectrum, latent_label_function, reconstruction_error
from .gandalf_train import train_autoencoder
from .latent import DenseRegressor, fit_dense_regressor, r2_per_label
from .persist import load_tensors

__all__ = [
    "GANDALF_PRESETS",
    "EditedSpectrum",
    "GandalfConfig",
    "GandalfPredictOptions",
    "LatentAutoencoder",
]


class LatentAutoencoder(SpectralModel):
    """Adversarial autoencoder with label discriminators and a latent regressor.

    Args:
        config: sizes, lambdas and training (default: the paper's sizes, no lambda).
        labels: labels given to the decoder and regressed from z (default: every
            label of the training set). Stars missing any of them are left out.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        random_state: seed of weights, batches and the regressor.
        show_progress: draw a rich progress bar while training.
    """

    kind = "gandalf"
    title = "adversarial autoencoder (labels disentangled from or entangled with its latent space; editing spectra)"
    weight_file = "gandalf.safetensors"
    #: an adversarial objective: too few stars are refused, not warned of
    min_stars = (20, 5)
    warn_few_stars = False
    config_class = GandalfConfig
    options_class = GandalfPredictOptions
    presets = GANDALF_PRESETS
    default_preset = "santovena2025"
    search_space = GANDALF_SEARCH_SPACE
    #: its validation loss is the reconstruction alone, which lambda trades away:
    #: a search on it would switch lambda off
    search_metric = "scatter"
    flag_fields = {
        "latent": "latent",
        "disentangle": "disentangle",
        "entangle": "entangle",
        "lambda": "strength",
        "adversary": "adversary",
        "encoder_labels": "encoder_labels",
        "valid_fraction": "valid_fraction",
        "max_epochs": "max_epochs",
        "batch_size": "batch_size",
        "lr": "lr",
    }
    uncertainty_parts = {
        "int": "spread (standard deviation) of the bootstrap latent regressors: the "
        "per-star model part (NaN with one regressor)",
        "ext": "the first latent regressor's scatter on held-out stars: one "
        "population-level number per label, the same for every star",
    }
    loss_name = "reconstruction MSE of standardised flux"

    @property
    def conditioned_(self) -> tuple[str, ...]:
        """Labels that have a discriminator, in the order of ``lambdas_``."""
        return tuple(self._config.lambdas)

    def _build(self, n_pixels: int, seed: int) -> AutoencoderNetwork:
        c = self._config
        return AutoencoderNetwork(
            n_pixels,
            len(self.label_names_),
            c.latent,
            n_conditioned=len(self.conditioned_),
            n_bins=c.n_bins,
            encoder=c.encoder,
            decoder=c.decoder,
            discriminator=c.discriminator,
            encoder_labels=c.encoder_labels,
            seed=seed,
        )

    # -------------------------------------------------------- fit hooks
    def _fit_sets(
        self, train: Spectra, valid: Spectra | None, names: Sequence[str]
    ) -> tuple[Spectra, Spectra]:
        unknown = [n for n in self.conditioned_ if n not in names]
        if unknown:
            raise ValueError(
                f"disentangle/entangle: {unknown} are not among the model's labels "
                f"{list(names)}"
            )
        return super()._fit_sets(train, valid, names)

    def _batch_tensors(
        self, spectra: Spectra, names: Sequence[str], device: torch.device
    ) -> list[torch.Tensor]:
        flux, _ = dense_flux(spectra)
        y = spectra.label_array(names)
        return [
            torch.as_tensor(flux, device=device),
            torch.as_tensor(y, dtype=torch.float32, device=device),
        ]

    def _train(
        self,
        train: Sequence[torch.Tensor],
        valid: Sequence[torch.Tensor],
        spectra: Spectra,
        device: torch.device,
    ) -> None:
        """The adversarial loop (``train_autoencoder``: the last weights are kept),
        then the latent regressors: z of the training stars -> every label; the
        first on all stars, the others on bootstrap samples."""
        cfg, names = self._config, list(self.label_names_)
        seed = int(self.random_state)
        (xt, yt), (xv, yv) = train, valid
        module = self._build(spectra.n_pixels, seed).to(device)
        module.flux_scaler.fit(xt)
        module.label_scaler.fit(yt)
        cond = [names.index(n) for n in self.conditioned_]
        lo, hi = yt[:, cond].min(0).values, yt[:, cond].max(0).values
        steps = torch.linspace(0, 1, cfg.n_bins + 1, device=device)
        module.bin_edges.copy_(lo[:, None] + (hi - lo)[:, None] * steps[None, :])
        epochs = train_autoencoder(
            module, (xt, yt), (xv, yv), cond, cfg, seed, self.show_progress
        )
        last = epochs[-1]["valid_mse"] if epochs else float("nan")
        history = History(
            train_loss=[e["train_mse"] for e in epochs],
            valid_loss=[e["valid_mse"] for e in epochs],
            lr=[cfg.lr] * len(epochs),
            best_epoch=len(epochs) - 1,  # the last weights are kept
            best_valid_loss=last,
            stopped=f"reached max_epochs = {cfg.max_epochs} (the last weights are kept)",
            seconds=float(sum(e["seconds"] for e in epochs)),
        )
        record = history.to_dict() | {"epochs": epochs, "seed": seed, "kept": True}
        self._set_members([module], [seed], [last], [record])
        zt, zv = self.encode_tensor(xt, yt), self.encode_tensor(xv, yv)
        y_np = yt.cpu().numpy()
        rng = np.random.default_rng(seed)
        self.regressors_ = []
        for k in range(cfg.n_regressors):
            rows = np.arange(len(zt)) if k == 0 else rng.integers(0, len(zt), len(zt))
            self.regressors_.append(
                fit_dense_regressor(
                    zt[rows],
                    y_np[rows],
                    hidden=cfg.regressor,
                    max_iter=cfg.regressor_max_iter,
                    seed=seed + k,
                )
            )
        pred = self._regress(zv)[0]
        truth = yv.cpu().numpy().astype(np.float64)
        self.latent_r2_ = dict(
            zip(names, r2_per_label(truth, pred).tolist(), strict=True)
        )
        self.scatter_ = dict(
            zip(names, np.std(pred - truth, axis=0).tolist(), strict=True)
        )

    def _regress(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and spread (ddof 1; NaN with one regressor) of the regressors."""
        preds = np.stack([r.predict(z) for r in self.regressors_])
        spread = (
            preds.std(axis=0, ddof=1)
            if len(preds) > 1
            else np.full(preds.shape[1:], np.nan)
        )
        return preds.mean(axis=0), spread

    # ---------------------------------------------------------------- encode
    @torch.inference_mode()
    def encode_tensor(
        self, flux: torch.Tensor, labels: torch.Tensor | None
    ) -> np.ndarray:
        """Latent vectors of flux (and labels in their units) tensors, in chunks."""
        m = self.module_.eval()
        out = []
        for i in range(0, flux.shape[0], 1024):
            x = m.flux_scaler(flux[i : i + 1024])
            y = None if labels is None else m.label_scaler(labels[i : i + 1024])
            out.append(m.ae.encode(x, y).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self._config.latent))

    def _inputs(
        self, spectra: Spectra, need_labels: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None, np.ndarray]:
        self._check_fitted()
        self.check_grid(spectra)
        flux, dead = dense_flux(spectra)
        dev = self.module_.bin_edges.device
        y = None
        if need_labels:
            missing = [n for n in self.label_names_ if n not in spectra.labels]
            if missing:
                raise ValueError(
                    f"this model encodes the labels with the spectrum (encoder_labels); the input lacks {missing}"
                )
            y = torch.as_tensor(
                spectra.label_array(self.label_names_), dtype=torch.float32, device=dev
            )
        return torch.as_tensor(flux, device=dev), y, dead

    def encode(self, spectra: Spectra) -> np.ndarray:
        """``(n_spectra, latent)`` latent vectors (NaN for spectra with no usable pixel
        or, with ``encoder_labels``, missing labels)."""
        x, y, dead = self._inputs(spectra, self._config.encoder_labels)
        z = self.encode_tensor(x, y).astype(np.float64)
        bad = dead if y is None else dead | ~torch.isfinite(y).all(1).cpu().numpy()
        z[bad] = np.nan
        return z

    def _predict(
        self, spectra: Spectra, options: GandalfPredictOptions
    ) -> LabelPrediction:
        """Labels regressed from the latent vectors: the mean of the regressors,
        their spread (internal) and the held-out scatter (external)."""
        x, y, dead = self._inputs(spectra, self._config.encoder_labels)
        z = self.encode_tensor(x, y).astype(np.float64)
        bad = dead if y is None else dead | ~torch.isfinite(y).all(1).cpu().numpy()
        z[bad] = np.nan
        ok = np.isfinite(z).all(axis=1)
        n_lab = len(self.label_names_)
        mean, spread = (np.full((spectra.n_spectra, n_lab), np.nan) for _ in range(2))
        if ok.any():
            mean[ok], spread[ok] = self._regress(z[ok])
        scatter = np.array([self.scatter_[n] for n in self.label_names_])
        external = np.where(ok[:, None], scatter[None, :], np.nan)
        signals = {"reconstruction_error": reconstruction_error(self, x, y, z)}
        if len(self.regressors_) > 1:
            signals["regressor_spread"] = spread
        return LabelPrediction(
            self.label_names_,
            mean,
            spread,
            external,
            ood_signals=signals,
            features=z,
        )

    def label_function(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """Differentiable ``flux (n, n_pixels) -> labels (n, n_labels)`` (encoder and
        latent regressor), for saliency; not for models that encode the labels."""
        return latent_label_function(self)

    # ------------------------------------------------------------------ edit
    def edit(
        self, spectra: Spectra, star: str | int, changes: Mapping[str, float]
    ) -> EditedSpectrum:
        """Decode one star's latent vector with changed labels.

        The decoder gets the star's labels from ``spectra`` where they are known and
        the latent regressor's prediction where not; ``changes`` replaces some of
        them. With no change, ``edited`` equals ``reconstruction``.
        """
        return edit_spectrum(self, spectra, star, changes)

    # ------------------------------------------------------------ persistence
    def _state_parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        metrics = {
            "latent_r2": self.latent_r2_,
            "regressor_scatter": self.scatter_,
            "valid_mse": self.member_losses_[0],
        }
        regressors = {
            k: torch.as_tensor(np.ascontiguousarray(v))
            for i, r in enumerate(self.regressors_)
            for k, v in r.to_arrays("" if i == 0 else f"r{i}_").items()
        }
        return (
            {"lambdas": self._config.lambdas, "metrics": metrics},
            {"regressor.safetensors": regressors},
        )

    def _empty_network(self, seed: int, path: Path, file: str) -> AutoencoderNetwork:
        return self._build(self.wavelength_.size, seed)

    def _restore_state(self, path: Path, manifest: dict[str, Any]) -> None:
        metrics = manifest["metrics"]
        self.latent_r2_ = dict(metrics["latent_r2"])
        self.scatter_ = {
            n: float(metrics["regressor_scatter"][n]) for n in self.label_names_
        }
        arrays = {
            k: v.numpy() for k, v in load_tensors(path, "regressor.safetensors").items()
        }
        self.regressors_ = [DenseRegressor.from_arrays(arrays)] + [
            DenseRegressor.from_arrays(arrays, f"r{i}_")
            for i in range(1, self._config.n_regressors)
            if f"r{i}_w0" in arrays
        ]

    def _summary(self) -> dict[str, str]:
        cfg = self._config
        lam = ", ".join(f"{k} {v:+g}" for k, v in cfg.lambdas.items()) or "none"
        r2 = ", ".join(f"{k} {v:.2f}" for k, v in self.latent_r2_.items())
        out = {"latent": f"{cfg.latent} dimensions; lambda {lam}", "R^2 from z": r2}
        mse = self.validation_loss()
        if np.isfinite(mse):
            out["validation loss"] = f"{mse:.4f} ({self.loss_name})"
        return out
