"""One canonical text key per category value, shared by dataset preparation, the pyfunc model,
the baseline profile and the drift check.

The key must not depend on the pandas dtype a column happens to arrive in: an integer-coded
category with one missing value arrives as float, a bool column may arrive as 0/1, a CSV may
hold the same codes as text. So 1, 1.0, "1", np.int64(1) and True all map to "1"; 0.0 and
False to "0"; 2.5 to "2.5"; dates and timestamps to ISO text. Missing values (None, NaN, NaT,
pd.NA) stay missing (None). Depends on numpy and pandas only, so the models-from-code file can
import it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

_EXACT_INT = 2.0**53


def category_keys(values: Any) -> pd.Series:
    """Canonical keys of `values` (a Series, array or list) as an object Series of str or None."""
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object if _is_list(values) else None)
    index = series.index
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        series = series.astype(object)
        dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        keys = _numeric_keys(series.astype("float64"))
    elif pd.api.types.is_numeric_dtype(dtype):
        keys = _numeric_keys(pd.to_numeric(series, errors="coerce").astype("float64"))
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        keys = _datetime_keys(series)
    else:
        keys = _object_keys(series.astype(object))
    keys.index = index
    return keys


def key_counts(values: Any) -> tuple[int, int, dict[str, int]]:
    """(rows, missing values, count per canonical key): what `category_keys(values).value_counts()`
    gives, with each distinct value keyed once instead of every row (equal values share a key, so
    counting values first and then keying them loses nothing)."""
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object if _is_list(values) else None)
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        tallies = np.bincount(codes[codes >= 0], minlength=len(series.cat.categories))
        distinct = pd.Series(series.cat.categories)
    else:
        try:
            counted = series.value_counts(dropna=True, sort=False)
        except TypeError:  # unhashable values: key every row
            counted = category_keys(series).value_counts(dropna=True, sort=False)
        tallies, distinct = counted.to_numpy(), pd.Series(counted.index)
    keys = category_keys(distinct).to_numpy(dtype=object)
    named = np.array([k is not None for k in keys], dtype=bool)
    present = tallies[named] if tallies.size else tallies
    summed = pd.Series(present, index=pd.Index(keys[named], dtype=object)).groupby(level=0, sort=False).sum()
    counts = {str(k): int(v) for k, v in zip(summed.index, summed.to_numpy(), strict=True) if v}
    return len(series), len(series) - sum(counts.values()), counts


def _is_list(values: Any) -> bool:
    return isinstance(values, list | tuple) or (isinstance(values, np.ndarray) and values.dtype == object)


def _numeric_keys(numbers: pd.Series) -> pd.Series:
    x = numbers.to_numpy(dtype="float64", na_value=np.nan)
    out = np.full(x.shape, None, dtype=object)
    present = ~np.isnan(x)
    integral = present & np.isfinite(x) & (np.abs(x) < _EXACT_INT) & (x == np.round(x))
    if integral.any():
        out[integral] = x[integral].astype(np.int64).astype(str).astype(object)
    other = present & ~integral
    if other.any():
        out[other] = pd.Series(x[other]).astype(str).to_numpy(dtype=object)
    return pd.Series(out, dtype=object)


def _datetime_keys(series: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(series, utc=True)
    text = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%f%z").astype(object)
    return pd.Series(text.where(stamps.notna(), None).to_numpy(dtype=object), dtype=object)


def _object_keys(series: pd.Series) -> pd.Series:
    """Mixed Python objects: text stays as it is, numbers and bools take their numeric key."""
    missing = series.isna().to_numpy()
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind in ("string", "empty"):
        out = series.to_numpy(dtype=object).copy()
        out[missing] = None
        return pd.Series(out, dtype=object)
    if kind in ("integer", "floating", "mixed-integer-float", "boolean", "decimal"):
        return _numeric_keys(pd.to_numeric(series.where(~missing, np.nan), errors="coerce").astype("float64"))
    if kind in ("datetime", "datetime64", "date"):
        return _datetime_keys(series)
    # Truly mixed: `.str.len()` is defined exactly for the text elements.
    text = series.str.len().notna().to_numpy() if kind != "bytes" else np.zeros(len(series), dtype=bool)
    out = series.astype(str).to_numpy(dtype=object)
    numeric = ~text & ~missing
    if numeric.any():
        as_number = pd.to_numeric(series[numeric], errors="coerce")
        if as_number.notna().all():
            out[numeric] = _numeric_keys(as_number.astype("float64")).to_numpy(dtype=object)
    out[missing] = None
    return pd.Series(out, dtype=object)


def storage_kind(dtype: Any) -> str | None:
    """bool, int, float or datetime when the dtype alone says so; None for object and other
    dtypes, whose values must be looked at."""
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return None


def dtype_class(series: pd.Series) -> str:
    """int, float, bool, string or datetime: the kind of values, not the storage. A float column
    whose values are all whole numbers counts as int (pandas turns int with a NaN into float)."""
    stored = storage_kind(series.dtype)
    if stored == "float":
        x = series.to_numpy(dtype="float64", na_value=np.nan)
        x = x[np.isfinite(x)]
        return "int" if x.size and bool(np.all(x == np.round(x))) else "float"
    if stored is not None:
        return stored
    kind = pd.api.types.infer_dtype(series, skipna=True)
    return {"boolean": "bool", "integer": "int", "floating": "float", "mixed-integer-float": "float", "decimal": "float",
            "datetime": "datetime", "datetime64": "datetime", "date": "datetime"}.get(kind, "string")
