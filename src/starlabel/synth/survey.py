"""Synthetic surveys: noisy spectra with labels and their Cramer-Rao bounds.

Noise is Gaussian per pixel with ``sigma = sqrt(F) / SNR`` (photon noise with the
requested S/N in the continuum), and ``ivar = 1 / sigma^2`` from the noise-free
flux, so the inverse variance is exactly consistent with the noise drawn.

The Cramer-Rao bound of each label is ``sqrt((F^-1)_ii)`` with the Fisher matrix
``F = J^T diag(ivar) J``, ``J`` the generator's Jacobian (``synth.jacobian``: the
chain rule through the generator's structure, checked against autograd),
all of :data:`CRLB_LABELS` estimated jointly. A label the spectrum carries no
information about (A(Li) outside HR15N) gets an infinite bound and is left out of
the joint inversion. vsini is taken as known: at vsini -> 0 its derivative
vanishes and would make the Fisher matrix singular.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import astropy.units as u
import numpy as np
import torch

from .._typing import PathLike
from ..spectra.container import Spectra
from ..spectra.io.hdf5 import write_batches
from .atoms import LineList
from .jacobian import jacobian
from .physics import LABELS, SpectrumGenerator
from .population import Population

__all__ = [
    "CRLB_LABELS",
    "crlb",
    "synth_ids",
    "synthesize",
    "write_survey",
    "population_from_table",
]

CRLB_LABELS = tuple(name for name in LABELS if name != "vsini")


def synth_ids(n: int, seed: int) -> np.ndarray:
    """Default star ids of a synthetic run: ``synth-s<seed>-<index:07d>``.

    The seed is part of the id, so a catalogue of one run cannot be matched by
    mistake against the truth of another.

    Example:
        >>> synth_ids(2, seed=7).tolist()
        ['synth-s7-0000000', 'synth-s7-0000001']
    """
    return np.array([f"synth-s{int(seed)}-{i:07d}" for i in range(n)])


def noise_sigma(flux: np.ndarray, snr: np.ndarray) -> np.ndarray:
    """Per-pixel sigma for noise-free ``flux`` (n, p) at continuum S/N ``snr`` (n,)."""
    return np.sqrt(np.clip(flux, 1e-3, None)) / np.asarray(snr, dtype=float)[:, None]


def crlb(
    generator: SpectrumGenerator,
    labels: np.ndarray,
    ivar: np.ndarray,
    names: tuple[str, ...] = CRLB_LABELS,
) -> np.ndarray:
    """Cramer-Rao bounds ``(n_stars, len(names))`` for labels ``(n_stars, 12)``.

    Args:
        generator: the spectrum generator of the setup.
        labels: true labels in the order of :data:`LABELS`.
        ivar: ``(n_stars, n_pixels)`` inverse variance of the spectra.
        names: labels estimated jointly.

    Returns:
        One bound per star and label, in the label's unit; ``inf`` where the spectrum
        holds no information on that label.
    """
    dev = generator.bin_w.device
    x = torch.as_tensor(labels, dtype=generator.dtype, device=dev)
    w = torch.as_tensor(ivar, dtype=torch.float64, device=dev)
    jac = jacobian(generator, x, names).double()  # (n, p, k)
    fisher = (jac * w[..., None]).transpose(1, 2) @ jac
    diag = torch.diagonal(fisher, dim1=1, dim2=2)
    informative = diag > 1e-12 * diag.amax(dim=1, keepdim=True).clamp_min(1e-300)
    scale = torch.where(
        informative, 1.0 / torch.sqrt(diag.clamp_min(1e-300)), torch.zeros_like(diag)
    )
    c = fisher * scale[:, :, None] * scale[:, None, :]
    eye = torch.eye(len(names), dtype=c.dtype, device=c.device).expand_as(c)
    both = informative[:, :, None] & informative[:, None, :]
    c = torch.where(both, c, eye)
    inv = torch.linalg.pinv(c, hermitian=True)
    var = torch.diagonal(inv, dim1=1, dim2=2) * scale**2
    out = torch.where(
        informative, torch.sqrt(var.clamp_min(0.0)), torch.full_like(var, float("inf"))
    )
    return out.cpu().numpy()


def population_from_table(
    path: PathLike, *, snr: float | None = None
) -> tuple[Population, np.ndarray | None]:
    """Labels from a table (CSV/FITS/Parquet) with columns named as :data:`LABELS`.

    ``teff``, ``logg`` and ``fe_h`` are required; missing abundance ratios default to
    0, ``a_li`` to 1.05 (solar), ``vmic`` to :func:`vmic_relation`, ``vsini`` to
    2 km/s. An ``id`` column, if present, names the stars.

    Returns:
        (population, ids or None).
    """
    from ..errors import StarlabelInputError
    from ..spectra.io.table import read_any_table
    from .physics import vmic_relation

    path = Path(path)
    df, _ = read_any_table(path)
    cols = {str(c).lower(): c for c in df.columns}
    missing = [k for k in ("teff", "logg", "fe_h") if k not in cols]
    if missing:
        raise StarlabelInputError(
            f"needs columns {missing}; have {list(df.columns)}", path=path
        )
    n = len(df)
    if n == 0:
        raise StarlabelInputError("the table has no rows", path=path)
    defaults = {"a_li": 1.05, "vsini": 2.0}
    labels = {}
    for name in LABELS:
        if name in cols:
            labels[name] = df[cols[name]].to_numpy(dtype=float)
        elif name == "vmic":
            continue
        else:
            labels[name] = np.full(n, defaults.get(name, 0.0))
    if "vmic" not in labels:
        labels["vmic"] = vmic_relation(labels["teff"], labels["logg"])
    bad = [k for k, v in labels.items() if not np.all(np.isfinite(v))]
    if bad:
        raise StarlabelInputError(f"non-finite values in columns {bad}", path=path)
    ids = df[cols["id"]].astype(str).to_numpy() if "id" in cols else None
    meta = {
        "population": np.full(n, "table"),
        "cluster": np.full(n, ""),
        "stage": np.full(n, ""),
        "li_rich": np.zeros(n, bool),
        "snr": np.full(n, float(snr or np.inf)),
        "rv": np.zeros(n),
    }
    return Population({k: labels[k] for k in LABELS}, meta), ids


def synthesize(
    population: Population,
    *,
    setup: str = "giraffe-hr10-hr21",
    noise: bool = True,
    with_crlb: bool = True,
    seed: int = 0,
    batch_size: int = 256,
    ids: np.ndarray | None = None,
    device: str | None = None,
    progress: Callable[[int], None] | None = None,
    lines: LineList | None = None,
) -> Iterator[Spectra]:
    """Spectra of a population, in batches (bounded memory).

    Noise uses the population's ``meta['snr']``; with ``noise=False`` the flux is
    noise-free and the inverse variance still describes that S/N. Yields
    ``Spectra`` with all :data:`LABELS`, ``labels_crlb`` (if ``with_crlb``) and the
    population's metadata. Stars are named :func:`synth_ids` ``(n, seed)`` unless
    ``ids`` are given. ``lines``: another line list than the package's (a
    perturbed one gives "another spectral model" for transfer tests).
    """
    gen = SpectrumGenerator(setup, lines=lines, device=device)
    rng = np.random.default_rng(seed + 7919)
    n = len(population)
    ids = ids if ids is not None else synth_ids(n, seed)
    all_labels = population.array()
    grid = gen.setup.grid
    for start in range(0, n, batch_size):
        sl = slice(start, min(start + batch_size, n))
        lab = all_labels[sl]
        with torch.no_grad():
            flux = (
                gen(torch.as_tensor(lab, dtype=gen.dtype))
                .cpu()
                .numpy()
                .astype(np.float64)
            )
        snr = population.meta["snr"][sl]
        finite = np.isfinite(snr)
        sigma = noise_sigma(flux, np.where(finite, snr, 1.0))
        ivar = np.where(finite[:, None], 1.0 / sigma**2, 1e10)
        out = (
            flux + rng.normal(0.0, 1.0, flux.shape) * sigma * finite[:, None]
            if noise
            else flux
        )
        crlb_d = {}
        if with_crlb:
            bounds = crlb(gen, lab, ivar)
            crlb_d = {name: bounds[:, k] for k, name in enumerate(CRLB_LABELS)}
        meta = {"id": ids[sl], **{k: v[sl] for k, v in population.meta.items()}}
        meta["flag"] = np.zeros(sl.stop - sl.start, dtype=np.int64)
        yield Spectra(
            out.astype(np.float32),
            grid.wavelength * u.AA,
            ivar.astype(np.float32),
            {k: population.labels[k][sl] for k in LABELS},
            labels_crlb=crlb_d,
            meta=meta,
            medium=grid.medium,
            rest_frame=True,
            setup=gen.setup.name,
            attrs={
                "generator": "starlabel.synth",
                "noise": "sqrt(F)/SNR" if noise else "none",
            },
        )
        if progress is not None:
            progress(sl.stop - sl.start)


def write_survey(
    path: PathLike, batches: Iterator[Spectra], *, overwrite: bool = False
) -> int:
    """Write batches to one dataset file (atomically); returns the number of spectra.

    Raises:
        StarlabelInputError: bad output path (not ``.h5``/``.hdf5``, a directory, an
            existing file without ``overwrite``), checked before any batch is made.
    """
    n = write_batches(path, batches, overwrite=overwrite)
    if n == 0:
        raise ValueError("batches: nothing to write")
    return n
