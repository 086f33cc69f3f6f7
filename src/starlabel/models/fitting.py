"""The one ``fit`` of every starlabel model, and the fitted members it leaves.

:meth:`FitTemplate.fit` runs the same steps for every model::

    reset -> label set -> training and validation sets -> one grid check
      -> batch tensors -> networks (the seeded member loop over ``fit_loop``)
      -> member selection -> training record -> error calibration and OOD score

and each model supplies only what is its own: its batch tensors
(:meth:`~FitTemplate._batch_tensors`), a new network with its scalers fitted
(:meth:`~FitTemplate._new_network`), its per-star loss
(:meth:`~FitTemplate._member_loss`) and, where it needs one, a step after the
selection (:meth:`~FitTemplate._after_training`). A model whose networks train
otherwise (the adversarial autoencoder) overrides :meth:`~FitTemplate._train`.

Every fitted model holds its kept networks in ``members_`` with their seeds
(``member_seeds_``), best validation losses (``member_losses_``) and the training
history of every member trained (``history_``): what ``model.json`` records as
``members`` and ``history.json`` as ``members``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import StarlabelInputError
from ..spectra.container import Spectra
from .grid import check_grid
from .line_sensitivity import predictable_abundances
from .members import Member, keep_best, member_history, train_members
from .tensors import device_of

#: ``train`` warns of an abundance whose training spread the other labels explain
#: beyond this share (R^2 of a linear fit; the Galactic population's [Mg/Fe]: 0.97).
PREDICTABLE_SHARE = 0.5

log = logging.getLogger(__name__)

__all__ = ["FitTemplate", "check_trainable"]


def check_trainable(
    spectra: Spectra, names: Sequence[str], *, path: Any = None
) -> None:
    """Refuse a training set that has nothing to learn from: every pixel masked
    (ivar = 0), or a label in ``names`` without a single known value.

    Raises:
        StarlabelInputError: naming ``path`` (or ``train`` when it is None).
    """
    where = {"path": path} if path is not None else {}
    prefix = "" if path is not None else "train: "
    if spectra.n_spectra and not np.any(spectra.ivar > 0):
        raise StarlabelInputError(
            f"{prefix}every pixel of its {spectra.n_spectra} spectra is masked "
            "(ivar = 0): nothing to train on",
            **where,
        )
    empty = [
        n
        for n in names
        if n in spectra.labels and not np.isfinite(spectra.labels[n]).any()
    ]
    if empty:
        raise StarlabelInputError(
            f"{prefix}no star has a value for {empty} (all NaN); choose other "
            "labels with --labels",
            **where,
        )


class FitTemplate:
    """Mixin of :class:`~starlabel.models._shared.SpectralModel`: the fit template."""

    #: fewest stars (with every label) to train on and to validate on.
    min_stars: ClassVar[tuple[int, int]] = (2, 1)
    #: warn when the sets are small for a meaningful fit.
    warn_few_stars: ClassVar[bool] = True
    #: a kept member's validation loss above this says the model did not learn.
    max_learned_loss: ClassVar[float] = 1e3

    # ------------------------------------------------------------ template
    def fit(self, train: Spectra, valid: Spectra | None = None) -> Any:
        """Train on ``train``, early-stop and select on ``valid``, then fit the
        error calibration and the OOD score on ``valid``.

        Args:
            train: training spectra with labels (NaN = unknown).
            valid: spectra for early stopping, selection and calibration; by
                default ``valid_fraction`` of ``train`` (random, seeded).

        Returns:
            self.

        Raises:
            ValueError: too few stars, no value for a label, or a validation set
                on another grid.
        """
        names = self._begin_fit(train)
        train, validation = self._fit_sets(train, valid, names)
        self._fit_grid(train, validation, sizes=self.warn_few_stars)
        self._before_training(train, validation)
        dev = device_of(self.device)
        tr, va = (self._batch_tensors(sp, names, dev) for sp in (train, validation))
        self._train(tr, va, train, dev)
        self._check_learned()
        self._record_training(train, names)
        self._fit_reliability(train, validation)
        return self

    # --------------------------------------------------------------- hooks
    def _batch_tensors(
        self, spectra: Spectra, names: Sequence[str], device: torch.device
    ) -> list[torch.Tensor]:
        """The tensors one mini-batch is cut from (rows = stars)."""
        raise NotImplementedError

    def _new_network(
        self,
        seed: int,
        train: Sequence[torch.Tensor],
        n_pixels: int,
        device: torch.device,
    ) -> torch.nn.Module:
        """A new network on ``device`` with its scalers fitted on ``train`` (torch's
        generator is seeded with ``seed`` just before)."""
        raise NotImplementedError

    def _member_loss(self, device: torch.device) -> Callable[..., Any]:
        """The per-star loss of :func:`~starlabel.training.fit_loop`."""
        raise NotImplementedError

    def _n_members(self) -> tuple[int, int]:
        """Members trained and kept (default: ``n_members`` trained, the best kept)."""
        return int(self._config.n_members), 1

    def _before_training(self, train: Spectra, validation: Spectra) -> None:
        """After the grid check, before any tensor (warnings, extra inputs)."""

    def _after_training(
        self,
        kept: Sequence[Member],
        train: Sequence[torch.Tensor],
        valid: Sequence[torch.Tensor],
        spectra: Spectra,
    ) -> None:
        """After the selection: what a model measures on its kept networks."""

    # ---------------------------------------------------------------- steps
    def _fit_sets(
        self, train: Spectra, valid: Spectra | None, names: Sequence[str]
    ) -> tuple[Spectra, Spectra]:
        """The stars with every label (``valid_fraction`` of them held out when
        ``valid`` is None), refused when fewer than :attr:`min_stars`."""
        train, validation = self._complete_sets(
            train, valid, names, self._config.valid_fraction
        )
        n_train, n_valid = self.min_stars
        if train.n_spectra < n_train or validation.n_spectra < n_valid:
            raise ValueError(
                f"train: {train.n_spectra} training and {validation.n_spectra} "
                f"validation stars with every label {list(names)}: a {self.kind} model "
                f"needs at least {n_train} and {n_valid}"
            )
        return train, validation

    def _train(
        self,
        train: Sequence[torch.Tensor],
        valid: Sequence[torch.Tensor],
        spectra: Spectra,
        device: torch.device,
    ) -> None:
        """The seeded member loop, the selection (lowest validation loss first) and
        the fitted members."""
        n_train, n_keep = self._n_members()
        members = train_members(
            lambda seed: self._new_network(seed, train, spectra.n_pixels, device),
            self._member_loss(device),
            train,
            valid,
            self._config.train,
            n_members=n_train,
            random_state=self.random_state,
            device=device,
            show_progress=self.show_progress,
        )
        kept = keep_best(members, n_keep)
        self._set_members(
            [m.module.to(device).eval() for m in kept],
            [m.seed for m in kept],
            [m.loss for m in kept],
            member_history(members, kept),
        )
        try:
            self._after_training(kept, train, valid, spectra)
        except BaseException:
            del self.members_  # a model whose fit failed is not fitted
            raise

    def _set_members(
        self,
        networks: Sequence[torch.nn.Module],
        seeds: Sequence[int],
        losses: Sequence[float],
        history: list[dict[str, Any]],
    ) -> None:
        self.members_ = list(networks)
        self.member_seeds_ = [int(s) for s in seeds]
        self.member_losses_ = [float(x) for x in losses]
        self.history_ = history

    @property
    def module_(self) -> torch.nn.Module:
        """The first kept network (the only one of a single-network model)."""
        return self.members_[0]

    def validation_loss(self) -> float:
        """Mean best validation loss of the kept members (``loss_name``)."""
        self._check_fitted()
        return float(np.mean(self.member_losses_))

    def _check_learned(self) -> None:
        """Warn when a kept member's validation loss is not finite or huge."""
        bad = [
            x
            for x in self.member_losses_
            if not np.isfinite(x) or x > self.max_learned_loss
        ]
        if bad:
            self._warn(
                f"validation loss {bad[0]:.3g} ({self.loss_name}): the {self.kind} "
                "model did not learn"
            )

    def _warn(self, message: str) -> None:
        """A one-line warning about the fit (``fit_warnings_``; printed by the CLI)."""
        self.fit_warnings_.append(message)
        log.warning(message)

    def _fit_grid(
        self, train: Spectra, validation: Spectra, *, sizes: bool = True
    ) -> None:
        """The one grid check of every fit: the validation spectra on the training
        grid; the grid is recorded. With ``sizes``, warn of too few stars."""
        if sizes and (train.n_spectra < 50 or validation.n_spectra < 10):
            self._warn(
                f"only {train.n_spectra} training and {validation.n_spectra} "
                "validation spectra: the model and its validation loss mean little"
            )
        check_grid(train.wavelength_aa, validation, "validation")
        self.wavelength_ = train.wavelength_aa.copy()
        self.medium_ = train.medium

    def _begin_fit(self, train: Spectra) -> list[str]:
        """Reset every fitted attribute (fitting again starts afresh) and set the
        label names; returns them."""
        for attr in [
            a for a in vars(self) if a.endswith("_") and not a.startswith("_")
        ]:
            delattr(self, attr)
        self.fit_warnings_: list[str] = []
        if not isinstance(train, Spectra):
            raise TypeError(f"train: expected Spectra, got {type(train).__name__}")
        names = self._set_labels(train)
        check_trainable(train, names)  # before any warning about the fit
        return names

    def _complete_sets(
        self,
        train: Spectra,
        validation: Spectra | None,
        names: Sequence[str],
        valid_fraction: float,
    ) -> tuple[Spectra, Spectra]:
        """Training and validation stars that have every label in ``names`` (the
        dropped training stars are counted in ``n_dropped_``); without a validation
        set, ``valid_fraction`` of the training stars, seeded by ``random_state``."""
        complete = np.isfinite(train.label_array(names)).all(axis=1)
        self.n_dropped_ = int((~complete).sum())
        train = train[complete]
        if validation is None:
            return train.split(
                (1 - valid_fraction, valid_fraction), seed=self.random_state
            )
        return train, validation[np.isfinite(validation.label_array(names)).all(axis=1)]

    def _record_training(self, train: Spectra, names: Sequence[str]) -> None:
        """Fingerprint, size and label ranges of the training set (``model.json``)."""
        self.training_fingerprint_ = hashlib.sha256(
            np.ascontiguousarray(train.flux[: min(64, train.n_spectra)]).tobytes()
            + "|".join(train.ids[:64]).encode()
        ).hexdigest()[:16]
        self.n_train_ = train.n_spectra
        self.label_range_ = {
            n: [float(np.nanmin(train.labels[n])), float(np.nanmax(train.labels[n]))]
            for n in names
        }
        self.label_std_ = {n: float(np.nanstd(train.labels[n])) for n in names}
        self.label_mean_ = {n: float(np.nanmean(train.labels[n])) for n in names}
        self._warn_predictable(train, names)

    def _warn_predictable(self, train: Spectra, names: Sequence[str]) -> None:
        """Warn of abundances that the other training labels largely predict."""
        shares = predictable_abundances(train.label_array(names), names)
        high = [f"{n} {r:.0%}" for n, r in shares.items() if r > PREDICTABLE_SHARE]
        if high:
            self._warn(
                "in the training set the other labels explain most of the spread of "
                + ", ".join(high)
                + ": the model can read these abundances from other elements' lines "
                "instead of their own; train on decorrelated abundances and check "
                "with `starlabel evaluate` on a break set (README: Abundances that "
                "are measurements)"
            )
