from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlops.categories import category_keys, key_counts

RNG = np.random.default_rng(7)

CASES: dict[str, Any] = {
    "text with missing": pd.Series(["a", None, "b", "a", np.nan, "c"] * 50, dtype=object),
    "int": pd.Series(RNG.integers(0, 9, 500)),
    "int with a missing value (float)": pd.Series([1.0, 2.0, np.nan, 1.0, 3.0] * 40),
    "float": pd.Series(RNG.choice([0.5, 2.25, -0.0, 0.0, 1e20, np.inf], 400)),
    "bool": pd.Series([True, False, True] * 30),
    "mixed objects that key alike": pd.Series([1, "1", 1.0, True, "x", None, Decimal("2"), 2, "2"] * 20, dtype=object),
    "datetimes": pd.Series(pd.to_datetime(["2026-01-01T00:00:00Z", "2026-01-02T12:00:00Z", None] * 10, utc=True)),
    "datetime objects": pd.Series([datetime(2026, 1, 1, tzinfo=UTC), pd.Timestamp("2026-01-01", tz="UTC"), None] * 5,
                                  dtype=object),
    "categorical over raw values": pd.Series(pd.Categorical([3, 1, None, 3, 1.0], categories=[1, 1.0, 3][::2])),
    "categorical with unused levels": pd.Series(pd.Categorical(["b", "b", None], categories=["a", "b", "z"])),
    "arrow dictionary column": pa.chunked_array([pa.array(["x", "y", None, "x"]).dictionary_encode()]).to_pandas(),
    "arrow-backed text": pd.Series(pa.array(["x", None, "y", "x"]), dtype=pd.ArrowDtype(pa.string())),
    "arrow-backed int with nulls": pd.Series(pa.array([1, None, 2, 1]), dtype=pd.ArrowDtype(pa.int64())),
    "empty": pd.Series([], dtype=object),
    "all missing": pd.Series([None, np.nan], dtype=object),
    "list": ["a", "b", None, "a"],
    "unhashable": pd.Series([np.array([1, 2]), np.array([1, 2]), None], dtype=object),
}


@pytest.mark.parametrize("name", list(CASES))
def test_key_counts_equal_keying_every_row(name: str) -> None:
    values = CASES[name]
    keys = category_keys(values)
    expected = keys.dropna().value_counts()
    rows, missing, counts = key_counts(values)
    assert rows == len(keys)
    assert missing == int(keys.isna().sum())
    assert counts == {str(k): int(v) for k, v in expected.items()}
