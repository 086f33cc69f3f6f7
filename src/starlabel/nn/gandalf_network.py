"""The adversarial autoencoder's network: autoencoder, one discriminator per
conditioned label, the labels' bin edges and the scalers."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .autoencoder import LabelAutoencoder, mlp
from .standardize import ScaledNetwork


class AutoencoderNetwork(ScaledNetwork):
    """``ae`` encodes standardised flux (and labels) to z and decodes z with the
    labels; ``discriminators[i]`` guesses conditioned label i's bin from z
    (``bin_edges[i]``, in the label's units).

    Args:
        n_pixels, n_labels, latent: sizes.
        n_conditioned, n_bins: discriminators and their bins.
        encoder, decoder, discriminator: hidden layer sizes.
        encoder_labels: the encoder sees the labels too.
        seed: the autoencoder's weights from ``seed``, the discriminators' from
            their own stream (``seed + 7919``: with lambda = 0 the autoencoder
            trains exactly as without them); the caller's generator is untouched.
    """

    def __init__(
        self,
        n_pixels: int,
        n_labels: int,
        latent: int,
        *,
        n_conditioned: int,
        n_bins: int,
        encoder: Sequence[int],
        decoder: Sequence[int],
        discriminator: Sequence[int],
        encoder_labels: bool,
        seed: int,
    ) -> None:
        super().__init__(n_labels, n_pixels, standardize_flux=True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.ae = LabelAutoencoder(
                n_pixels,
                n_labels,
                latent,
                encoder=encoder,
                decoder=decoder,
                encoder_labels=encoder_labels,
            )
            torch.manual_seed(seed + 7919)
            self.discriminators = torch.nn.ModuleList(
                mlp([latent, *discriminator, n_bins]) for _ in range(n_conditioned)
            )
        self.register_buffer("bin_edges", torch.zeros(n_conditioned, n_bins + 1))

    def forward(
        self, flux: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Flux and labels in their units -> latent z and the rebuilt flux."""
        z, rebuilt = self.ae(self.flux_scaler(flux), self.label_scaler(labels))
        return z, self.flux_scaler.inverse(rebuilt)
