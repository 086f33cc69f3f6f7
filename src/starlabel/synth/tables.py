"""Where things lie on the spectrum generator's internal grid (NumPy, built once per
generator): the log-uniform fine grid of each output segment, the flux-conserving
averaging of fine pixels into output pixels, the segment each line falls in, and
the lines grouped by opacity window into dense (lines, window) index blocks."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..spectra.grids import bin_edges
from ..spectra.preprocess import SPEED_OF_LIGHT_KMS, air_to_vacuum, overlap_matrix
from .atoms import LineList
from .setups import Setup

__all__ = ["FineGrid", "WindowGroup", "fine_grid", "window_groups"]


@dataclass(frozen=True)
class FineGrid:
    """The internal grid of a setup and how the line list maps onto it.

    Attributes:
        parts: the fine wavelengths (Angstrom) of each segment.
        segments: per segment ``(offset, n_fine, resolution)``.
        bin_idx, bin_w: ``(n_pixels, width)`` fine-pixel indices and weights whose
            weighted sum is each output pixel (zero-padded).
        keep: the lines that reach some segment (with their window).
        line_seg: each line's segment (-1: none).
    """

    parts: list[np.ndarray]
    segments: list[tuple[int, int, float]]
    bin_idx: np.ndarray
    bin_w: np.ndarray
    keep: np.ndarray
    line_seg: np.ndarray

    @property
    def wavelength(self) -> np.ndarray:
        """All fine wavelengths, segment after segment."""
        return np.concatenate(self.parts)

    @property
    def n_fine(self) -> int:
        """Fine pixels in all segments."""
        return sum(n for _, n, _ in self.segments)


def fine_grid(
    setup: Setup, lines: LineList, velocity_step: float, margin_aa: float
) -> FineGrid:
    """The fine grid of ``setup`` at ``velocity_step`` km/s per pixel, extending
    ``margin_aa`` beyond each segment, and the lines of ``lines`` inside it."""
    grid = setup.grid
    dln = velocity_step / SPEED_OF_LIGHT_KMS
    fine_parts, seg_info, bin_idx, bin_w = [], [], [], []
    offset = 0
    keep = np.zeros(len(lines), dtype=bool)
    line_seg = np.full(len(lines), -1)
    for s, seg in enumerate(grid.segments):
        lo, hi = seg[0] - margin_aa, seg[-1] + margin_aa
        n = int(math.ceil(math.log(hi / lo) / dln)) + 1
        fine = lo * np.exp(dln * np.arange(n))
        fine_parts.append(fine)
        seg_info.append((offset, n, setup.resolution[s]))
        idx, w = _averaging(fine, seg, offset)
        bin_idx.append(idx)
        bin_w.append(w)
        wl_line = (
            lines.wavelength
            if grid.medium == "air"
            else air_to_vacuum(lines.wavelength)
        )
        reach = wl_line * lines.window_kms / SPEED_OF_LIGHT_KMS
        inside = (wl_line + reach >= lo) & (wl_line - reach <= hi)
        line_seg[inside] = s
        keep |= inside
        offset += n
    width = max(x.shape[1] for x in bin_idx)
    pad = [np.pad(x, ((0, 0), (0, width - x.shape[1]))) for x in bin_idx]
    padw = [np.pad(x, ((0, 0), (0, width - x.shape[1]))) for x in bin_w]
    return FineGrid(
        fine_parts, seg_info, np.concatenate(pad), np.concatenate(padw), keep, line_seg
    )


def _averaging(
    fine: np.ndarray, seg: np.ndarray, offset: int
) -> tuple[np.ndarray, np.ndarray]:
    """Output pixels as averages over the fine grid (flux-conserving weights):
    ``(n_pixels, width)`` fine indices (shifted by ``offset``) and weights."""
    a = overlap_matrix(bin_edges(fine), bin_edges(seg)).tocsr()
    a = a.multiply(1.0 / np.maximum(a.sum(axis=1), 1e-300)).tocsr()
    width = int(np.diff(a.indptr).max())
    idx = np.zeros((seg.size, width), dtype=np.int64)
    w = np.zeros((seg.size, width))
    for j in range(seg.size):
        cols = a.indices[a.indptr[j] : a.indptr[j + 1]]
        idx[j, : cols.size] = cols + offset
        w[j, : cols.size] = a.data[a.indptr[j] : a.indptr[j + 1]]
    return idx, w


@dataclass(frozen=True)
class WindowGroup:
    """Lines sharing one opacity window: their indices, the flat fine-grid index of
    each (line, window pixel) (``n_fine`` outside the line's segment: a dump column)
    and each pixel's velocity from the line centre (km/s)."""

    members: np.ndarray
    idx: np.ndarray
    dv: np.ndarray


def window_groups(
    grid: FineGrid,
    line_seg: np.ndarray,
    wl: np.ndarray,
    windows: np.ndarray,
    velocity_step: float,
) -> list[WindowGroup]:
    """Lines grouped by window width (km/s), each group a dense (lines, W) block;
    ``wl`` the lines' wavelengths in the grid's medium, ``line_seg`` their segments."""
    seg_info, n_fine = grid.segments, grid.n_fine
    dln = velocity_step / SPEED_OF_LIGHT_KMS
    pos = np.empty(len(wl))
    for i in range(len(wl)):
        off, n, _ = seg_info[line_seg[i]]
        lo = grid.parts[line_seg[i]][0]
        pos[i] = off + math.log(wl[i] / lo) / dln
    groups = []
    for w in np.unique(windows):
        members = np.flatnonzero(windows == w)
        half = int(math.ceil(w / velocity_step))
        centre = np.round(pos[members]).astype(np.int64)
        idx = centre[:, None] + np.arange(-half, half + 1)[None, :]
        dv = (idx - pos[members][:, None]) * velocity_step  # km/s from line centre
        lo_i = np.array([seg_info[line_seg[m]][0] for m in members])[:, None]
        hi_i = lo_i + np.array([seg_info[line_seg[m]][1] for m in members])[:, None]
        valid = (idx >= lo_i) & (idx < hi_i)
        idx = np.where(valid, idx, n_fine)  # a dump column dropped after scatter
        groups.append(WindowGroup(members, idx.reshape(-1), dv))
    return groups
