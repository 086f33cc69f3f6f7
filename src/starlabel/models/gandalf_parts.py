"""What the autoencoder computes beyond its network: edits of a spectrum (a star
redrawn with changed labels), the reconstruction error (the OOD signal of its
predictions) and the differentiable flux -> labels map for saliency."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from ..errors import StarlabelInputError
from ..spectra.container import Spectra
from .gandalf_config import EditedSpectrum


@torch.inference_mode()
def edit_spectrum(
    est: Any, spectra: Spectra, star: str | int, changes: Mapping[str, float]
) -> EditedSpectrum:
    """Decode one star's latent vector with changed labels (``est.edit``).

    The decoder gets the star's labels from ``spectra`` where they are known and
    the latent regressor's prediction where not; ``changes`` replaces some of
    them. With no change, ``edited`` equals ``reconstruction``.
    """
    est._check_fitted()
    unknown = [n for n in changes if n not in est.label_names_]
    if unknown:
        raise ValueError(
            f"--set: {unknown} are not labels of this model {list(est.label_names_)}"
        )
    for n, v in changes.items():
        lo, hi = getattr(est, "label_range_", {}).get(n, (-np.inf, np.inf))
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
        [one.labels[n][0] if n in one.labels else np.nan for n in est.label_names_],
        dtype=np.float64,
    )
    if not np.isfinite(labels).all():
        if est._config.encoder_labels:
            raise StarlabelInputError(
                f"labels {list(est.label_names_)} needed by the encoder are missing",
                star=where,
            )
        guess = est.predict(one).mean[0]
        labels = np.where(np.isfinite(labels), labels, guess)
    x, _, dead = est._inputs(one, False)
    if dead[0]:
        raise StarlabelInputError("no usable pixel", star=where)
    m = est.module_
    y0 = torch.as_tensor(labels[None], dtype=torch.float32, device=x.device)
    new = labels.copy()
    for n, v in changes.items():
        new[est.label_names_.index(n)] = float(v)
    y1 = torch.as_tensor(new[None], dtype=torch.float32, device=x.device)
    z = m.ae.encode(m.flux_scaler(x), m.label_scaler(y0))

    def decode(y: torch.Tensor) -> np.ndarray:
        out = m.flux_scaler.inverse(m.ae.decode(z, m.label_scaler(y)))
        return out[0].cpu().numpy().astype(np.float64)

    return EditedSpectrum(
        str(ids[index]),
        est.wavelength_.copy(),
        one.flux[0].astype(np.float64),
        decode(y0),
        decode(y1),
        dict(zip(est.label_names_, labels.tolist(), strict=True)),
        dict(zip(est.label_names_, new.tolist(), strict=True)),
    )


@torch.inference_mode()
def reconstruction_error(
    est: Any, flux: torch.Tensor, labels: torch.Tensor | None, z: np.ndarray
) -> np.ndarray:
    """Mean squared difference of the standardised flux and its reconstruction
    from z and the regressed labels (NaN where z is)."""
    m = est.module_.eval()
    out = np.full(flux.shape[0], np.nan)
    ok = np.flatnonzero(np.isfinite(z).all(axis=1))
    for i in range(0, ok.size, 1024):
        rows = ok[i : i + 1024]
        zz = torch.as_tensor(z[rows], dtype=torch.float32, device=flux.device)
        y = labels[rows] if labels is not None else None
        if y is None:
            y = torch.as_tensor(
                est._regress(z[rows])[0], dtype=torch.float32, device=flux.device
            )
        x = m.flux_scaler(flux[rows])
        rec = m.ae.decode(zz, m.label_scaler(y))
        out[rows] = ((rec - x) ** 2).mean(1).double().cpu().numpy()
    return out


def latent_label_function(est: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """The autoencoder ``est`` as a differentiable ``flux (n, n_pixels) -> labels (n, n_labels)`` (encoder and
    latent regressor), for saliency; not for models that encode the labels."""
    est._check_fitted()
    if est._config.encoder_labels:
        raise ValueError("saliency needs a model without labels at the encoder input")
    m, regressors = est.module_.eval(), est.regressors_

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
