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

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import StarlabelInputError
from ..nn import Standardizer
from ..nn.autoencoder import LabelAutoencoder, mlp
from ..spectra.container import Spectra
from ..spectra.preprocess import dense_flux
from ._shared import SpectralModel, device_of, load_state
from .base import LabelPrediction
from .gandalf_config import (
    GANDALF_PRESETS,
    GANDALF_SEARCH_SPACE,
    EditedSpectrum,
    GandalfConfig,
    GandalfPredictOptions,
)
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
    _fitted_attr = "module_"
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

    def _build(self, n_pixels: int, seed: int) -> torch.nn.Module:
        c, n_lab, n_cond = self._config, len(self.label_names_), len(self.conditioned_)
        module = torch.nn.Module()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module.ae = LabelAutoencoder(
                n_pixels,
                n_lab,
                c.latent,
                encoder=c.encoder,
                decoder=c.decoder,
                encoder_labels=c.encoder_labels,
            )
            # Discriminators from their own stream: with lambda = 0 the autoencoder
            # trains exactly as without them.
            torch.manual_seed(seed + 7919)
            module.discriminators = torch.nn.ModuleList(
                mlp([c.latent, *c.discriminator, c.n_bins]) for _ in range(n_cond)
            )
        module.flux_scaler = Standardizer(n_pixels)
        module.label_scaler = Standardizer(n_lab)
        module.register_buffer("bin_edges", torch.zeros(n_cond, c.n_bins + 1))
        return module

    # -------------------------------------------------------------------- fit
    def fit(self, train: Spectra, valid: Spectra | None = None) -> LatentAutoencoder:
        """Train the autoencoder and discriminators, then the latent regressor.

        Args:
            train: training spectra; stars missing any of the labels are left out.
            valid: held-out spectra for the regressor's scatter and R^2 (default:
                ``valid_fraction`` of train).

        Returns:
            self.
        """
        cfg = self._config
        names = self._begin_fit(train)
        validation = valid
        unknown = [n for n in self.conditioned_ if n not in names]
        if unknown:
            raise ValueError(
                f"disentangle/entangle: {unknown} are not among the model's labels {names}"
            )
        train, validation = self._complete_sets(
            train, validation, names, cfg.valid_fraction
        )
        if train.n_spectra < 20 or validation.n_spectra < 5:
            raise ValueError(
                "train: too few stars with every label to train an autoencoder"
            )
        self._fit_grid(train, validation, sizes=False)
        dev = device_of(self.device)
        seed = int(self.random_state)

        def tensors(sp: Spectra) -> tuple[torch.Tensor, torch.Tensor]:
            flux, _ = dense_flux(sp)
            y = sp.label_array(names)
            return (
                torch.as_tensor(flux, device=dev),
                torch.as_tensor(y, dtype=torch.float32, device=dev),
            )

        (xt, yt), (xv, yv) = tensors(train), tensors(validation)
        module = self._build(train.n_pixels, seed).to(dev)
        module.flux_scaler.fit(xt)
        module.label_scaler.fit(yt)
        cond = [names.index(n) for n in self.conditioned_]
        lo, hi = yt[:, cond].min(0).values, yt[:, cond].max(0).values
        steps = torch.linspace(0, 1, cfg.n_bins + 1, device=dev)
        module.bin_edges.copy_(lo[:, None] + (hi - lo)[:, None] * steps[None, :])
        self.module_ = module
        self.history_ = train_autoencoder(
            module, (xt, yt), (xv, yv), cond, cfg, seed, self.show_progress
        )

        # The latent regressors: z of the training stars -> every label; the first
        # on all stars, the others on bootstrap samples.
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
        self._record_training(train, names)
        self._fit_reliability(train, validation)
        return self

    @property
    def regressor_(self) -> DenseRegressor:
        """The regressor fitted on every training star (the paper's)."""
        return self.regressors_[0]

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
        signals = {"reconstruction_error": self._reconstruction_error(x, y, z)}
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

    @torch.inference_mode()
    def _reconstruction_error(
        self, flux: torch.Tensor, labels: torch.Tensor | None, z: np.ndarray
    ) -> np.ndarray:
        """Mean squared difference of the standardised flux and its reconstruction
        from z and the regressed labels (NaN where z is)."""
        m = self.module_.eval()
        out = np.full(flux.shape[0], np.nan)
        ok = np.flatnonzero(np.isfinite(z).all(axis=1))
        for i in range(0, ok.size, 1024):
            rows = ok[i : i + 1024]
            zz = torch.as_tensor(z[rows], dtype=torch.float32, device=flux.device)
            y = labels[rows] if labels is not None else None
            if y is None:
                y = torch.as_tensor(
                    self._regress(z[rows])[0], dtype=torch.float32, device=flux.device
                )
            x = m.flux_scaler(flux[rows])
            rec = m.ae.decode(zz, m.label_scaler(y))
            out[rows] = ((rec - x) ** 2).mean(1).double().cpu().numpy()
        return out

    def label_function(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """Differentiable ``flux (n, n_pixels) -> labels (n, n_labels)`` (encoder and
        latent regressor), for saliency; not for models that encode the labels."""
        self._check_fitted()
        if self._config.encoder_labels:
            raise ValueError(
                "saliency needs a model without labels at the encoder input"
            )
        m, regressors = self.module_.eval(), self.regressors_

        def fn(flux: torch.Tensor) -> torch.Tensor:
            def t(a: np.ndarray) -> torch.Tensor:
                return torch.as_tensor(a, dtype=flux.dtype, device=flux.device)

            z = m.ae.encode(m.flux_scaler(flux))
            outs = []
            for r in regressors:  # the mean of the regressors, as predict
                h = (z - t(r.x_mean)) / t(r.x_scale)
                for k, (w, b) in enumerate(zip(r.weights, r.biases, strict=True)):
                    h = h @ t(w) + t(b)
                    if k < len(r.weights) - 1:
                        h = torch.relu(h)
                outs.append(h * t(r.y_scale) + t(r.y_mean))
            return torch.stack(outs).mean(0)

        return fn

    # ------------------------------------------------------------------ edit
    @torch.inference_mode()
    def edit(
        self, spectra: Spectra, star: str | int, changes: Mapping[str, float]
    ) -> EditedSpectrum:
        """Decode one star's latent vector with changed labels.

        The decoder gets the star's labels from ``spectra`` where they are known and
        the latent regressor's prediction where not; ``changes`` replaces some of
        them. With no change, ``edited`` equals ``reconstruction``.
        """
        self._check_fitted()
        unknown = [n for n in changes if n not in self.label_names_]
        if unknown:
            raise ValueError(
                f"--set: {unknown} are not labels of this model {list(self.label_names_)}"
            )
        for n, v in changes.items():
            lo, hi = getattr(self, "label_range_", {}).get(n, (-np.inf, np.inf))
            if not np.isfinite(v):
                raise ValueError(f"--set: {n}={v}: give a finite number")
            if not lo <= v <= hi:
                raise ValueError(
                    f"--set: {n}={v:g} is outside the model's training range "
                    f"{lo:g} .. {hi:g}; the decoder cannot extrapolate"
                )
        ids = np.asarray(spectra.ids).astype(str)
        if isinstance(star, str):
            hits = np.flatnonzero(ids == star)
            if hits.size == 0:
                raise StarlabelInputError("is not in the dataset", star=star)
            index = int(hits[0])
        else:
            index = int(star)
            if not 0 <= index < spectra.n_spectra:
                raise ValueError(
                    f"star: row {index} is outside the dataset's {spectra.n_spectra} rows"
                )
        where = f"{ids[index]} (row {index})"
        one = spectra[np.array([index])]
        labels = np.array(
            [
                one.labels[n][0] if n in one.labels else np.nan
                for n in self.label_names_
            ],
            dtype=np.float64,
        )
        if not np.isfinite(labels).all():
            if self._config.encoder_labels:
                raise StarlabelInputError(
                    f"labels {list(self.label_names_)} needed by the encoder are missing",
                    star=where,
                )
            guess = self.predict(one).mean[0]
            labels = np.where(np.isfinite(labels), labels, guess)
        x, _, dead = self._inputs(one, False)
        if dead[0]:
            raise StarlabelInputError("no usable pixel", star=where)
        m = self.module_
        y0 = torch.as_tensor(labels[None], dtype=torch.float32, device=x.device)
        new = labels.copy()
        for n, v in changes.items():
            new[self.label_names_.index(n)] = float(v)
        y1 = torch.as_tensor(new[None], dtype=torch.float32, device=x.device)
        z = m.ae.encode(m.flux_scaler(x), m.label_scaler(y0))

        def decode(y: torch.Tensor) -> np.ndarray:
            out = m.flux_scaler.inverse(m.ae.decode(z, m.label_scaler(y)))
            return out[0].cpu().numpy().astype(np.float64)

        return EditedSpectrum(
            str(ids[index]),
            self.wavelength_.copy(),
            one.flux[0].astype(np.float64),
            decode(y0),
            decode(y1),
            dict(zip(self.label_names_, labels.tolist(), strict=True)),
            dict(zip(self.label_names_, new.tolist(), strict=True)),
        )

    # ------------------------------------------------------------ persistence
    def _save_parts(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        manifest = {
            "lambdas": self._config.lambdas,
            "metrics": {
                "latent_r2": self.latent_r2_,
                "regressor_scatter": self.scatter_,
                "valid_mse": self.history_[-1]["valid_mse"] if self.history_ else None,
            },
            "members": [
                {"file": "gandalf.safetensors", "seed": int(self.random_state)}
            ],
        }
        files = {
            "gandalf.safetensors": self.module_.state_dict(),
            "regressor.safetensors": {
                k: torch.as_tensor(np.ascontiguousarray(v))
                for i, r in enumerate(self.regressors_)
                for k, v in r.to_arrays("" if i == 0 else f"r{i}_").items()
            },
        }
        return manifest, files, {"epochs": self.history_}

    def validation_loss(self) -> float:
        """Reconstruction MSE on the validation stars after the last epoch."""
        self._check_fitted()
        mse = self.history_[-1]["valid_mse"] if self.history_ else self.valid_mse_
        return float("nan") if mse is None else float(mse)

    def _summary(self) -> dict[str, str]:
        cfg = self._config
        lam = ", ".join(f"{k} {v:+g}" for k, v in cfg.lambdas.items()) or "none"
        r2 = ", ".join(f"{k} {v:.2f}" for k, v in self.latent_r2_.items())
        out = {"latent": f"{cfg.latent} dimensions; lambda {lam}", "R^2 from z": r2}
        mse = self.validation_loss()
        if np.isfinite(mse):
            out["validation loss"] = f"{mse:.4f} ({self.loss_name})"
        return out

    @classmethod
    def from_manifest(cls, path: Path, manifest: dict[str, Any]) -> LatentAutoencoder:
        """Rebuild from a model directory (called by :func:`starlabel.load`)."""
        config, names = cls._manifest_basics(path, manifest)
        try:
            metrics = manifest["metrics"]
            est = cls(
                config, labels=names, random_state=manifest.get("random_state", 0)
            )
            est._restore(path, manifest)
            est.latent_r2_ = dict(metrics["latent_r2"])
            est.scatter_ = {n: float(metrics["regressor_scatter"][n]) for n in names}
            est.valid_mse_ = metrics.get("valid_mse")
            arrays = {
                k: v.numpy()
                for k, v in load_tensors(path, "regressor.safetensors").items()
            }
            est.regressors_ = [DenseRegressor.from_arrays(arrays)] + [
                DenseRegressor.from_arrays(arrays, f"r{i}_")
                for i in range(1, config.n_regressors)
                if f"r{i}_w0" in arrays
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise StarlabelInputError(
                f"model.json is incomplete or invalid: {exc}", path=path
            ) from exc
        module = load_state(
            path,
            "gandalf.safetensors",
            est._build(est.wavelength_.size, est.random_state),
        )
        est.module_ = module.to(device_of(est.device))
        return est
