"""Torch helpers the models share: device choice, strict state loading, the flux
scaler, the noise tensors of a batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import StarlabelInputError
from ..spectra.container import Spectra
from .persist import load_tensors


def device_of(device: str | torch.device | None) -> torch.device:
    """``"auto"``/None: CUDA when present, else CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_state(path: Path, file: str, module: torch.nn.Module) -> torch.nn.Module:
    """Load one safetensors file into ``module`` (strict), in eval mode."""
    state = load_tensors(path, file)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise StarlabelInputError(
            f"{file} does not fit the architecture in model.json: {str(exc).splitlines()[0]}",
            path=path,
        ) from exc
    return module.eval()


def noise_tensors(
    spectra: Spectra, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel 1-sigma (0 where masked) and per-spectrum S/N of ``spectra``, for
    the noise augmentation of training batches (``training.augment``)."""
    ivar = np.where(np.isfinite(spectra.ivar) & (spectra.ivar > 0), spectra.ivar, 0.0)
    sigma = np.where(ivar > 0, 1.0 / np.sqrt(np.where(ivar > 0, ivar, 1.0)), 0.0)
    snr = np.nan_to_num(spectra.snr(), nan=0.0)
    return (
        torch.as_tensor(sigma.astype(np.float32), device=device),
        torch.as_tensor(snr.astype(np.float32), device=device),
    )
