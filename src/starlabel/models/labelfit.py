"""Per-star fit of labels to a spectrum with a differentiable emulator.

For each star, minimise

    chi^2(x) = sum_p w_p (f_p - m_p(x))^2 + prior * |x|^2,
    w_p = ivar_p / (1 + ivar_p e_p^2),

over the standardised labels ``x`` inside the training box ``[lo, hi]``, where ``m``
is the emulator, ``f`` the observed flux, ``ivar`` its inverse variance (0 = masked)
and ``e`` the emulator's own error per pixel (added to the noise). The weak prior
(``prior = 1 / 3^2``: a Gaussian 3 training standard deviations wide around the
training mean) only matters in directions the spectrum does not constrain; it keeps
the normal matrix invertible there.

The fit is a batched Levenberg-Marquardt: all stars of a batch step together
(one Jacobian product per step for the whole batch), each with its own damping,
trial steps cost one forward pass, the Jacobian is recomputed only where a step
was accepted, and stars that converged leave the active set. Steps are projected
onto the box. The uncertainty is the Laplace approximation, the inverse of the
Gauss-Newton Hessian ``J^T W J + prior`` at the optimum.

Starting points: the caller's (another model's catalogue) and the best of a grid
of candidate labels (training stars), whichever has the lower chi^2; the chi^2 of
every candidate costs two matrix products for the whole batch
(``sum w f^2 - 2 (w f) . m + w . m^2``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["FitSettings", "LabelFit", "best_candidates", "levenberg_marquardt"]

Model = Callable[[torch.Tensor], torch.Tensor]
ModelJac = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # (f, J^T)


@dataclass(frozen=True, kw_only=True, slots=True)
class FitSettings:
    """Settings of :func:`levenberg_marquardt`.

    Attributes:
        max_iter: steps per star at most (accepted or not).
        tol_chi2: converged when an accepted step lowers chi^2 by less than this.
        prior: precision of the Gaussian prior on the standardised labels.
        damping: initial Levenberg-Marquardt damping (relative to the diagonal).
    """

    max_iter: int = 30
    tol_chi2: float = 1e-2
    prior: float = 1.0 / 9.0
    damping: float = 1e-3

    def __post_init__(self) -> None:
        if self.max_iter < 1:
            raise ValueError(f"max_iter: expected >= 1, got {self.max_iter}")
        if not self.tol_chi2 > 0:
            raise ValueError(f"tol_chi2: expected > 0, got {self.tol_chi2}")
        if self.prior < 0:
            raise ValueError(f"prior: expected >= 0, got {self.prior}")


@dataclass(frozen=True)
class LabelFit:
    """Result of a per-star fit, NumPy arrays in standardised label units.

    Attributes:
        x: ``(n, n_labels)`` best-fit standardised labels.
        covariance: ``(n, n_labels, n_labels)`` Laplace covariance of ``x``.
        chi2: ``(n,)`` chi^2 of the data term at the optimum (prior excluded).
        n_pixels: ``(n,)`` pixels with weight > 0.
        n_iter: ``(n,)`` steps taken.
        converged: ``(n,)`` stopped by the tolerance (not by ``max_iter``).
        at_bound: ``(n,)`` a label ended on the training box.
    """

    x: np.ndarray
    covariance: np.ndarray
    chi2: np.ndarray
    n_pixels: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    at_bound: np.ndarray

    @property
    def reduced_chi2(self) -> np.ndarray:
        """chi^2 per degree of freedom (pixels minus labels)."""
        dof = np.maximum(self.n_pixels - self.x.shape[1], 1)
        return self.chi2 / dof


def _chi2(weight: torch.Tensor, resid: torch.Tensor) -> torch.Tensor:
    return (weight * resid * resid).sum(dim=1, dtype=torch.float64)


def best_candidates(
    flux: torch.Tensor, weight: torch.Tensor, spectra: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Index and chi^2 of the best of ``spectra`` (k, p) for each star of ``flux``
    (n, p) with ``weight`` (n, p): ``sum w f^2 - 2 (w f) m^T + w (m^2)^T``."""
    wf = weight * flux
    chi = (
        (wf * flux).sum(1, keepdim=True).double()
        - 2.0 * (wf @ spectra.T).double()
        + (weight @ (spectra * spectra).T).double()
    )
    best, idx = chi.min(dim=1)
    return idx, best


def levenberg_marquardt(
    model: Model,
    model_jac: ModelJac,
    flux: torch.Tensor,
    weight: torch.Tensor,
    x0: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    settings: FitSettings = FitSettings(),  # noqa: B008 (frozen)
) -> LabelFit:
    """Fit every star of the batch (see the module documentation).

    Args:
        model: ``x (n, k) -> flux (n, p)``.
        model_jac: ``x -> (flux, transposed Jacobian d flux / d x (n, k, p))``.
        flux, weight: ``(n, p)`` observed flux and ``w`` (0 = masked).
        x0: ``(n, k)`` starting points (standardised).
        lo, hi: ``(k,)`` the box.
        settings: iterations, tolerance, prior, damping.
    """
    n, k = x0.shape
    dtype = flux.dtype
    eye = torch.eye(k, dtype=dtype, device=flux.device)
    prior = settings.prior

    def normal_equations(
        x: torch.Tensor, f: torch.Tensor, w: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """chi^2, J^T W J + prior and the gradient -d(chi^2/2)/dx at ``x``."""
        m, jac_t = model_jac(x)  # (n, k, p)
        r = f - m
        jw = jac_t * w[:, None, :]
        normal = jw @ jac_t.transpose(1, 2) + prior * eye
        grad = (jw @ r[:, :, None]).squeeze(2) - prior * x
        return _chi2(w, r) + prior * (x.double() ** 2).sum(1), normal, grad

    x = torch.minimum(torch.maximum(x0.to(dtype), lo), hi).clone()
    chi, normal, grad = normal_equations(x, flux, weight)
    lam = torch.full((n,), settings.damping, dtype=dtype, device=flux.device)
    done = torch.zeros(n, dtype=torch.bool, device=flux.device)
    converged = torch.zeros_like(done)
    n_iter = torch.zeros(n, dtype=torch.int64, device=flux.device)
    for _ in range(settings.max_iter):
        act = torch.nonzero(~done).squeeze(1)
        if act.numel() == 0:
            break
        na, xa = normal[act], x[act]
        diag = torch.diagonal(na, dim1=1, dim2=2)
        damped = na + torch.diag_embed(lam[act, None] * (diag + 1e-9))
        step = torch.linalg.solve(damped, grad[act][:, :, None]).squeeze(2)
        xn = torch.minimum(torch.maximum(xa + step, lo), hi)
        rn = flux[act] - model(xn)
        chin = _chi2(weight[act], rn) + prior * (xn.double() ** 2).sum(1)
        ok = chin < chi[act]
        gain = chi[act] - chin
        n_iter[act] += 1
        acc = act[ok]
        if acc.numel():
            x[acc] = xn[ok]
            chi[acc], normal[acc], grad[acc] = normal_equations(
                xn[ok], flux[acc], weight[acc]
            )
        lam[act] = torch.where(ok, lam[act] / 3.0, lam[act] * 5.0).clamp(1e-7, 1e7)
        # done: an accepted step that barely helps, or no step helps any more
        small = ok & (gain < settings.tol_chi2)
        stuck = ~ok & (lam[act] >= 1e7)
        stop = act[small | stuck]
        done[stop] = True
        converged[stop] = True
    # Laplace covariance at the optimum
    cov = torch.linalg.pinv(normal.double(), hermitian=True)
    chi_data = chi - prior * (x.double() ** 2).sum(1)
    tol = 1e-4 * (hi - lo)
    at_bound = ((x - lo).abs() <= tol) | ((hi - x).abs() <= tol)
    return LabelFit(
        x=x.double().cpu().numpy(),
        covariance=cov.cpu().numpy(),
        chi2=chi_data.cpu().numpy(),
        n_pixels=(weight > 0).sum(1).cpu().numpy(),
        n_iter=n_iter.cpu().numpy(),
        converged=converged.cpu().numpy(),
        at_bound=at_bound.any(dim=1).cpu().numpy(),
    )
