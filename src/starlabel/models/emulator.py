"""Spectrum emulator (labels -> flux) and the per-star fit of labels it makes possible.

``SpectrumEmulator`` learns the normalised flux on the dataset's grid as a function
of the labels with one dense network for all pixels (:class:`EmulatorNet`, the
design of The Payne, Ting et al. 2019), trained on the training spectra with their
inverse variance as weights (the loss is the chi^2 per pixel, 1 = at the noise).
Its own error per pixel is measured on the held-out stars (the residual variance
beyond the noise) and stored with the model; it is added to the noise in every fit.

As an estimator it labels a spectrum by fitting it (:mod:`.labelfit`): a batched
Levenberg-Marquardt fit of all labels, started from the best of a grid of training
labels (or, in :meth:`SpectrumEmulator.refine`, from another model's catalogue when
that fits better), bounded by the training range, with the Laplace (inverse
Hessian) uncertainty per label, the reduced chi^2, the number of steps and flags
for fits that did not converge or ended on a bound. The reduced chi^2 is the OOD
signal: a spectrum the emulator cannot reproduce (binary, emission, bad reduction,
labels outside the training set) has a high chi^2.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import StarlabelInputError
from ..spectra.container import Spectra
from ..spectra.flags import Flag
from ._shared import (
    SpectralModel,
    device_of,
    fit_flux_scaler,
    load_state,
)
from .base import LabelPrediction
from .emulator_config import (
    EMULATOR_PRESETS,
    EMULATOR_SEARCH_SPACE,
    EmulatorConfig,
    EmulatorPredictOptions,
)
from .emulator_net import EmulatorNetwork, _emulator_error
from .labelfit import LabelFit, best_candidates, levenberg_marquardt
from .members import train_members
from .options import TRAIN_FLAGS
from .persist import load_tensors

__all__ = [
    "EMULATOR_PRESETS",
    "EmulatorConfig",
    "EmulatorPredictOptions",
    "SpectrumEmulator",
]


class SpectrumEmulator(SpectralModel):
    """A spectrum emulator and the per-star label fit it gives (see the module
    documentation).

    Args:
        config: network, training and fit settings (default: the ``default`` preset).
        labels: the labels the spectrum is a function of (default: every label of
            the training set; stars missing one are not used for training).
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        random_state: seed of the initialisation and batch order.
        show_progress: draw a progress bar while training.

    References:
        Ting, Conroy, Rix & Cargile 2019, ApJ 879, 69 (The Payne).
    """

    kind = "emulator"
    _fitted_attr = "module_"
    config_class = EmulatorConfig
    options_class = EmulatorPredictOptions
    presets = EMULATOR_PRESETS
    search_space = EMULATOR_SEARCH_SPACE
    default_preset = "default"
    flag_fields = {**TRAIN_FLAGS, "hidden": "hidden"}
    uncertainty_parts = {
        "int": "Laplace 1-sigma of the per-star fit (inverse of the Gauss-Newton "
        "Hessian): the noise and the emulator's own error propagated to the label",
        "ext": "not provided (NaN)",
    }
    loss_name = "chi^2 per pixel of the emulated spectra (1 = at the noise)"

    # -------------------------------------------------------------------- fit
    def fit(self, train: Spectra, valid: Spectra | None = None) -> SpectrumEmulator:
        """Train the emulator on ``train`` (stars with every label), measure its
        error per pixel on ``valid`` (default: ``valid_fraction`` of ``train``), and
        fit the calibration of the fitted labels' errors and the OOD score on it.

        Returns:
            self.
        """
        cfg = self._config
        names = self._begin_fit(train)
        train, validation = self._complete_sets(train, valid, names, cfg.valid_fraction)
        if train.n_spectra < 2 or validation.n_spectra < 1:
            raise ValueError(
                f"train: {train.n_spectra} stars with every label {names}: an emulator "
                "needs at least 2 to train and 1 to validate"
            )
        self._fit_grid(train, validation)
        dev = device_of(self.device)

        def tensors(sp: Spectra) -> list[torch.Tensor]:
            ivar = np.where(np.isfinite(sp.flux), sp.ivar, 0.0)
            flux = np.where(ivar > 0, sp.flux, 0.0)
            return [
                torch.as_tensor(sp.label_array(names), dtype=torch.float32, device=dev),
                torch.as_tensor(flux, dtype=torch.float32, device=dev),
                torch.as_tensor(ivar, dtype=torch.float32, device=dev),
            ]

        tr, va = tensors(train), tensors(validation)
        seed = int(self.random_state)

        def build(seed: int) -> torch.nn.Module:
            module = EmulatorNetwork(len(names), train.n_pixels, cfg.hidden).to(dev)
            module.scaler.fit(tr[0])
            known = torch.where(tr[2] > 0, tr[1], torch.full_like(tr[1], float("nan")))
            fit_flux_scaler(module, known)
            return module

        def loss(mod: torch.nn.Module, batch: Sequence[torch.Tensor]):
            y, flux, ivar = batch
            r = mod.flux(mod.scaler(y)) - flux
            return (ivar * r * r).sum(1), (ivar > 0).sum(1).to(r.dtype)

        (member,) = train_members(
            build,
            loss,
            tr,
            va,
            cfg.train,
            n_members=1,
            random_state=seed,
            device=dev,
            show_progress=self.show_progress,
        )
        module = member.module.to(dev)
        self.history_ = [member.history.to_dict()]
        self.valid_loss_ = member.loss
        with torch.no_grad():
            resid = (module.flux(module.scaler(va[0])) - va[1]).cpu().numpy()
        err, med_res, med_noise = _emulator_error(resid, va[2].cpu().numpy())
        module.error.copy_(torch.as_tensor(err, dtype=torch.float32))
        module.median_abs_residual.copy_(torch.as_tensor(med_res, dtype=torch.float32))
        module.median_noise.copy_(torch.as_tensor(med_noise, dtype=torch.float32))
        z = module.scaler(tr[0])
        module.lo.copy_(z.min(0).values)
        module.hi.copy_(z.max(0).values)
        rows = np.random.default_rng(seed).permutation(train.n_spectra)[
            : cfg.n_candidates
        ]
        module.candidates = z[torch.as_tensor(np.sort(rows), device=dev)].clone()
        module.eval()
        for p in module.parameters():
            p.requires_grad_(False)
        self.module_ = module
        self._record_training(train, names)
        self._fit_reliability(train, validation)
        return self

    # -------------------------------------------------------------- emulate
    def emulate(self, labels: np.ndarray) -> np.ndarray:
        """Emulated flux ``(n, n_pixels)`` of ``labels`` ``(n, n_labels)`` (the
        model's label order, labels' units)."""
        self._check_fitted()
        mod = self.module_
        dev = mod.lo.device
        y = torch.as_tensor(np.atleast_2d(labels), dtype=torch.float32, device=dev)
        with torch.no_grad():
            return mod.flux(mod.scaler(y)).double().cpu().numpy()

    def error_per_pixel(self) -> dict[str, np.ndarray]:
        """The held-out error of the emulator per pixel: ``error`` (rms beyond the
        noise, added to the noise in every fit), ``median_abs_residual`` and
        ``median_noise`` (the median 1-sigma of the held-out spectra)."""
        self._check_fitted()
        m = self.module_
        return {
            "wavelength": self.wavelength_.copy(),
            "error": m.error.double().cpu().numpy(),
            "median_abs_residual": m.median_abs_residual.double().cpu().numpy(),
            "median_noise": m.median_noise.double().cpu().numpy(),
        }

    # ---------------------------------------------------------------- predict
    def refine(
        self,
        spectra: Spectra,
        start: np.ndarray | None = None,
        options: EmulatorPredictOptions | None = None,
    ) -> LabelPrediction:
        """Fit every spectrum, starting from ``start`` ``(n, n_labels)`` (labels'
        units, the model's label order; NaN entries and rows are filled from the
        best grid candidate) where it fits better than the best candidate of the
        training grid. Calibrated and OOD-scored like :meth:`predict`."""
        import dataclasses

        from .reliability import apply_reliability

        self._check_fitted()
        options = self._options(options)
        self.check_grid(spectra)
        if start is not None:
            start = np.asarray(start, dtype=np.float64)
            if start.shape != (spectra.n_spectra, len(self.label_names_)):
                raise ValueError(
                    f"start: expected shape {(spectra.n_spectra, len(self.label_names_))}, "
                    f"got {start.shape}"
                )
        pred = self._fit(spectra, start, options)
        pred = dataclasses.replace(
            pred, descriptions=dict(self.uncertainty_parts) | dict(pred.descriptions)
        )
        return apply_reliability(self, pred, spectra, options)

    def _predict(
        self, spectra: Spectra, options: EmulatorPredictOptions
    ) -> LabelPrediction:
        return self._fit(spectra, None, options)

    def fit_spectra(
        self, spectra: Spectra, start: np.ndarray | None = None, *, fit_batch: int = 256
    ) -> LabelFit:
        """The raw per-star fit (standardised units; see :class:`LabelFit`)."""
        self._check_fitted()
        mod = self.module_
        dev = mod.lo.device
        ivar = np.where(np.isfinite(spectra.flux), spectra.ivar, 0.0)
        flux = np.where(ivar > 0, spectra.flux, 0.0)
        settings = self._config.fit_settings()
        parts = []
        with torch.no_grad():
            cand_flux = mod.flux(mod.candidates)
            for s in range(0, spectra.n_spectra, fit_batch):
                sl = slice(s, s + fit_batch)
                f = torch.as_tensor(flux[sl], dtype=torch.float32, device=dev)
                iv = torch.as_tensor(ivar[sl], dtype=torch.float32, device=dev)
                w = iv / (1.0 + iv * mod.error**2)
                idx, chi_grid = best_candidates(f, w, cand_flux)
                x0 = mod.candidates[idx].clone()
                if start is not None:
                    xs = mod.scaler(
                        torch.as_tensor(start[sl], dtype=torch.float32, device=dev)
                    )
                    xs = torch.where(torch.isfinite(xs), xs, x0)
                    xs = torch.minimum(torch.maximum(xs, mod.lo), mod.hi)
                    r = f - mod.flux(xs)
                    chi_start = (w * r * r).sum(1, dtype=torch.float64)
                    x0 = torch.where((chi_start <= chi_grid)[:, None], xs, x0)
                parts.append(
                    levenberg_marquardt(
                        mod.flux, mod.flux_and_jac, f, w, x0, mod.lo, mod.hi, settings
                    )
                )
        return LabelFit(
            *(
                np.concatenate([getattr(p, name) for p in parts])
                for name in LabelFit.__dataclass_fields__
            )
        )

    def _fit(
        self,
        spectra: Spectra,
        start: np.ndarray | None,
        options: EmulatorPredictOptions,
    ) -> LabelPrediction:
        fit = self.fit_spectra(spectra, start, fit_batch=options.fit_batch)
        scale = self.module_.scaler.scale.double().cpu().numpy()
        mean = self.module_.scaler.mean.double().cpu().numpy()
        labels = fit.x * scale + mean
        cov = fit.covariance * scale[None, :, None] * scale[None, None, :]
        sigma = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0.0, None))
        dead = fit.n_pixels == 0
        labels[dead] = np.nan
        sigma[dead] = np.nan
        chi2 = np.where(dead, np.nan, fit.reduced_chi2)
        flags = np.zeros(spectra.n_spectra, dtype=np.int64)
        flags[~fit.converged & ~dead] |= int(Flag.FIT_NOT_CONVERGED)
        flags[fit.at_bound & ~dead] |= int(Flag.FIT_AT_BOUND)
        return LabelPrediction(
            self.label_names_,
            labels,
            sigma,
            np.full_like(sigma, np.nan),
            ood_signals={"chi2": chi2},
            columns={
                "chi2": chi2,
                "fit_iter": fit.n_iter.astype(np.int32),
                "fit_converged": fit.converged & ~dead,
            },
            column_notes={
                "chi2": "reduced chi^2 of the per-star fit (emulator error added to "
                "the noise); >> 1: the emulator does not describe this spectrum",
                "fit_iter": "Levenberg-Marquardt steps of the per-star fit",
                "fit_converged": "the per-star fit converged (else flag 512)",
            },
            flags=flags,
        )

    # ------------------------------------------------------------ persistence
    def _save_parts(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        return (
            {"weights": "emulator.safetensors", "valid_loss": self.valid_loss_},
            {"emulator.safetensors": self.module_.state_dict()},
            {"emulator": self.history_},
        )

    def validation_loss(self) -> float:
        """Best validation loss."""
        self._check_fitted()
        return float(self.valid_loss_)

    def _summary(self) -> dict[str, str]:
        e = self.error_per_pixel()
        return {
            "network": f"{len(self.label_names_)} labels -> "
            + " -> ".join(str(h) for h in self._config.hidden)
            + f" -> {self.wavelength_.size} px (SiLU)",
            "validation loss": f"{self.valid_loss_:.4f} ({self.loss_name})",
            "emulator error": f"median {np.median(e['error']):.2e}, 95th percentile "
            f"{np.percentile(e['error'], 95):.2e} (median noise of the held-out "
            f"spectra {np.median(e['median_noise']):.2e})",
        }

    @classmethod
    def from_manifest(cls, path: Path, manifest: dict[str, Any]) -> SpectrumEmulator:
        """Rebuild from a model directory (called by :func:`starlabel.load`)."""
        config, names = cls._manifest_basics(path, manifest)
        est = cls(config, labels=names, random_state=manifest.get("random_state", 0))
        est._restore(path, manifest)
        file = str(manifest.get("weights", "emulator.safetensors"))
        module = EmulatorNetwork(len(names), est.wavelength_.size, config.hidden)
        # the number of grid candidates depends on the training set: take the file's
        module.candidates = torch.zeros_like(
            load_tensors(path, file).get("candidates", module.candidates)
        )
        try:
            est.module_ = load_state(path, file, module).to(device_of(est.device))
            est.valid_loss_ = float(manifest.get("valid_loss", float("nan")))
        except (KeyError, TypeError, ValueError) as exc:
            raise StarlabelInputError(
                f"model.json is incomplete or invalid: {exc}", path=path
            ) from exc
        for p in est.module_.parameters():
            p.requires_grad_(False)
        return est
