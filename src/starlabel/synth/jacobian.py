"""The generator's Jacobian ``d flux / d labels``, by the chain rule through its
structure (for the Cramer-Rao bounds of every synthetic star).

Forward-mode autograd of the whole generator costs about two forward passes per
label; most of that is spent twice on what does not depend on the label (the
line profiles, the broadening kernels). Here each piece is differentiated once:

* per star and line, the derivatives of ``log10 eta0``, of the damping ``a`` and
  of ``ln v_D`` (small ``(n, n_lines)`` arrays, by forward-mode autograd of
  :meth:`SpectrumGenerator.line_opacity_ratio`);
* per window pixel, the Voigt-like profile ``P(v, a) = exp(-v^2) + a / (sqrt(pi)
  (v^2 + 1.5))`` with ``v = dv / v_D`` and its two partials, so that
  ``d(eta0 P)/dx = eta0 (ln10 P dlog10eta0/dx + R dlnv_D/dx + L da/dx)`` with
  ``R = -v dP/dv = 2 v^2 (exp(-v^2) + sqrt(pi) a L^2)``, ``L = dP/da``;
* the flux ``1 - D eta / (1 + eta)`` (``D`` depends on Teff only);
* the broadening and the binning are linear: applied to all columns at once,
  with one kernel spectrum per star.

``tests/synth/test_jacobian.py`` checks it against forward-mode autograd of the
whole generator in float64.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
from torch.func import jvp

from .physics import LABELS, SpectrumGenerator

__all__ = ["jacobian"]

_LN10 = math.log(10.0)


def jacobian(
    generator: SpectrumGenerator, labels: torch.Tensor, names: Sequence[str]
) -> torch.Tensor:
    """``(n_spectra, n_pixels, len(names))`` derivatives of ``generator(labels)``
    with respect to the labels ``names`` (not ``vsini``: the kernel's width)."""
    if "vsini" in names:
        raise ValueError("jacobian: vsini is not supported (the kernel's width)")
    gen = generator
    x = labels.to(dtype=gen.dtype, device=gen.bin_w.device)
    n, k = x.shape[0], len(names)
    cols = [LABELS.index(name) for name in names]
    # per star and line, for each label: the weights of the three profile fields
    # (ln10 dlog10eta0/dx, dlnv_D/dx, da/dx), each (n, L); an abundance ratio has
    # only the first, on its own element's lines
    log_eta0, a, v_d = gen.line_opacity_ratio(x)
    weights = []
    for c in cols:
        tangent = torch.zeros_like(x)
        tangent[:, c] = 1.0
        _, (d_log_eta0, d_a, d_vd) = jvp(gen.line_opacity_ratio, (x,), (tangent,))
        weights.append((_LN10 * d_log_eta0, d_vd / v_d, d_a))
    eta0 = torch.pow(10.0, log_eta0)
    eta = torch.zeros(n, gen.n_fine + 1, dtype=gen.dtype, device=x.device)
    d_eta = torch.zeros(k, n, gen.n_fine + 1, dtype=gen.dtype, device=x.device)
    root_pi = math.sqrt(math.pi)
    for members, idx, u, gauss, wing in gen.line_windows(v_d):
        aa = a[:, members, None]
        e0 = eta0[:, members, None]
        line = e0 * (gauss + aa * wing)  # eta0 P: each line's opacity
        eta.scatter_add_(1, idx.expand(n, -1), line.reshape(n, -1))
        fields = (line, e0 * (2.0 * u * (gauss + root_pi * aa * wing**2)), e0 * wing)
        pixels = idx.view(len(members), -1)
        for j, label_weights in enumerate(weights):
            parts = [w[:, members] for w in label_weights]
            used = [bool(w.any()) for w in parts]
            lines = torch.stack([w.ne(0).any(dim=0) for w in parts]).any(dim=0)
            if not bool(lines.any()):
                continue
            every = bool(lines.all())  # else: only the lines the label reaches
            total = sum(
                (w if every else w[:, lines])[..., None] * (f if every else f[:, lines])
                for w, f, on in zip(parts, fields, used, strict=True)
                if on
            )
            where = pixels if every else pixels[lines]
            d_eta[j].scatter_add_(
                1, where.reshape(1, -1).expand(n, -1), total.reshape(n, -1)
            )
    eta, d_eta = eta[:, :-1], d_eta[..., :-1].transpose(0, 1)
    teff = x[:, 0:1]
    depth, d_depth = jvp(gen.depth, (teff,), (torch.ones_like(teff),))
    ratio = eta / (1.0 + eta)
    d_flux = d_eta * (-depth / (1.0 + eta) ** 2)[:, None]
    if "teff" in names:
        d_flux[:, names.index("teff")] -= d_depth * ratio
    broad = gen.broaden(d_flux, x[:, 11], pad_value=0.0)
    flux = gen.broaden(1.0 - depth * ratio, x[:, 11])
    out = _bin(gen, broad.reshape(n * k, -1)).reshape(n, k, -1)  # (n, k, p)
    binned = (flux[:, gen.bin_idx] * gen.bin_w).sum(dim=-1)
    inside = ((binned > 0.0) & (binned < 1.0)).to(out.dtype)  # forward clamps
    return (out * inside[:, None]).transpose(1, 2)


def _bin(gen: SpectrumGenerator, fine: torch.Tensor) -> torch.Tensor:
    """``(m, n_pixels)`` pixel values of ``(m, n_fine)`` fine-grid rows: the
    generator's binning as one sparse product (a gather of every row's 5 taps
    costs 4x more for the Jacobian's many rows)."""
    key = (fine.dtype, fine.device)
    cached = getattr(gen, "_bin_matrix", None)
    if cached is None or cached[0] != key:
        idx, w = gen.bin_idx, gen.bin_w
        rows = torch.arange(idx.shape[0], device=idx.device)[:, None].expand_as(idx)
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            matrix = (
                torch.sparse_coo_tensor(
                    torch.stack([rows.reshape(-1), idx.reshape(-1)]),
                    w.reshape(-1).to(fine.dtype),
                    (idx.shape[0], gen.n_fine),
                )
                .coalesce()
                .to_sparse_csr()
            )
        cached = (key, matrix)
        gen._bin_matrix = cached
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse.mm(cached[1], fine.T.contiguous()).T
