"""The baseline profile retrain saves and drift-check compares against (`baseline/profile.json`).

Its size depends on the number of features, never on rows: per numeric feature a fine
quantile sketch (for KS and Wasserstein) and reference deciles (for PSI), per categorical
feature its category counts, plus the holdout's prediction-score distribution.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

PROFILE_VERSION = 1
SKETCH_POINTS = 1001
DECILES = np.linspace(0.1, 0.9, 9)


def numeric_summary(values: np.ndarray) -> dict[str, Any]:
    values = np.asarray(values, dtype="float64")
    count = int(values.size)
    nan = np.isnan(values)
    inf = np.isinf(values)
    finite = values[~nan & ~inf]
    summary: dict[str, Any] = {
        "kind": "numeric",
        "count": count,
        "missing_share": float(nan.sum() / count) if count else 0.0,
        "infinite_share": float(inf.sum() / count) if count else 0.0,
    }
    if finite.size == 0:
        summary.update(min=None, max=None, mean=None, std=None, deciles=[], sketch=[], distinct=0)
        return summary
    if finite.size <= SKETCH_POINTS:
        # Small enough to keep whole: the sketch is the sorted values and its CDF is exact.
        sketch, sketch_kind = np.sort(finite), "values"
    else:
        # Quantiles that are actual values (inverted CDF), so the sketch's CDF matches the data's at each point.
        sketch = np.quantile(finite, np.linspace(0.0, 1.0, SKETCH_POINTS), method="inverted_cdf")
        sketch_kind = "quantiles"
    summary.update(
        min=float(finite.min()),
        max=float(finite.max()),
        mean=float(finite.mean()),
        std=float(finite.std()),
        distinct=int(np.unique(finite).size),
        deciles=[float(v) for v in np.quantile(finite, DECILES, method="inverted_cdf")],
        sketch=[float(v) for v in sketch],
        sketch_kind=sketch_kind,
    )
    return summary


def categorical_summary(values: pd.Series) -> dict[str, Any]:
    count = len(values)
    present = values.dropna().astype(str)
    frequencies = present.value_counts()
    return {
        "kind": "categorical",
        "count": count,
        "missing_share": float((count - len(present)) / count) if count else 0.0,
        "frequencies": {str(k): int(v) for k, v in frequencies.sort_index().items()},
    }


def build_profile(
    frame: pd.DataFrame,
    features: list[dict[str, Any]],
    scores: np.ndarray,
    classes: list[Any],
) -> dict[str, Any]:
    """`frame` holds the training rows; `scores` are the holdout's P(classes[1]) for a binary
    model or the top-class probability for a multiclass one."""
    profiled: dict[str, Any] = {}
    for feature in features:
        column = frame[feature["name"]]
        if feature["kind"] == "categorical":
            profiled[feature["name"]] = categorical_summary(column)
        else:
            numeric = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            profiled[feature["name"]] = numeric_summary(numeric)
    return {
        "version": PROFILE_VERSION,
        "rows": len(frame),
        "classes": classes,
        "features": profiled,
        "prediction_scores": numeric_summary(np.asarray(scores, dtype="float64")),
    }


def prediction_scores(proba: np.ndarray) -> np.ndarray:
    return proba[:, 1] if proba.shape[1] == 2 else proba.max(axis=1)
