"""Load time of our PostgreSQL source against pandas.read_sql, measured in the same run.

1M rows x 20 numeric columns + timestamp + label in a throwaway PostgreSQL (or --uri).
Target: ours >= 5x faster. Run: `make bench` or `.venv/bin/python bench/load_postgres.py`.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy
from adbc_driver_postgresql import dbapi

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from mlops.config import SourceConfig
from mlops.data.sources import PostgresSource, Window

from services import postgres_server

END = datetime(2026, 11, 23, tzinfo=UTC)


def make_rows(n: int) -> pa.Table:
    rng = np.random.default_rng(0)
    columns = {f"f{i:02d}": rng.normal(size=n) for i in range(20)}
    seconds = np.sort(rng.uniform(0, 365 * 86_400, n))
    start = np.datetime64((END - timedelta(days=365)).replace(tzinfo=None), "us")
    columns["event_time"] = pa.array(start + (seconds * 1e6).astype("timedelta64[us]"), type=pa.timestamp("us", tz="UTC"))
    columns["label"] = rng.integers(0, 2, n)
    return pa.table(columns)


def best_of(repeats: int, func) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--uri", help="an existing database (default: start a throwaway server)")
    args = parser.parse_args()

    with (nullcontext(None) if args.uri else postgres_server()) as server:
        uri = args.uri or server.uri()
        rows = make_rows(args.rows)
        with dbapi.connect(uri) as conn, conn.cursor() as cur:
            cur.adbc_ingest("bench_rows", rows, mode="replace")
            conn.commit()
        window = Window(END - timedelta(days=366), END)
        source = PostgresSource(SourceConfig(uri=uri, table="bench_rows", timestamp_column="event_time"))
        engine = sqlalchemy.create_engine(uri.replace("postgresql://", "postgresql+psycopg2://"))
        query = sqlalchemy.text('SELECT * FROM bench_rows WHERE "event_time" >= :start AND "event_time" < :end')

        ours_rows = source.load(window).num_rows
        theirs_rows = len(pd.read_sql(query, engine, params={"start": window.start, "end": window.end}))
        assert ours_rows == theirs_rows == args.rows, (ours_rows, theirs_rows)

        ours = best_of(args.repeats, lambda: source.load(window))
        theirs = best_of(args.repeats, lambda: pd.read_sql(query, engine, params={"start": window.start, "end": window.end}))
        print(f"rows                     {args.rows:,} x {rows.num_columns} columns")
        print(f"mlops PostgresSource     {ours:.2f} s  ({args.rows / ours / 1e6:.2f} M rows/s)")
        print(f"pandas.read_sql          {theirs:.2f} s  ({args.rows / theirs / 1e6:.2f} M rows/s)")
        print(f"speed-up                 {theirs / ours:.1f}x  (target >= 5x)")


if __name__ == "__main__":
    main()
