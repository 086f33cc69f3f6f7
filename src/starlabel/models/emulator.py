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

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..nn.emulator_network import EmulatorNetwork
from ..spectra.container import Spectra
from ..spectra.flags import Flag
from ._shared import (
    SpectralModel,
)
from .base import LabelPrediction
from .emulator_config import (
    EMULATOR_PRESETS,
    EMULATOR_SEARCH_SPACE,
    EmulatorConfig,
    EmulatorPredictOptions,
)
from .emulator_error import emulator_error
from .labelfit import LabelFit, best_candidates, levenberg_marquardt
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
    title = "labels -> spectrum network, and the per-star label fit it gives (starlabel refine)"
    weight_file = "emulator.safetensors"
    #: chi^2 per pixel has no scale at which the emulator "did not learn"
    max_learned_loss = float("inf")
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

    # -------------------------------------------------------- fit hooks
    def _n_members(self) -> tuple[int, int]:
        return 1, 1

    def _batch_tensors(
        self, spectra: Spectra, names: Sequence[str], device: torch.device
    ) -> list[torch.Tensor]:
        ivar = np.where(np.isfinite(spectra.flux), spectra.ivar, 0.0)
        flux = np.where(ivar > 0, spectra.flux, 0.0)
        return [
            torch.as_tensor(
                spectra.label_array(names), dtype=torch.float32, device=device
            ),
            torch.as_tensor(flux, dtype=torch.float32, device=device),
            torch.as_tensor(ivar, dtype=torch.float32, device=device),
        ]

    def _new_network(
        self,
        seed: int,
        train: Sequence[torch.Tensor],
        n_pixels: int,
        device: torch.device,
    ) -> EmulatorNetwork:
        module = EmulatorNetwork(len(self.label_names_), n_pixels, self._config.hidden)
        module = module.to(device)
        known = torch.where(
            train[2] > 0, train[1], torch.full_like(train[1], float("nan"))
        )
        module.fit_scalers(train[0], known)
        return module

    def _member_loss(self, device: torch.device) -> Callable:
        def loss(mod: torch.nn.Module, batch: Sequence[torch.Tensor]):
            y, flux, ivar = batch
            r = mod.flux(mod.label_scaler(y)) - flux
            return (ivar * r * r).sum(1), (ivar > 0).sum(1).to(r.dtype)

        return loss

    def _after_training(
        self,
        kept: Sequence[Any],
        train: Sequence[torch.Tensor],
        valid: Sequence[torch.Tensor],
        spectra: Spectra,
    ) -> None:
        """The error per pixel on the validation stars, the training label box and
        the start candidates of the per-star fit (all in the weight file)."""
        module = self.module_
        with torch.no_grad():
            resid = (
                (module.flux(module.label_scaler(valid[0])) - valid[1]).cpu().numpy()
            )
            err, med_res, med_noise = emulator_error(resid, valid[2].cpu().numpy())
            module.error.copy_(torch.as_tensor(err, dtype=torch.float32))
            module.median_abs_residual.copy_(
                torch.as_tensor(med_res, dtype=torch.float32)
            )
            module.median_noise.copy_(torch.as_tensor(med_noise, dtype=torch.float32))
            z = module.label_scaler(train[0])
            module.lo.copy_(z.min(0).values)
            module.hi.copy_(z.max(0).values)
        rows = np.random.default_rng(int(self.random_state)).permutation(
            spectra.n_spectra
        )[: self._config.n_candidates]
        module.candidates = z[torch.as_tensor(np.sort(rows), device=z.device)].clone()
        for p in module.parameters():
            p.requires_grad_(False)

    # -------------------------------------------------------------- emulate
    def emulate(self, labels: np.ndarray) -> np.ndarray:
        """Emulated flux ``(n, n_pixels)`` of ``labels`` ``(n, n_labels)`` (the
        model's label order, labels' units)."""
        self._check_fitted()
        mod = self.module_
        dev = mod.lo.device
        y = torch.as_tensor(np.atleast_2d(labels), dtype=torch.float32, device=dev)
        with torch.no_grad():
            return mod.flux(mod.label_scaler(y)).double().cpu().numpy()

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
                    xs = mod.label_scaler(
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
        scale = self.module_.label_scaler.scale.double().cpu().numpy()
        mean = self.module_.label_scaler.mean.double().cpu().numpy()
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
    def _empty_network(self, seed: int, path: Path, file: str) -> EmulatorNetwork:
        module = EmulatorNetwork(
            len(self.label_names_), self.wavelength_.size, self._config.hidden
        )
        # the number of grid candidates depends on the training set: take the file's
        module.candidates = torch.zeros_like(
            load_tensors(path, file).get("candidates", module.candidates)
        )
        return module

    def _restore_state(self, path: Path, manifest: dict[str, Any]) -> None:
        for p in self.module_.parameters():
            p.requires_grad_(False)

    def _summary(self) -> dict[str, str]:
        e = self.error_per_pixel()
        return {
            "network": f"{len(self.label_names_)} labels -> "
            + " -> ".join(str(h) for h in self._config.hidden)
            + f" -> {self.wavelength_.size} px (SiLU)",
            "validation loss": f"{self.validation_loss():.4f} ({self.loss_name})",
            "emulator error": f"median {np.median(e['error']):.2e}, 95th percentile "
            f"{np.percentile(e['error'], 95):.2e} (median noise of the held-out "
            f"spectra {np.median(e['median_noise']):.2e})",
        }
