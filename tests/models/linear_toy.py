"""A fifth model: an ensemble of linear maps flux -> labels, only its own parts
(network, tensors, loss, prediction); the rest comes from the family."""

from dataclasses import dataclass

import numpy as np
import torch

from starlabel._config import DictConfig
from starlabel.models import LabelPrediction, SpectralModel
from starlabel.models.options import TRAIN_FLAGS
from starlabel.models.space import FloatRange
from starlabel.nn import ScaledNetwork
from starlabel.spectra.preprocess import dense_flux
from starlabel.training import TrainConfig


@dataclass(frozen=True)
class LinearConfig(DictConfig):
    n_members: int = 2
    valid_fraction: float = 0.2
    train: TrainConfig = TrainConfig(max_epochs=40, optimizer="adam", lr=3e-2)


class LinearNetwork(ScaledNetwork):
    def __init__(self, n_labels: int, n_pixels: int) -> None:
        super().__init__(n_labels, n_pixels, standardize_flux=True)
        self.net = torch.nn.Linear(n_pixels, n_labels)

    def forward(self, flux: torch.Tensor) -> torch.Tensor:
        return self.net(self.flux_scaler(flux))


class LinearRegressor(SpectralModel):
    kind, title = "linear", "linear maps"
    config_class = LinearConfig
    presets = {"default": LinearConfig()}
    default_preset = "default"
    flag_fields = TRAIN_FLAGS
    search_space = {"train.lr": FloatRange(1e-3, 1e-1, log=True)}
    uncertainty_parts = {"int": "members' spread", "ext": "not provided (NaN)"}
    loss_name = "standardised MSE per label"

    def _n_members(self) -> tuple[int, int]:
        return self._config.n_members, self._config.n_members

    def _batch_tensors(self, spectra, names, device):
        flux, _ = dense_flux(spectra)
        y = spectra.label_array(names)
        return [
            torch.as_tensor(t, dtype=torch.float32, device=device) for t in (flux, y)
        ]

    def _new_network(self, seed, train, n_pixels, device):
        net = LinearNetwork(len(self.label_names_), n_pixels).to(device)
        net.fit_scalers(train[1], train[0])
        return net

    def _member_loss(self, device):
        return lambda n, b: ((n(b[0]) - n.label_scaler(b[1])) ** 2).mean(1)

    def _empty_network(self, seed, path, file):
        return LinearNetwork(len(self.label_names_), self.wavelength_.size)

    def _predict(self, spectra, options) -> LabelPrediction:
        flux, dead = dense_flux(spectra)
        x = torch.as_tensor(flux)
        with torch.no_grad():
            preds = np.stack(
                [m.label_scaler.inverse(m(x)).double().numpy() for m in self.members_]
            )
        mean, spread = preds.mean(0), preds.std(0, ddof=1)
        mean[dead], spread[dead] = np.nan, np.nan
        ext = np.full_like(mean, np.nan)  # no noise term
        signals = {"ensemble_spread": spread}
        return LabelPrediction(
            self.label_names_, mean, spread, ext, ood_signals=signals
        )
