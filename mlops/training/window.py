"""The training window read once, batch by batch: in memory while it fits the budget, spilled
to a local Parquet file when it does not.

While the batches stream by, a `Scan` learns the encoding and the fingerprint folds them in, so
neither needs a second pass over the source. After the split, the training rows are served in
encoded pieces (`TrainingRows.pieces`) to whichever trainer runs: one in-memory DMatrix, XGBoost's
external memory (`training.external`) or a Dask cluster (`training.distributed`). What stays in
memory on the spilled path: one label code and (for a time split) one timestamp per row, the
holdout (test_fraction of the rows, as the gate needs it), and a uniform sample of the training
rows for the baseline profile.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlops.config import ModelConfig
from mlops.errors import DataError
from mlops.training.dataset import Dataset, Encoding, Scan, Split, encode, split_positions
from mlops.training.fingerprint import Fingerprint

# The baseline profile of a spilled window is built from this many training rows, drawn
# uniformly with the model's seed; the profile records the sample size as its `references`.
PROFILE_SAMPLE_ROWS = 200_000
EXAMPLE_ROWS = 5


@dataclass
class Spill:
    """Labelled rows in a local Parquet file, one row group per source batch."""

    path: Path
    row_groups: list[int]  # rows per group

    def groups(self) -> Iterator[tuple[int, pa.Table]]:
        """(first row position, rows) per row group, in the order they were written."""
        reader = pq.ParquetFile(self.path)
        offset = 0
        for i, rows in enumerate(self.row_groups):
            yield offset, reader.read_row_group(i)
            offset += rows


@dataclass(frozen=True)
class TrainingWindow:
    encoding: Encoding
    labels: np.ndarray
    timestamps: pd.Series | None
    dropped_missing_label: int
    rows_total: int  # before rows without a label were dropped
    fingerprint: str
    table: pa.Table | None  # the labelled rows, when they fit the budget
    spill: Spill | None  # ... else where they were spilled

    @property
    def in_memory(self) -> bool:
        return self.table is not None

    @property
    def dataset(self) -> Dataset:
        """The in-memory window as a Dataset (an empty table when spilled)."""
        table = self.table if self.table is not None else pa.table({})
        return Dataset(table, self.encoding, self.labels, self.dropped_missing_label, self.timestamps)


def read_window(batches: Iterable[pa.RecordBatch], model: ModelConfig, where: str, budget_bytes: float,
                spill_dir: Path, no_rows: str) -> TrainingWindow:
    """Scan and fingerprint the window's batches, holding them while they fit `budget_bytes`
    (their Arrow size) and spilling all to `spill_dir` once they do not. `no_rows` is the error
    for a window without rows."""
    folded = Fingerprint()
    scan: Scan | None = None
    held: list[pa.RecordBatch] = []
    size = 0
    writer: pq.ParquetWriter | None = None
    spill: Spill | None = None
    try:
        for batch in batches:
            folded.add(batch)
            if scan is None:
                scan = Scan(batch.schema, model, where)
            labelled = scan.add(batch)
            if labelled.num_rows == 0:
                continue
            held.append(labelled)
            size += labelled.nbytes
            if size <= budget_bytes:
                continue
            if spill is None or writer is None:
                spill_dir.mkdir(parents=True, exist_ok=True)
                spill = Spill(spill_dir / "window.parquet", [])
                writer = pq.ParquetWriter(spill.path, labelled.schema, compression="lz4")
            for piece in held:
                writer.write_batch(piece, row_group_size=piece.num_rows)
                spill.row_groups.append(piece.num_rows)
            held = []
    finally:
        if writer is not None:
            writer.close()
    if scan is None:
        raise DataError(no_rows)
    encoding, labels, timestamps = scan.finish()
    table = None
    if spill is None:
        table = pa.Table.from_batches(held) if held else None
    return TrainingWindow(encoding, labels, timestamps, scan.dropped, scan.rows + scan.dropped, folded.hexdigest(), table,
                  spill)


@dataclass(frozen=True)
class TrainingRows:
    """The training part of the split, as the trainers read it."""

    window: TrainingWindow
    positions: np.ndarray  # ascending positions of the training rows among the labelled rows
    frame: pd.DataFrame | None  # all of them encoded (in-memory window), else None

    def pieces(self) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        """(encoded rows, label codes), a row group at a time from a spilled window."""
        if self.frame is not None:
            yield self.frame, self.window.labels[self.positions]
            return
        for offset, rows in self.window.spill.groups() if self.window.spill is not None else ():
            local = _within(self.positions, offset, rows.num_rows)
            if local.size:
                yield encode(rows, self.window.encoding, [local])[0], self.window.labels[local + offset]


def split_window(window: TrainingWindow, model: ModelConfig) -> tuple[Split, TrainingRows, pd.DataFrame]:
    """The split, the training rows, and a few raw training rows (the logged input example).
    A spilled window's `Split.train` is a uniform sample of the training rows (for the profile);
    `Split.y_train` always holds every training label."""
    train_pos, test_pos, method, boundary = split_positions(window.labels, window.timestamps, model)
    y_train, y_test = window.labels[train_pos], window.labels[test_pos]
    names = window.encoding.feature_names
    if window.table is not None:
        train, test = encode(window.table, window.encoding, [train_pos, test_pos])
        example = raw_rows(window.table, train_pos[:EXAMPLE_ROWS], names)
        return Split(train, test, y_train, y_test, method, boundary), TrainingRows(window, train_pos, train), example
    rng = np.random.default_rng(model.training.seed)
    sample_size = min(PROFILE_SAMPLE_ROWS, train_pos.size)
    sample = np.sort(rng.choice(train_pos, size=sample_size, replace=False))
    tests, samples = [], []
    example = pd.DataFrame()
    for offset, rows in window.spill.groups() if window.spill is not None else ():
        local_test, local_sample = _within(test_pos, offset, rows.num_rows), _within(sample, offset, rows.num_rows)
        test_part, sample_part = encode(rows, window.encoding, [local_test, local_sample])
        tests.append(test_part)
        samples.append(sample_part)
        if example.empty:
            local_train = _within(train_pos, offset, rows.num_rows)
            if local_train.size:
                example = raw_rows(rows, local_train[:EXAMPLE_ROWS], names)
    parts = Split(_concat(samples), _concat(tests), y_train, y_test, method, boundary)
    return parts, TrainingRows(window, train_pos, None), example


def raw_rows(rows: pa.Table, positions: np.ndarray, names: list[str]) -> pd.DataFrame:
    """A few rows as pandas reads the whole column: an integer column with a missing value
    anywhere is float, a bool one object (so the logged signature accepts what scoring sees)."""
    picked = rows.select(names).take(pa.array(positions)).to_pandas()
    for name in names:
        column = rows.column(name)
        if column.null_count:
            if pa.types.is_integer(column.type):
                picked[name] = picked[name].astype("float64")
            elif pa.types.is_boolean(column.type):
                picked[name] = picked[name].astype(object)
    return picked


def temporary_spill_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="mlops-window-")


def _within(positions: np.ndarray, offset: int, rows: int) -> np.ndarray:
    lo, hi = np.searchsorted(positions, [offset, offset + rows])
    local: np.ndarray = positions[lo:hi] - offset
    return local


def _concat(frames: list[pd.DataFrame]) -> Any:
    frames = [f for f in frames if len(f)] or frames[:1]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
