"""The baseline profile retrain saves and drift-check compares against (`baseline/profile.json`).

Its size depends on the number of features, never on rows. Per numeric feature:

- `support` with the exact reference CDF just below (`cdf_below`) and at (`cdf_at`) each point.
  A column with few distinct values (<= DISCRETE_MAX) keeps every distinct value, so its KS test
  and bins are exact; otherwise the support is a fine quantile sketch (`sketch`, 1001 points),
  with the CDF at tied sketch points computed from the data, not inferred from sketch positions.
- `bin_edges` for PSI and the report: one bin per distinct value for a discrete column; else the
  reference deciles, with every value holding >= ATOM_MASS of the reference in a bin of its own
  (a zero-inflated column keeps its zeros apart instead of collapsing the deciles).
- min/max/mean/std computed so that they stay finite for any finite input.

Per categorical feature the counts of its canonical keys (`mlops.categories`). Each feature also
records its dtype class, and the profile the holdout's prediction-score distribution.

Version 2 changed the numeric layout; drift-check refuses versions it does not know.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlops.categories import category_keys, dtype_class

PROFILE_VERSION = 2
SUPPORTED_VERSIONS = frozenset({2})
SKETCH_POINTS = 1001
DISCRETE_MAX = 100
ATOM_MASS = 0.05
DECILES = np.linspace(0.1, 0.9, 9)


def numeric_summary(values: np.ndarray) -> dict[str, Any]:
    values = np.asarray(values, dtype="float64")
    count = int(values.size)
    nan = np.isnan(values)
    inf = np.isinf(values)
    finite = np.sort(values[~nan & ~inf])
    summary: dict[str, Any] = {
        "kind": "numeric",
        "count": count,
        "missing_share": float(nan.sum() / count) if count else 0.0,
        "infinite_share": float(inf.sum() / count) if count else 0.0,
    }
    if finite.size == 0:
        summary.update(min=None, max=None, mean=None, std=None, deciles=[], sketch=[], support=[], cdf_below=[],
                       cdf_at=[], bin_edges=[], distinct=0, references=0)
        return summary
    n = finite.size
    distinct, counts = np.unique(finite, return_counts=True)
    deciles = np.quantile(finite, DECILES, method="inverted_cdf")
    if distinct.size <= DISCRETE_MAX or n <= SKETCH_POINTS:
        # Every distinct value with its exact CDF: exact KS and one bin per value.
        support, sketch, sketch_kind = distinct, finite if n <= SKETCH_POINTS else distinct, "values"
        cdf_at = np.cumsum(counts) / n
        cdf_below = cdf_at - counts / n
    else:
        # Quantiles that are actual values (inverted CDF); the CDF at each is counted exactly, ties included.
        sketch = np.quantile(finite, np.linspace(0.0, 1.0, SKETCH_POINTS), method="inverted_cdf")
        sketch_kind = "quantiles"
        support = np.unique(sketch)
        cdf_below = np.searchsorted(finite, support, side="left") / n
        cdf_at = np.searchsorted(finite, support, side="right") / n
    mean, std = finite_moments(finite)
    summary.update(
        min=float(finite[0]),
        max=float(finite[-1]),
        mean=mean,
        std=std,
        distinct=int(distinct.size),
        references=int(n),
        deciles=[float(v) for v in deciles],
        sketch=[float(v) for v in sketch],
        sketch_kind=sketch_kind,
        support=[float(v) for v in support],
        cdf_below=[float(v) for v in cdf_below],
        cdf_at=[float(v) for v in cdf_at],
        bin_edges=[float(v) for v in bin_edges(finite, distinct if distinct.size <= DISCRETE_MAX else None, support,
                                                cdf_at - cdf_below)],
    )
    return summary


def bin_edges(finite: np.ndarray, discrete: np.ndarray | None, support: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Right-closed bins (-inf, e0], (e0, e1], ..., (ek, inf). A discrete column: one per value,
    plus open bins below and above them (so a moved constant shows). Otherwise every value with
    mass >= ATOM_MASS in a bin of its own, and the deciles of the remaining values, snapped to
    support points so that both CDFs are known at every edge."""
    if discrete is not None:
        return np.concatenate([[np.nextafter(discrete[0], -np.inf)], discrete])
    atoms = support[mass >= ATOM_MASS]
    rest = finite[~np.isin(finite, atoms)] if atoms.size else finite
    deciles = np.quantile(rest, DECILES, method="inverted_cdf") if rest.size else np.empty(0)
    snapped = support[np.minimum(np.searchsorted(support, deciles), support.size - 1)]
    return np.unique(np.concatenate([snapped, atoms, np.nextafter(atoms, -np.inf)]))


def finite_moments(finite: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation that cannot overflow: computed on values scaled into [-1, 1]."""
    scale = float(max(abs(finite[0]), abs(finite[-1])))
    if scale == 0.0:
        return 0.0, 0.0
    scaled = finite / scale
    return float(scale * scaled.mean()), float(scale * scaled.std())


def categorical_summary(values: pd.Series) -> dict[str, Any]:
    count = len(values)
    keys = category_keys(values)
    present = keys.dropna()
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
    dtype_classes: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`frame` holds the training rows (raw, or encoded with `dtype_classes` giving the kind of
    the raw values); `scores` are the holdout's P(classes[1]) for a binary model or the top-class
    probability for a multiclass one."""
    profiled: dict[str, Any] = {}
    for feature in features:
        column = frame[feature["name"]]
        if feature["kind"] == "categorical":
            profiled[feature["name"]] = categorical_summary(column)
        else:
            numeric = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            profiled[feature["name"]] = numeric_summary(numeric)
        known = (dtype_classes or {}).get(feature["name"])
        profiled[feature["name"]]["dtype_class"] = known or dtype_class(column)
    return {
        "version": PROFILE_VERSION,
        "rows": len(frame),
        "classes": classes,
        "features": profiled,
        "prediction_scores": numeric_summary(np.asarray(scores, dtype="float64")),
    }


def prediction_scores(proba: np.ndarray) -> np.ndarray:
    return proba[:, 1] if proba.shape[1] == 2 else proba.max(axis=1)
