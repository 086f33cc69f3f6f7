"""Conditional invertible neural network: full posteriors per star (Candebat et al. 2024).

``ConditionalINNRegressor`` maps labels to a Gaussian latent space conditioned on the
spectrum and samples it backwards to get each star's posterior.

Prediction modes:

* ``fast``: the spectrum as observed, ``n_internal`` latent draws (default 32); value =
  posterior median, internal uncertainty = (p84 - p16) / 2; no external part. With
  ``n_internal=1`` it is the paper's single-draw Fast mode (no uncertainty).
* ``precision``: ``n_external`` noisy copies of the spectrum (noise drawn from its
  ivar) x ``n_internal`` draws (paper: 20 x 250); summaries of
  :func:`starlabel.models.posterior.precision_summary`: value = median over copies of
  the KDE peak, internal = median over copies of (p84 - p16) / 2, external = std of
  the peaks over copies; the total (``_err_raw``) is by default the internal part
  alone (option ``total``: ``posterior``, ``pooled`` or the paper's quadrature sum,
  which counts the noise twice). The conditioning network, and the condition's
  share of every subnetwork's first layer, run once per copy, not once per draw.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..spectra.container import Spectra
from ..spectra.preprocess import dense_flux
from ._shared import (
    SpectralModel,
    noise_tensors,
)
from .base import LabelPrediction
from .cinn_config import (
    CINN_PRESETS,
    CINN_SEARCH_SPACE,
    TOTALS,
    CINNConfig,
    CINNPredictOptions,
)
from .cinn_parts import build_module, condition, draw_posterior, nll_loss
from .options import TRAIN_FLAGS
from .posterior import precision_summary

__all__ = [
    "CINN_PRESETS",
    "CINNConfig",
    "CINNPredictOptions",
    "ConditionalINNRegressor",
]

log = logging.getLogger(__name__)


class ConditionalINNRegressor(SpectralModel):
    """Conditional invertible network returning a posterior per star.

    Args:
        config: sizes and training (default: Candebat 2024 with one seed).
        labels: label names to learn (default: every label of the training set).
            Stars missing any of them are left out of training (``n_dropped_``).
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        random_state: seed of the first model; model k uses ``random_state + k``.
        show_progress: draw a rich progress bar while training.
    """

    kind = "cinn"
    title = "conditional invertible network (a posterior per star)"
    weight_file = "cinn.safetensors"
    config_class = CINNConfig
    options_class = CINNPredictOptions
    presets = CINN_PRESETS
    default_preset = "default"
    search_space = CINN_SEARCH_SPACE
    search_fixed = {"n_members": 1}
    flag_fields = {
        "ensemble": "n_members",
        **TRAIN_FLAGS,
        "augment_snr": "augment_snr_min",
    }
    uncertainty_parts = {
        "int": "half-width (p84 - p16) / 2 of the posterior of the spectrum as "
        "observed (fast mode; it includes this spectrum's noise)",
        "ext": "not provided in fast mode (NaN)",
    }
    loss_name = "negative log-likelihood per label"

    def uncertainty_parts_for(self, options: CINNPredictOptions) -> dict[str, str]:
        """Fast mode: the observed spectrum's posterior width; precision mode: the
        paper's internal and external parts."""
        if options.mode == "fast":
            return dict(self.uncertainty_parts)
        return {
            "int": "median over noisy copies of the posterior half-width "
            "(p84 - p16) / 2 (precision mode)",
            "ext": "standard deviation over noisy copies of the posterior's KDE peak: "
            "the noise propagated (precision mode; already inside _err_int)",
            "total": f"precision mode, total={options.total}: {TOTALS[options.total]}",
        }

    def calibration_key(self, options: CINNPredictOptions) -> str:
        """``fast`` or ``precision-<total>``: the errors differ between them."""
        return "fast" if options.mode == "fast" else f"precision-{options.total}"

    def _calibration_options(self) -> dict[str, CINNPredictOptions]:
        """Fast mode as predicted by default, and precision mode with the default
        total at 10 copies x 100 draws (the width estimates of 20 x 250 differ by
        their sampling noise only)."""
        return {
            "fast": self.predict_options(),
            "precision-posterior": self.predict_options(
                mode="precision", n_external=10, n_internal=100
            ),
        }

    def _calibration_max_stars(self, key: str) -> int:
        return 5000 if key == "fast" else 1000

    # -------------------------------------------------------- fit hooks
    def _batch_tensors(
        self, spectra: Spectra, names: Sequence[str], device: torch.device
    ) -> list[torch.Tensor]:
        flux, _ = dense_flux(spectra)
        return [
            torch.as_tensor(flux, device=device),
            torch.as_tensor(
                spectra.label_array(names), dtype=torch.float32, device=device
            ),
            *noise_tensors(spectra, device),
        ]

    def _new_network(
        self,
        seed: int,
        train: Sequence[torch.Tensor],
        n_pixels: int,
        device: torch.device,
    ) -> torch.nn.Module:
        module = build_module(self._config, len(self.label_names_), n_pixels, seed)
        module = module.to(device)
        module.fit_scalers(train[1], train[0])
        return module

    def _member_loss(self, device: torch.device) -> Callable:
        return nll_loss(self._config)

    # ---------------------------------------------------------------- predict
    def sample(self, spectra: Spectra, *, n_samples: int, seed: int = 0) -> np.ndarray:
        """Posterior draws of each spectrum's labels.

        Args:
            spectra: spectra on the training grid.
            n_samples: draws per spectrum.
            seed: seeds the latent draws.

        Returns:
            ``(n_spectra, n_samples, n_labels)`` float64 in the labels' units; NaN for
            spectra without a usable pixel.
        """
        self._check_fitted()
        self.check_grid(spectra)
        if not isinstance(n_samples, int) or n_samples < 1:
            raise ValueError(f"n_samples: expected an integer >= 1, got {n_samples!r}")
        flux, dead = dense_flux(spectra)
        dev = next(self.module_.parameters()).device
        gen = torch.Generator().manual_seed(int(seed))
        out = np.empty((spectra.n_spectra, n_samples, len(self.label_names_)))
        step = max(1, 400_000 // n_samples)
        for i in range(0, spectra.n_spectra, step):
            x = torch.as_tensor(flux[i : i + step], device=dev)
            out[i : i + step] = (
                draw_posterior(self.module_, x, n_samples, len(self.label_names_), gen)
                .double()
                .cpu()
                .numpy()
            )
        out[dead] = np.nan
        return out

    @torch.inference_mode()
    def log_prob(self, labels: np.ndarray, spectra: Spectra) -> np.ndarray:
        """Log posterior density of ``labels`` given each spectrum.

        Args:
            labels: ``(n_spectra, n_labels)`` in the labels' units (model order).
            spectra: the conditioning spectra.

        Returns:
            ``(n_spectra,)`` log density per unit of the labels (e.g. per K per dex);
            NaN for spectra without a usable pixel.
        """
        self._check_fitted()
        self.check_grid(spectra)
        y = np.asarray(labels, dtype=np.float64)
        d = len(self.label_names_)
        if y.shape != (spectra.n_spectra, d):
            raise ValueError(
                f"labels: expected shape ({spectra.n_spectra}, {d}), got {y.shape}"
            )
        flux, dead = dense_flux(spectra)
        m = self.module_.eval()
        dev = next(m.parameters()).device
        out = np.empty(spectra.n_spectra)
        for i in range(0, spectra.n_spectra, 256):
            x = m.label_scaler(
                torch.as_tensor(y[i : i + 256], dtype=torch.float32, device=dev)
            )
            cond = condition(m, torch.as_tensor(flux[i : i + 256], device=dev))
            z, logdet = m.inn(x, m.inn.project(cond))
            logp = -0.5 * (z.double() ** 2).sum(-1) - 0.5 * d * np.log(2 * np.pi)
            out[i : i + 256] = (logp + logdet.double()).cpu().numpy()
        out -= float(torch.log(m.label_scaler.scale.double()).sum())
        out[dead] = np.nan
        return out

    def label_function(
        self, n_draws: int = 16, seed: int = 0
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """Differentiable ``flux (n, n_pixels) -> labels (n, n_labels)``: the mean of
        ``n_draws`` posterior draws with latent vectors fixed by ``seed``, for
        saliency."""
        self._check_fitted()
        m = self.module_.eval()
        d = len(self.label_names_)
        z0 = torch.randn(1, n_draws, d, generator=torch.Generator().manual_seed(seed))

        def fn(flux: torch.Tensor) -> torch.Tensor:
            proj = m.inn.project([c.unsqueeze(1) for c in condition(m, flux)])
            z = z0.to(flux.device).expand(flux.shape[0], -1, -1)
            return m.label_scaler.inverse(m.inn.inverse(z, proj)).mean(1)

        return fn

    def _predict(
        self, spectra: Spectra, options: CINNPredictOptions
    ) -> LabelPrediction:
        """Point estimates and uncertainties from each star's posterior (fast or
        precision mode, see the module documentation)."""
        mode, seed, max_pairs = options.mode, options.seed, options.max_pairs
        n_int, n_ext = options.draws, options.copies
        flux, dead = dense_flux(spectra)
        sigma = np.where(
            spectra.ivar > 0, 1.0 / np.sqrt(np.maximum(spectra.ivar, 1e-30)), 0.0
        )
        dev = next(self.module_.parameters()).device
        gen = torch.Generator().manual_seed(seed)
        n, d = spectra.n_spectra, len(self.label_names_)
        value, internal, external, pooled = (np.full((n, d), np.nan) for _ in range(4))
        features = np.full((n, self._config.cond_dims[-1]), np.nan)
        chunk = max(1, max_pairs // (n_ext * n_int))
        for start in range(0, n, chunk):
            sl = slice(start, min(n, start + chunk))
            x = torch.as_tensor(flux[sl], device=dev)
            features[sl] = self._features(x)
            if mode == "precision":
                s = torch.as_tensor(sigma[sl].astype(np.float32), device=dev)
                noise = torch.randn(x.shape[0], n_ext, x.shape[1], generator=gen).to(
                    dev
                )
                x = (x[:, None, :] + noise * s[:, None, :]).reshape(-1, x.shape[1])
            draws = (
                draw_posterior(self.module_, x, n_int, len(self.label_names_), gen)
                .double()
                .cpu()
            )
            if mode == "precision":
                draws = draws.reshape(-1, n_ext, n_int, d)
                for i in range(0, draws.shape[0], 8):  # bounded KDE memory
                    v, a, b = precision_summary(draws[i : i + 8])
                    rows = slice(sl.start + i, sl.start + i + v.shape[0])
                    value[rows], internal[rows], external[rows] = v, a, b
                q = torch.quantile(
                    draws.reshape(draws.shape[0], -1, d),
                    torch.tensor([0.16, 0.84], dtype=draws.dtype),
                    dim=1,
                )
                pooled[sl] = ((q[1] - q[0]) / 2).numpy()
            elif n_int == 1:
                value[sl] = draws[:, 0].numpy()
            else:
                q = torch.quantile(
                    draws, torch.tensor([0.16, 0.5, 0.84], dtype=draws.dtype), dim=1
                )
                value[sl], internal[sl] = q[1].numpy(), ((q[2] - q[0]) / 2).numpy()
        for arr in (value, internal, external, pooled, features):
            arr[dead] = np.nan
        total = None
        if mode == "precision":
            total = {
                "posterior": internal,
                "pooled": pooled,
                "paper": np.sqrt(internal**2 + external**2),
            }[options.total]
        return LabelPrediction(
            self.label_names_,
            value,
            internal,
            external,
            total=total,
            ood_signals={"posterior_width": internal},
            features=features,
        )

    @torch.inference_mode()
    def _features(self, flux: torch.Tensor) -> np.ndarray:
        """The last conditioning vector of each spectrum as observed (OOD features)."""
        m = self.module_.eval()
        parts = [condition(m, flux[i : i + 64])[-1] for i in range(0, len(flux), 64)]
        return torch.cat(parts).double().cpu().numpy()

    # ------------------------------------------------------------ persistence
    def _empty_network(self, seed: int, path: Path, file: str) -> torch.nn.Module:
        return build_module(
            self._config, len(self.label_names_), self.wavelength_.size, seed
        )

    def _summary(self) -> dict[str, str]:
        return {
            "members": f"seed {self.member_seeds_[0]} kept of "
            f"{self._config.n_members} trained",
            "validation loss": f"{self.member_losses_[0]:.4f} ({self.loss_name})",
        }
