"""The autoencoder's training loop: reconstruction against the adversaries that
try to read the disentangled labels from the latent space (Santoveña et al. 2025)."""

from __future__ import annotations

import time
from typing import Any

import torch

from ..training import History, check_deadline, report_epoch
from .gandalf_config import (
    GandalfConfig,
)
from .members import ProgressBar


def label_bins(
    module: torch.nn.Module, y: torch.Tensor, cond: list[int]
) -> torch.Tensor:
    """``(n, n_cond)`` bin index of each conditioned label (edges from training)."""
    inner = module.bin_edges[:, 1:-1]
    if not cond:
        return torch.zeros(y.shape[0], 0, dtype=torch.long, device=y.device)
    return torch.stack(
        [
            torch.bucketize(y[:, j].contiguous(), inner[i].contiguous())
            for i, j in enumerate(cond)
        ],
        dim=1,
    )


def train_autoencoder(
    module: torch.nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    valid: tuple[torch.Tensor, torch.Tensor],
    cond: list[int],
    cfg: GandalfConfig,
    seed: int,
    show_progress: bool,
) -> list[dict[str, Any]]:
    """Alternate discriminator and autoencoder steps (module docstring); history per epoch."""
    lambdas = torch.tensor(list(cfg.lambdas.values()), dtype=torch.float32)
    ae, discs = module.ae, module.discriminators
    opt_ae = torch.optim.Adam(ae.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    opt_d = torch.optim.Adam(discs.parameters(), lr=cfg.lr) if len(discs) else None
    ce = torch.nn.functional.cross_entropy
    gen = torch.Generator().manual_seed(seed)
    xt = module.flux_scaler(train[0])
    yt, bt = module.label_scaler(train[1]), label_bins(module, train[1], cond)
    xv = module.flux_scaler(valid[0])
    yv, bv = module.label_scaler(valid[1]), label_bins(module, valid[1], cond)
    progress = ProgressBar(1, cfg.max_epochs) if show_progress else None
    history: list[dict[str, Any]] = []
    for epoch in range(cfg.max_epochs):
        ramp = (
            min(1.0, (epoch + 1) / cfg.lambda_ramp_epochs)
            if cfg.lambda_ramp_epochs
            else 1.0
        )
        t0 = time.perf_counter()
        module.train()
        rec_sum = 0.0
        for idx in torch.split(
            torch.randperm(xt.shape[0], generator=gen), cfg.batch_size
        ):
            check_deadline()
            x, y, b = xt[idx], yt[idx], bt[idx]
            if opt_d is not None:
                with torch.no_grad():
                    z = ae.encode(x, y)
                d_loss = sum(ce(d(z), b[:, i]) for i, d in enumerate(discs))
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
            z, xh = ae(x, y)
            rec = torch.mean((xh - x) ** 2)
            loss = rec
            for i, d in enumerate(discs):
                if lambdas[i] > 0 and cfg.adversary == "uniform":
                    logp = torch.log_softmax(d(z), dim=1)
                    loss = loss - ramp * lambdas[i] * logp.mean()
                elif lambdas[i] != 0:
                    loss = loss - ramp * lambdas[i] * ce(d(z), b[:, i])
            opt_ae.zero_grad(set_to_none=True)
            loss.backward()
            opt_ae.step()
            rec_sum += rec.item() * len(idx)
        module.eval()
        with torch.no_grad():
            z, xh = ae(xv, yv)
            v_rec = float(torch.mean((xh - xv) ** 2))
            acc = [
                float((d(z).argmax(1) == bv[:, i]).float().mean())
                for i, d in enumerate(discs)
            ]
        row = {
            "epoch": epoch + 1,
            "train_mse": rec_sum / xt.shape[0],
            "valid_mse": v_rec,
            "discriminator_accuracy": acc,
            "seconds": time.perf_counter() - t0,
        }
        history.append(row)
        report_epoch(epoch, v_rec)
        if progress is not None:
            progress.member(0)(
                epoch, History(train_loss=[row["train_mse"]], valid_loss=[v_rec])
            )
    if progress is not None:
        progress.close()
    module.eval()
    return history
