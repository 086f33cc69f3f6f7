"""Fully connected encoder, decoder and label discriminators of the disentangling
autoencoder (Santoveña et al. 2025, "GANDALF")."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["LabelAutoencoder", "mlp"]


def mlp(sizes: Sequence[int]) -> torch.nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ReLU between them (none
    after the last)."""
    layers: list[torch.nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if k:
            layers.append(torch.nn.ReLU())
        layers.append(torch.nn.Linear(a, b))
    return torch.nn.Sequential(*layers)


class LabelAutoencoder(torch.nn.Module):
    """Encoder ``x (+ y) -> z`` and decoder ``z + y -> x``.

    Args:
        n_pixels: spectrum length.
        n_labels: labels given to the decoder (and to the encoder with
            ``encoder_labels``).
        latent: size of z (paper: 25).
        encoder: hidden widths of the encoder (paper: 512, 256).
        decoder: hidden widths of the decoder (paper: 256, 512).
        encoder_labels: labels also enter the encoder (the paper's Fig. 1, for
            synthetic sets); without, only the decoder sees them (Fig. 6).
    """

    def __init__(
        self,
        n_pixels: int,
        n_labels: int,
        latent: int = 25,
        *,
        encoder: Sequence[int] = (512, 256),
        decoder: Sequence[int] = (256, 512),
        encoder_labels: bool = False,
    ) -> None:
        super().__init__()
        self.encoder_labels = encoder_labels
        n_in = n_pixels + (n_labels if encoder_labels else 0)
        self.encoder = mlp([n_in, *encoder, latent])
        self.decoder = mlp([latent + n_labels, *decoder, n_pixels])

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """``(n, n_pixels)`` (and ``(n, n_labels)``) -> ``(n, latent)``."""
        if self.encoder_labels:
            if y is None:
                raise ValueError("this encoder takes the labels as input as well")
            x = torch.cat([x, y], dim=-1)
        return self.encoder(x)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``(n, latent)`` and ``(n, n_labels)`` -> ``(n, n_pixels)``."""
        return self.decoder(torch.cat([z, y], dim=-1))

    def forward(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x, y)
        return z, self.decode(z, y)
