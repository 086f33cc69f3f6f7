"""A small run on disk for the CLI tests that need real outputs: a dataset, a
training set, a tiny CNN model and its CSV catalogue."""

from __future__ import annotations

from pathlib import Path

from starlabel.inference import predict_file
from starlabel.models import DeepEnsembleRegressor
from starlabel.spectra import write_dataset

from ..models.gandalf_toy import toy_spectra
from .test_bad_input import TINY


def small_run(root: Path) -> dict[str, Path]:
    """``data`` (40 spectra), ``train`` (60), ``model`` (trained on ``train``) and
    ``cat`` (the model's catalogue of ``data``), all under ``root``."""
    f = {"root": root, "data": root / "data.h5", "train": root / "train.h5"}
    write_dataset(toy_spectra(40, 0), f["data"])
    write_dataset(toy_spectra(60, 1), f["train"])
    model = DeepEnsembleRegressor(TINY, labels=["logg", "fe_h"], device="cpu")
    f["model"] = model.fit(toy_spectra(60, 1)).save(root / "model")
    f["cat"] = root / "cat.csv"
    predict_file(model, f["data"], f["cat"])
    return f
