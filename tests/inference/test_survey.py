"""Survey-scale prediction: chunked parts, resume after kill -9, incremental inputs,
Dask workers, invalidation of stale parts, bounded memory."""

import json
import os
import signal
import subprocess
import time
import tracemalloc

import numpy as np
import pytest

from starlabel.errors import StarlabelInputError
from starlabel.inference import predict_survey, read_catalogue_table
from starlabel.models import CNNConfig, DeepEnsembleRegressor, EnsembleConfig
from starlabel.spectra import write_dataset
from starlabel.training import TrainConfig

from ..conftest import cli_process, gaussian_line_spectra

N_PIX = 64


def tiny_cnn(seed: int = 0, epochs: int = 3) -> DeepEnsembleRegressor:
    cfg = EnsembleConfig(
        n_members=2,
        n_keep=2,
        cnn=CNNConfig(
            channels=(4, 2), kernel_size=5, pool=(2, 1), dense=(16,), dropout=0.0
        ),
        train=TrainConfig(optimizer="adam", lr=3e-3, max_epochs=epochs, patience=20),
    )
    train = gaussian_line_spectra(n=120, n_pixels=N_PIX, seed=4)
    return DeepEnsembleRegressor(cfg, device="cpu", random_state=seed).fit(train)


def survey_file(path, n, seed, prefix, overwrite=False):
    sp = gaussian_line_spectra(n=n, n_pixels=N_PIX, seed=seed)
    sp = sp.replace(meta={**sp.meta, "id": [f"{prefix}{i}" for i in range(n)]})
    write_dataset(sp, path, overwrite=overwrite)
    return path


@pytest.fixture(scope="module")
def model():
    return tiny_cnn()


def assert_same_catalogue(a, b, rtol=0.0):
    """Same columns, rows and values (exactly, unless ``rtol``)."""
    assert a.colnames == b.colnames
    for c in a.colnames:
        x, y = np.asarray(a[c]), np.asarray(b[c])
        if x.dtype.kind == "f":
            np.testing.assert_allclose(x, y, rtol=rtol, atol=0, err_msg=c)  # NaN == NaN
        else:
            assert x.tolist() == y.tolist(), c


def test_a_catalogue_from_many_chunks_equals_one_from_one_chunk(model, tmp_path):
    """Every format: the streamed writer gives the same table as one big chunk,
    units and column descriptions included."""
    data = survey_file(tmp_path / "d.h5", 230, 1, "s")
    opts = model.predict_options(batch_size=16)
    for ext in ("fits", "csv", "parquet"):
        whole = tmp_path / f"whole.{ext}"
        parts = tmp_path / f"parts.{ext}"
        predict_survey(model, [data], whole, options=opts, chunk_size=1000)
        # chunks of 3 batches: the model sees the same batches as in one chunk
        counts = predict_survey(model, [data], parts, options=opts, chunk_size=48)
        assert counts["chunks"] == 5 and counts["n_spectra"] == 230
        a, b = read_catalogue_table(whole), read_catalogue_table(parts)
        assert_same_catalogue(a, b)
        assert b["id"].tolist() == [f"s{i}" for i in range(230)]
        if ext != "csv":
            assert str(b["teff"].unit) == "K"
            assert b.meta["SLMODEL"].startswith("cnn")
    from astropy.io import fits

    with fits.open(tmp_path / "parts.fits") as hdul:
        header = hdul[1].header
        k = 1 + list(hdul[1].columns.names).index("teff_err")
        assert "calibrated" in header[f"TCOMM{k}"] and header["NAXIS2"] == 230


def test_kill_9_mid_run_then_rerun_gives_the_uninterrupted_catalogue(model, tmp_path):
    model.save(tmp_path / "m")
    data = survey_file(tmp_path / "d.h5", 3000, 2, "s")
    common = ["--chunk-size", 25, "--batch-size", 25, "-q"]
    out = tmp_path / "cat.parquet"
    proc = subprocess.Popen(
        cli_process("predict", tmp_path / "m", data, "-o", out, *common),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    parts = tmp_path / "cat.parquet.parts"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if parts.is_dir() and len(list(parts.glob("part-*.parquet"))) >= 12:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(parts.glob("part-*.parquet")))
    assert not out.exists() and 12 <= done_before < 120
    resumed = subprocess.run(
        cli_process(
            "predict",
            tmp_path / "m",
            data,
            "-o",
            out,
            *common,
            "--log",
            tmp_path / "log",
        ),
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    records = [json.loads(x) for x in (tmp_path / "log").read_text().splitlines()]
    assert len(records) == 120 - done_before  # the done chunks were skipped
    # the reference run is a fresh process too: torch's CPU kernels are exact only
    # for the same process set-up (thread count, kernels picked on earlier calls)
    fresh = tmp_path / "fresh.parquet"
    subprocess.run(
        cli_process("predict", tmp_path / "m", data, "-o", fresh, *common), check=True
    )
    a, b = read_catalogue_table(out), read_catalogue_table(fresh)
    assert b["id"].tolist() == [f"s{i}" for i in range(3000)]
    assert_same_catalogue(a, b)
    assert not parts.exists()  # one input file: its parts go once the file is written


def test_adding_a_file_labels_only_its_spectra(model, tmp_path):
    a = survey_file(tmp_path / "a.h5", 300, 1, "a")
    b = survey_file(tmp_path / "b.h5", 120, 2, "b")
    out = tmp_path / "cat.fits"
    first = predict_survey(model, [a], out, chunk_size=50)
    assert first["chunks_run"] == 6
    log = tmp_path / "run.jsonl"
    second = predict_survey(model, [a, b], out, chunk_size=50, log=log)
    assert second["chunks_run"] == 3 and second["rows_run"] == 120
    assert {json.loads(x)["source"] for x in log.read_text().splitlines()} == {"b.h5"}
    fresh = tmp_path / "fresh.fits"
    predict_survey(model, [a, b], fresh, chunk_size=50)
    got = read_catalogue_table(out)
    assert_same_catalogue(got, read_catalogue_table(fresh))
    assert got["source"].tolist() == ["a.h5"] * 300 + ["b.h5"] * 120
    third = predict_survey(model, [a, b], out, chunk_size=50)
    assert third["chunks_run"] == 0 and not third["written"]  # up to date: untouched
    # dropping a file would lose its rows: refused without overwrite
    with pytest.raises(StarlabelInputError, match="a.h5, which this run does not"):
        predict_survey(model, [b], out, chunk_size=50)


def test_two_dask_workers_give_the_single_process_catalogue(model, tmp_path):
    pytest.importorskip("distributed")
    a = survey_file(tmp_path / "a.h5", 400, 1, "a")
    b = survey_file(tmp_path / "b.h5", 150, 2, "b")
    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    predict_survey(model, [a, b], one, chunk_size=60)
    log = tmp_path / "log"
    counts = predict_survey(model, [a, b], two, chunk_size=60, workers=2, log=log)
    assert counts["chunks_run"] == 10
    assert_same_catalogue(read_catalogue_table(one), read_catalogue_table(two))
    workers = {json.loads(x)["worker"] for x in log.read_text().splitlines()}
    assert all(str(os.getpid()) not in w for w in workers)  # ran in worker processes


def test_local_cluster_workers_keep_the_adaptive_malloc():
    """Dask gives workers MALLOC_TRIM_THRESHOLD_=65536 (2.2x slower CNN here); our
    LocalCluster leaves it out and keeps the one-thread limits."""
    pytest.importorskip("distributed")
    from starlabel.inference.distributed import dask_client

    with dask_client(1) as client:
        trim = client.run(os.getenv, "MALLOC_TRIM_THRESHOLD_")
        omp = client.run(os.getenv, "OMP_NUM_THREADS")
    assert list(trim.values()) == [None] and list(omp.values()) == ["1"]


class Crash(RuntimeError):
    pass


def _crash_after(model, n_batches):
    seen = {"n": 0}

    def predict(batch, options, first_row):
        seen["n"] += 1
        if seen["n"] > n_batches:
            raise Crash("simulated crash")
        return model.predict(batch, options)

    return predict


def _crash_in_chunk_4(model, data, out, opts):
    """A run of 40-row chunks that crashes after its third chunk."""
    with pytest.raises(Crash):
        predict_survey(
            model,
            [data],
            out,
            options=opts,
            chunk_size=40,
            predict=_crash_after(model, 3),
        )


def test_a_changed_model_or_input_discards_the_staged_parts(model, tmp_path):
    data = survey_file(tmp_path / "d.h5", 200, 1, "s")
    out = tmp_path / "cat.parquet"
    opts = model.predict_options(batch_size=40)
    _crash_in_chunk_4(model, data, out, opts)
    parts = tmp_path / "cat.parquet.parts"
    assert len(list(parts.glob("part-*"))) == 3 and not out.exists()
    other = tiny_cnn(seed=7, epochs=2)  # another model: none of the parts may stay
    counts = predict_survey(other, [data], out, options=opts, chunk_size=40)
    assert counts["chunks_run"] == 5
    fresh = tmp_path / "fresh.parquet"
    predict_survey(other, [data], fresh, options=opts, chunk_size=40)
    assert_same_catalogue(read_catalogue_table(out), read_catalogue_table(fresh))
    # a changed input file: its staged parts are not reused
    out2 = tmp_path / "cat2.parquet"
    _crash_in_chunk_4(model, data, out2, opts)
    time.sleep(0.01)
    survey_file(data, 200, 9, "s", overwrite=True)  # same ids, other spectra
    counts = predict_survey(model, [data], out2, options=opts, chunk_size=40)
    assert counts["chunks_run"] == 5
    predict_survey(model, [data], fresh, options=opts, chunk_size=40, overwrite=True)
    assert_same_catalogue(read_catalogue_table(out2), read_catalogue_table(fresh))


def test_a_folder_output_is_a_parquet_dataset_in_input_order(model, tmp_path):
    import pyarrow.parquet as pq

    a = survey_file(tmp_path / "a.h5", 130, 1, "a")
    b = survey_file(tmp_path / "b.h5", 70, 2, "b")
    out = tmp_path / "catalogue"
    predict_survey(model, [a, b], out, chunk_size=50)
    ds = pq.read_table(out)  # what any pyarrow / Dask user does
    assert ds.num_rows == 200 and sorted(ds["id"].to_pylist()) == sorted(
        [f"a{i}" for i in range(130)] + [f"b{i}" for i in range(70)]
    )
    table = read_catalogue_table(out)
    assert table["id"].tolist()[:3] == ["a0", "a1", "a2"] and table["id"][-1] == "b69"
    with pytest.raises(StarlabelInputError, match="another model"):
        predict_survey(tiny_cnn(seed=3, epochs=1), [a, b], out, chunk_size=50)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(StarlabelInputError, match="did not write"):
        predict_survey(model, [a], foreign, chunk_size=50)
    assert (foreign / "notes.txt").read_text() == "mine"


def _peak_bytes(model, data, out):
    tracemalloc.start()
    try:
        predict_survey(model, [data], out, chunk_size=1000)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_spectra(model, tmp_path):
    """Many chunks: the peak of Python/NumPy memory stays that of a chunk, far
    below the catalogue's size (a run that held the catalogue would exceed it)."""
    small = survey_file(tmp_path / "small.h5", 2000, 1, "s")
    large = survey_file(tmp_path / "large.h5", 30000, 2, "l")
    _peak_bytes(model, small, tmp_path / "warm.fits")  # imports, caches
    p_small = _peak_bytes(model, small, tmp_path / "small.fits")
    p_large = _peak_bytes(model, large, tmp_path / "large.fits")
    table = read_catalogue_table(tmp_path / "large.fits")
    size = sum(np.asarray(table[c]).nbytes for c in table.colnames)
    print(
        f"peak traced memory: {p_small / 2**20:.2f} MiB (2000 spectra), "
        f"{p_large / 2**20:.2f} MiB (30000 spectra); catalogue {size / 2**20:.2f} MiB"
    )
    assert size > 3 * 2**20
    assert p_large - p_small < 0.25 * size, (p_small, p_large, size)


def test_another_run_on_the_same_output_is_refused_while_one_runs(model, tmp_path):
    from starlabel.inference.parts import PartStore

    data = survey_file(tmp_path / "d.h5", 50, 1, "s")
    out = tmp_path / "cat.csv"
    with (
        PartStore(tmp_path / "cat.csv.parts", owner=out),
        pytest.raises(StarlabelInputError, match="another starlabel run"),
    ):
        predict_survey(model, [data], out)
