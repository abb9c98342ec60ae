"""An order-independent content hash of a window's rows, folded batch by batch.

Each row hashes to 64 bits (its columns' value hashes mixed in column order, a missing value
hashing to a constant); the window's fingerprint is the sum and the xor of its row hashes. Sum
and xor do not care about row order or how the rows are cut into batches, so the same rows read
in one table, in record batches or from another source in another order give the same value,
and no second whole-table conversion is needed. Values hash by their Arrow type: numbers from
their native numpy values, anything else through its distinct values (dictionary encoding), so
the hash of a value never depends on the other rows of its batch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_MISSING = np.uint64(0x9E3779B97F4A7C15)
_PRIME = np.uint64(0x100000001B3)


class Fingerprint:
    def __init__(self) -> None:
        self.total = np.uint64(0)
        self.mixed = np.uint64(0)
        self.rows = 0

    def add(self, rows: pa.Table | pa.RecordBatch) -> None:
        for batch in rows.to_batches() if isinstance(rows, pa.Table) else [rows]:
            if batch.num_rows == 0:
                continue
            hashed = np.zeros(batch.num_rows, dtype=np.uint64)
            for i, column in enumerate(batch.columns):
                with np.errstate(over="ignore"):
                    hashed = (hashed * _PRIME) ^ (column_hash(column) + np.uint64(i))
            with np.errstate(over="ignore"):
                self.total = np.uint64(self.total + hashed.sum(dtype=np.uint64))
            self.mixed ^= np.bitwise_xor.reduce(hashed)
            self.rows += batch.num_rows

    def hexdigest(self) -> str:
        return f"{int(self.total):016x}{int(self.mixed):016x}"


def fingerprint(table: pa.Table) -> str:
    """Order-independent content hash: the same rows in any order give the same value."""
    folded = Fingerprint()
    folded.add(table)
    return folded.hexdigest()


def column_hash(column: pa.Array) -> np.ndarray:
    """One uint64 per value; missing values hash to a constant."""
    dtype = column.type
    if pa.types.is_dictionary(dtype):
        column = pc.cast(column, dtype.value_type)
        dtype = column.type
    if pa.types.is_boolean(dtype):
        column, dtype = pc.cast(column, pa.uint8()), pa.uint8()
    elif pa.types.is_temporal(dtype) and not pa.types.is_time(dtype) and not pa.types.is_duration(dtype) \
            and not pa.types.is_interval(dtype):
        column = column.view(pa.int64() if dtype.bit_width == 64 else pa.int32())
        dtype = column.type
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype):
        values = pc.fill_null(column, 0).to_numpy(zero_copy_only=False)
        hashed = pd.util.hash_array(values)
    else:
        encoded = pc.dictionary_encode(column)
        distinct = pd.util.hash_array(np.asarray(encoded.dictionary.to_pylist(), dtype=object))
        indices = pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False)
        hashed = distinct[indices] if len(distinct) else np.zeros(len(column), dtype=np.uint64)
    if column.null_count:
        hashed = np.where(pc.is_valid(column).to_numpy(zero_copy_only=False), hashed, _MISSING)
    return np.asarray(hashed, dtype=np.uint64)
