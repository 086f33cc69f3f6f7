"""Survey-scale prediction: 10^6 Gaia-RVS spectra through `starlabel predict` (issue 15).

Builds a survey of ``--n-spectra`` spectra in ``--files`` dataset files from one
noise-free synthesized block (``--block`` stars) with fresh noise per copy (every
spectrum a distinct row on disk, ids ``f<file>-<row>``), trains a 3-member CNN
ensemble on 4000 other stars (default preset, ``--max-epochs``: throughput is
measured here, not accuracy), and prints

* the model's predict rate in one process (1 torch thread, and 2), the machine's
  float32 matmul peak;
* ``predict`` on one file (10^5) and on all files (10^6) with ``--workers 1``, and on
  all with ``--workers 2``: wall time, spectra/s, speed-up, peak RSS of the driver and
  of each worker (sampled with psutil every 0.2 s) - it must not grow with the number
  of spectra;
* a ``--workers 2`` run killed with SIGKILL at ~50 % of its chunks, then resumed: rows
  lost, rows duplicated, order, resumed time / fresh time;
* an incremental run after adding 10 % more files: time relative to the full run.

Usage::

    python benchmarks/scale_benchmark.py                      # 10^6, ~1-2 h here
    python benchmarks/scale_benchmark.py --n-spectra 20000 --files 4 --block 2000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from cnn_benchmark import print_peak  # noqa: E402  (same folder)

SETUP = "gaia-rvs"


def cli(*args) -> list[str]:
    code = "import sys; from starlabel.cli.main import main; sys.argv[0]='starlabel'; main()"
    return [sys.executable, "-c", code, *map(str, args)]


class Sampler:
    """Peak RSS (MiB) of a process and each of its descendants, polled."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        import psutil

        self.root = psutil.Process(pid)
        self.peaks: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self.thread.start()

    def _run(self, every: float) -> None:
        import psutil

        while not self.stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return
            for p in procs:
                try:
                    rss = p.memory_info().rss / 2**20
                    self.peaks[p.pid] = max(self.peaks.get(p.pid, 0.0), rss)
                    if p.pid not in self.names:
                        self.names[p.pid] = " ".join(p.cmdline()[1:3])[:60]
                except psutil.Error:
                    pass
            time.sleep(every)

    def finish(self) -> tuple[float, list[float]]:
        """(driver peak, worker peaks) in MiB; workers: the processes that are
        Dask workers (spawned python processes), largest first."""
        self.stop.set()
        self.thread.join()
        driver = self.peaks.get(self.root.pid, float("nan"))
        others = sorted(
            (v for k, v in self.peaks.items() if k != self.root.pid and v > 150),
            reverse=True,
        )
        return driver, others


def run_predict(model, inputs, out, *extra, kill_at: float | None = None, n_chunks=0):
    """One `starlabel predict` in a new process group; returns figures."""
    cmd = cli("predict", model, *inputs, "-o", out, "-q", *extra)
    t0 = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603 (our own command line)
        cmd, start_new_session=True, stdout=subprocess.PIPE, text=True
    )
    sampler = Sampler(proc.pid)
    parts = Path(f"{out}.parts")
    killed = False
    if kill_at is not None:
        while proc.poll() is None:
            done = len(list(parts.glob("part-*.parquet"))) if parts.is_dir() else 0
            if done >= kill_at * n_chunks:
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.2)
    stdout, _ = proc.communicate()
    wall = time.perf_counter() - t0
    driver, workers = sampler.finish()
    if not killed and proc.returncode != 0:
        raise SystemExit(
            f"predict failed ({proc.returncode}): {' '.join(cmd)}\n{stdout}"
        )
    return {"wall": wall, "driver": driver, "workers": workers, "stdout": stdout}


def build_survey(args, folder: Path) -> list[Path]:
    """``files + extra`` dataset files of ``n_spectra / files`` spectra each."""
    from starlabel.spectra.io.hdf5 import write_batches
    from starlabel.synth.population import sample_population
    from starlabel.synth.survey import synthesize

    per_file = args.n_spectra // args.files
    n_files = args.files + max(1, args.files // 10)  # + 10 % for the incremental run
    paths = [folder / f"rvs-{k:03d}.h5" for k in range(n_files)]
    if all(p.exists() for p in paths):
        print(f"(survey files in {folder} reused)")
        return paths
    t0 = time.perf_counter()
    pop = sample_population(args.block, seed=41)
    block = list(synthesize(pop, setup=SETUP, noise=False, with_crlb=False, seed=41))
    flux0 = np.concatenate([b.flux for b in block]).astype(np.float32)
    snr = np.concatenate([np.asarray(b.meta["snr"], float) for b in block])
    template = block[0]
    sigma = (np.sqrt(np.clip(flux0, 1e-3, None)) / snr[:, None]).astype(np.float32)
    rng = np.random.default_rng(5)
    step = 5000
    for k, path in enumerate(paths):
        if path.exists():
            continue

        def batches(k=k):
            for start in range(0, per_file, step):
                n = min(step, per_file - start)
                rows = (np.arange(start, start + n) + k * per_file) % args.block
                flux = (
                    flux0[rows]
                    + rng.standard_normal((n, flux0.shape[1]), np.float32) * sigma[rows]
                )
                yield template.__class__(
                    flux,
                    template.wavelength,
                    1.0 / sigma[rows] ** 2,
                    {},
                    meta={
                        "id": np.array([f"f{k:03d}-{start + i}" for i in range(n)]),
                        "snr": snr[rows],
                    },
                    medium=template.medium,
                    rest_frame=True,
                    setup=SETUP,
                )

        write_batches(path, batches())
    print(
        f"survey: {n_files} files x {per_file} spectra ({template.n_pixels} px) written "
        f"in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    return paths


def train_model(args, folder: Path) -> Path:
    from starlabel.models import build_estimator
    from starlabel.spectra import Spectra
    from starlabel.synth.population import sample_population
    from starlabel.synth.survey import synthesize

    path = folder / f"cnn3-{args.max_epochs}"
    if path.exists():
        print(f"(model {path} reused)")
        return path
    train = Spectra.concatenate(
        list(
            synthesize(
                sample_population(4000, seed=43), setup=SETUP, with_crlb=False, seed=43
            )
        )
    )
    est = build_estimator(
        "cnn",
        labels=["teff", "logg", "fe_h", "mg_fe"],
        show_progress=False,
        ensemble=3,
        keep=3,
        max_epochs=args.max_epochs,
    )
    t0 = time.perf_counter()
    est.fit(train)
    est.save(path)
    print(
        f"trained a 3-member CNN ensemble in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    return path


def model_rate(model_dir: Path, data: Path) -> dict[int, float]:
    """Spectra/s of ``model.predict`` in this process, 1 and 2 torch threads."""
    import torch

    from starlabel import load
    from starlabel.spectra import read_dataset

    model = load(model_dir)
    sp = read_dataset(data, slice(0, 8192))
    out = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        model.predict(sp[:512])
        t0 = time.perf_counter()
        model.predict(sp)
        out[threads] = sp.n_spectra / (time.perf_counter() - t0)
    torch.set_num_threads(2)
    return out


def check_rows(cat: Path, expected: list[str]) -> tuple[int, int, bool]:
    import pyarrow.parquet as pq

    ids = pq.read_table(cat, columns=["id"])["id"].to_pylist()
    seen = set(ids)
    return len(set(expected) - seen), len(ids) - len(seen), ids == expected


def prepare_part(args) -> None:
    """`prepare` of 2000 raw Gaia-ESO-style FITS files (1000 stars x HR10, HR21) in
    one process and with --workers 1 and 2."""
    raw = args.cache / "raw"
    if not raw.is_dir():
        subprocess.run(  # noqa: S603 (our own command line)
            cli(
                "synth",
                "--n",
                args.raw_stars,
                "--raw",
                raw,
                "-o",
                args.cache / "raw.h5",
                "-q",
            ),
            check=True,
        )
    files = sorted(str(p) for p in raw.glob("*_HR*.fits"))
    walls = {}
    for workers in (0, 1, 2):
        out = args.cache / "out" / f"prepared-{workers}.h5"
        t0 = time.perf_counter()
        subprocess.run(  # noqa: S603 (our own command line)
            cli("prepare", str(raw / "*_HR*.fits"), "--format", "ges", "--grid",
                "giraffe-hr10-hr21", "--workers", workers, "-q", "--overwrite", "-o", out),
            check=True,
        )  # fmt: skip
        walls[workers] = time.perf_counter() - t0
        print(
            f"prepare {len(files)} raw FITS files, --workers {workers}: {walls[workers]:.1f} s "
            f"= {len(files) / walls[workers]:.0f} files/s",
            flush=True,
        )
    print(
        f"prepare speed-up of --workers 2 over one process: {walls[0] / walls[2]:.2f}x, "
        f"over --workers 1: {walls[1] / walls[2]:.2f}x"
    )


def predict_part(args, peak: float) -> None:
    paths = build_survey(args, args.cache)
    main_files, extra = paths[: args.files], paths[args.files :]
    model = train_model(args, args.cache)
    rates = model_rate(model, paths[0])
    print(
        f"model.predict in one process: {rates[1]:,.0f} spectra/s (1 thread), "
        f"{rates[2]:,.0f} spectra/s (2 threads); matmul peak {peak:.0f} GFLOP/s",
        flush=True,
    )
    out = args.cache / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    per_file = args.n_spectra // args.files
    n_chunks = args.files * -(-per_file // args.chunk_size)
    chunk = ["--chunk-size", args.chunk_size]
    expected = [f"f{k:03d}-{i}" for k in range(args.files) for i in range(per_file)]
    results = {}
    for name, inputs, workers in (
        ("1 file, --workers 1", main_files[:1], 1),
        ("all files, --workers 1", main_files, 1),
        ("all files, --workers 2", main_files, 2),
    ):
        cat = out / f"cat-{len(inputs)}-{workers}.parquet"
        r = run_predict(model, inputs, cat, *chunk, "--workers", workers)
        n = per_file * len(inputs)
        results[name] = r
        print(
            f"{name}: {n:,} spectra in {r['wall']:.0f} s = {n / r['wall']:,.0f} spectra/s "
            f"({n / r['wall'] / (workers * rates[1]):.0%} of {workers} x the 1-thread "
            f"model rate); peak RSS driver {r['driver']:.0f} MiB, workers "
            f"{', '.join(f'{w:.0f}' for w in r['workers'][:workers])} MiB",
            flush=True,
        )
    w1, w2 = results["all files, --workers 1"], results["all files, --workers 2"]
    print(f"speed-up of --workers 2 over --workers 1: {w1['wall'] / w2['wall']:.2f}x")
    lost, dup, order = check_rows(out / f"cat-{args.files}-2.parquet", expected)
    print(
        f"fresh --workers 2 catalogue: {lost} rows missing, {dup} duplicated, input order {order}"
    )

    # kill -9 at ~50 %, then resume
    cat = out / "killed.parquet"
    log = out / "killed.jsonl"
    r = run_predict(
        model, main_files, cat, *chunk, "--workers", 2, kill_at=0.5, n_chunks=n_chunks
    )
    staged = len(list(Path(f"{cat}.parts").glob("part-*.parquet")))
    r2 = run_predict(model, main_files, cat, *chunk, "--workers", 2, "--log", log)
    lost, dup, order = check_rows(cat, expected)
    redone = len(log.read_text().splitlines())
    print(
        f"killed with SIGKILL after {r['wall']:.0f} s ({staged} of {n_chunks} chunks "
        f"done); resumed run {r2['wall']:.0f} s ({redone} chunks), = "
        f"{r2['wall'] / w2['wall']:.2f} of a fresh run; rows lost {lost}, duplicated "
        f"{dup}, input order {order}",
        flush=True,
    )

    # incremental: +10 % files
    r3 = run_predict(model, main_files + extra, cat, *chunk, "--workers", 2)
    n_extra = per_file * len(extra)
    print(
        f"incremental run after adding {len(extra)} file(s) ({n_extra:,} spectra, "
        f"+{n_extra / args.n_spectra:.0%}): {r3['wall']:.0f} s = "
        f"{r3['wall'] / w2['wall']:.0%} of the full --workers 2 run"
    )
    lost, dup, order = check_rows(
        cat,
        expected
        + [
            f"f{k:03d}-{i}"
            for k in range(args.files, len(paths))
            for i in range(per_file)
        ],
    )
    print(
        f"  catalogue after the update: {lost} rows missing, {dup} duplicated, order {order}"
    )
    print(json.dumps({k: round(v["wall"], 1) for k, v in results.items()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("benchmarks/.cache/scale"))
    ap.add_argument("--n-spectra", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--block", type=int, default=20000)
    ap.add_argument("--max-epochs", type=int, default=10)
    ap.add_argument("--chunk-size", type=int, default=8192)
    ap.add_argument("--raw-stars", type=int, default=1000, help="prepare part: stars")
    ap.add_argument("--parts", nargs="+", default=["predict", "prepare"])
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    peak = print_peak()
    (args.cache / "out").mkdir(exist_ok=True)
    if "predict" in args.parts:
        predict_part(args, peak)
    if "prepare" in args.parts:
        prepare_part(args)


if __name__ == "__main__":
    main()
