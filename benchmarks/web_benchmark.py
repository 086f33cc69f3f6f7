"""The web app's catalogue API on 10^5 and 10^6 rows (issue 16): time of the first
read, of a filtered + sorted page, of a text search and of the plot points.

Usage::

    python benchmarks/web_benchmark.py [--rows 100000 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def catalogue(path: Path, n: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    cols = {"id": [f"star{i:07d}" for i in range(n)]}
    for name, lo, hi in (
        ("teff", 3500, 7500),
        ("logg", 0, 5),
        ("fe_h", -2.5, 0.5),
        ("mg_fe", -0.2, 0.5),
    ):
        cols[name] = rng.uniform(lo, hi, n)
        cols[name + "_err"] = rng.uniform(0.01, 0.1, n) * (hi - lo)
    cols["ood_score"] = rng.exponential(0.4, n)
    cols["flag"] = rng.choice([0, 0, 0, 2, 64, 128], n).astype(np.int64)
    pq.write_table(pa.table(cols), path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    args = ap.parse_args()
    from fastapi.testclient import TestClient

    from starlabel.web.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        for n in args.rows:
            root = Path(tmp) / f"n{n}"
            root.mkdir()
            catalogue(root / "cat.parquet", n)
            client = TestClient(create_app(root))
            base = {"path": "cat.parquet"}
            queries = {
                "first page (reads the file)": ("/api/catalogue", base),
                "first page again": ("/api/catalogue", base),
                "2 ranges + flag filter, sorted by fe_h, page 100": (
                    "/api/catalogue",
                    base
                    | {
                        "range": ["teff:4500:5500", "logg::3.5"],
                        "flag_none": 64,
                        "sort": "fe_h",
                        "descending": True,
                        "offset": 5000,
                        "limit": 50,
                    },
                ),
                "text search in ids": ("/api/catalogue", base | {"q": "star00012"}),
                "Kiel points (20 000 of the filtered)": (
                    "/api/catalogue/points",
                    base | {"columns": ["teff", "logg"], "range": ["fe_h:-1:0"]},
                ),
                "star by id": (
                    "/api/catalogue/star",
                    base | {"id": f"star{n // 2:07d}"},
                ),
                "another star by id": (
                    "/api/catalogue/star",
                    base | {"id": f"star{n // 3:07d}"},
                ),
            }
            print(f"\n{n:,} rows")
            for name, (url, params) in queries.items():
                t0 = time.perf_counter()
                r = client.get(url, params=params)
                ms = (time.perf_counter() - t0) * 1e3
                assert r.status_code == 200, r.text
                body = r.json()
                extra = f" ({body['total']:,} match)" if "total" in body else ""
                print(f"  {name:52s} {ms:8.0f} ms{extra}")


if __name__ == "__main__":
    main()
