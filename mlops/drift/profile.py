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

The counts behind every CDF and share are the mergeable summaries a drift-check window folds
into (`NumericCounts`, `CategoryCounts`), so reference and window are counted alike. A training
window too big for memory is profiled in two steps: support points, bins, mean and std from a
uniform sample of its training rows, then the counts folded over all of them (`fold_reference`).

Version 2 changed the numeric layout; drift-check refuses versions it does not know.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops.categories import dtype_class
from mlops.drift.categorical import CategoryCounts
from mlops.drift.numeric import NumericCounts, as_numbers, ecdf, support_of
from mlops.drift.stats import Lookup

PROFILE_VERSION = 2
SUPPORTED_VERSIONS = frozenset({2})
SKETCH_POINTS = 1001
DISCRETE_MAX = 100
ATOM_MASS = 0.05
DECILES = np.linspace(0.1, 0.9, 9)


def numeric_summary(values: np.ndarray) -> dict[str, Any]:
    """Support points, bins and moments from `values`, and the CDF at each support point counted
    into the same mergeable `NumericCounts` a drift-check window folds into. The values are
    sorted once; distinct values, quantiles and counts are then read off the sorted array."""
    values = np.asarray(values, dtype="float64")
    nan = np.isnan(values)
    inf = np.isinf(values)
    finite = np.sort(values[~nan & ~inf])
    summary: dict[str, Any] = {"kind": "numeric"}
    if finite.size == 0:
        summary.update(min=None, max=None, mean=None, std=None, deciles=[], sketch=[], support=[], bin_edges=[],
                       distinct=0)
        return with_reference(summary, reference_counts(summary, values))
    n = finite.size
    starts = np.flatnonzero(np.concatenate([[True], finite[1:] != finite[:-1]]))
    distinct, counts = finite[starts], np.diff(np.append(starts, n))
    deciles = sorted_quantiles(finite, DECILES)
    if distinct.size <= DISCRETE_MAX or n <= SKETCH_POINTS:
        # Every distinct value: exact KS and one bin per value.
        support, sketch, sketch_kind = distinct, finite if n <= SKETCH_POINTS else distinct, "values"
        mass = counts / n
    else:
        # Quantiles that are actual values (inverted CDF); the CDF at each is counted exactly, ties included.
        sketch = sorted_quantiles(finite, np.linspace(0.0, 1.0, SKETCH_POINTS))
        sketch_kind = "quantiles"
        support = np.unique(sketch)
        mass = (np.searchsorted(finite, support, side="right") - np.searchsorted(finite, support, side="left")) / n
    mean, std = finite_moments(finite)
    summary.update(
        min=float(finite[0]),
        max=float(finite[-1]),
        mean=mean,
        std=std,
        distinct=int(distinct.size),
        deciles=[float(v) for v in deciles],
        sketch=[float(v) for v in sketch],
        sketch_kind=sketch_kind,
        support=[float(v) for v in support],
        bin_edges=[float(v) for v in bin_edges(finite, distinct if distinct.size <= DISCRETE_MAX else None, support,
                                                mass)],
    )
    reference = ReferenceCounts(NumericCounts.of_sorted(support, finite), int(values.size), int(nan.sum()),
                                int(inf.sum()), float(finite[0]), float(finite[-1]))
    return with_reference(summary, reference)


def sorted_quantiles(ordered: np.ndarray, q: np.ndarray) -> np.ndarray:
    """`np.quantile(ordered, q, method="inverted_cdf")` of values already sorted: numpy's own
    index rule (n*q - 1, rounded up when it has a fraction, clipped at 0), without its partition."""
    index = ordered.size * np.asarray(q, dtype="float64") - 1
    below = np.floor(index)
    position = np.where(index - below > 0, below + 1, below).astype(np.intp)
    picked: np.ndarray = ordered[np.clip(position, 0, ordered.size - 1)]
    return picked


@dataclass
class ReferenceCounts:
    """One numeric column of the training rows against its summary's support points: the
    `NumericCounts` of its finite values (what a drift-check window folds), its rows, NaNs,
    infinities and finite extremes. Mergeable, so the rows can arrive in any number of pieces."""

    finite: NumericCounts
    rows: int
    missing: int
    infinite: int
    low: float = math.inf  # the smallest finite value (inf while there is none)
    high: float = -math.inf

    def merge(self, other: ReferenceCounts) -> ReferenceCounts:
        return ReferenceCounts(self.finite.merge(other.finite), self.rows + other.rows, self.missing + other.missing,
                               self.infinite + other.infinite, min(self.low, other.low), max(self.high, other.high))


def reference_counts(summary: dict[str, Any], values: np.ndarray, lookup: Lookup | None = None) -> ReferenceCounts:
    values = np.asarray(values, dtype="float64")
    nan, inf = np.isnan(values), np.isinf(values)
    kept = values[~(nan | inf)] if nan.any() or inf.any() else values
    low, high = (float(kept.min()), float(kept.max())) if kept.size else (math.inf, -math.inf)
    return ReferenceCounts(NumericCounts.of(support_of(summary), kept, lookup), int(values.size), int(nan.sum()),
                           int(inf.sum()), low, high)


def with_reference(summary: dict[str, Any], counts: ReferenceCounts) -> dict[str, Any]:
    """`summary` with its row shares, extremes and CDF below and at each support point taken from
    `counts` (the mean and standard deviation stay the summary's)."""
    rows, n = counts.rows, counts.finite.rows
    below, at = ecdf(counts.finite, n) if n else (np.empty(0), np.empty(0))
    extremes = {"min": counts.low, "max": counts.high} if n else {}
    return {**summary, **extremes, "count": rows, "missing_share": float(counts.missing / rows) if rows else 0.0,
            "infinite_share": float(counts.infinite / rows) if rows else 0.0, "references": int(n),
            "cdf_below": [float(v) for v in below], "cdf_at": [float(v) for v in at]}


def bin_edges(finite: np.ndarray, discrete: np.ndarray | None, support: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Right-closed bins (-inf, e0], (e0, e1], ..., (ek, inf) of the sorted `finite` values. A discrete column: one per value,
    plus open bins below and above them (so a moved constant shows). Otherwise every value with
    mass >= ATOM_MASS in a bin of its own, and the deciles of the remaining values, snapped to
    support points so that both CDFs are known at every edge."""
    if discrete is not None:
        return np.concatenate([[np.nextafter(discrete[0], -np.inf)], discrete])
    atoms = support[mass >= ATOM_MASS]
    rest = finite[~np.isin(finite, atoms)] if atoms.size else finite
    deciles = sorted_quantiles(rest, DECILES) if rest.size else np.empty(0)
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
    return categorical_of_counts(CategoryCounts.of(values))


def categorical_of_counts(counts: CategoryCounts) -> dict[str, Any]:
    """The profile of one categorical column from its counts per canonical key, a window's state."""
    return {
        "kind": "categorical",
        "count": counts.rows,
        "missing_share": float(counts.missing / counts.rows) if counts.rows else 0.0,
        "frequencies": dict(sorted(counts.counts.items())),
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
            profiled[feature["name"]] = numeric_summary(as_numbers(column))
        known = (dtype_classes or {}).get(feature["name"])
        profiled[feature["name"]]["dtype_class"] = known or dtype_class(column)
    return {
        "version": PROFILE_VERSION,
        "rows": len(frame),
        "classes": classes,
        "features": profiled,
        "prediction_scores": numeric_summary(np.asarray(scores, dtype="float64")),
    }


def fold_reference(profile: dict[str, Any], frames: Iterable[pd.DataFrame]) -> dict[str, Any]:
    """The profile of every training row, from `profile` (built from a sample of them) and the
    rows themselves in encoded pieces: the support points, bins, mean and standard deviation stay
    the sample's; the counts behind each CDF, category share and missing share, and each
    column's min and max, are folded over `frames` with the summaries a drift-check window folds
    into, so no share is a sample's estimate."""
    features: dict[str, Any] = profile["features"]
    lookups = {name: Lookup(support_of(f)) for name, f in features.items() if f["kind"] == "numeric"}
    states: dict[str, Any] = {}
    rows = 0
    for frame in frames:
        rows += len(frame)
        for name, summary in features.items():
            column = frame[name]
            state: Any = (CategoryCounts.of(column) if summary["kind"] == "categorical" else
                          reference_counts(summary, as_numbers(column), lookups[name]))
            states[name] = state if name not in states else states[name].merge(state)
    folded = {name: (categorical_of_counts(states[name]) if summary["kind"] == "categorical" else
                     with_reference(summary, states[name])) | {"dtype_class": summary["dtype_class"]}
              for name, summary in features.items() if name in states}
    return {**profile, "rows": rows, "features": {**features, **folded}, "sketch_rows": profile["rows"]}


def prediction_scores(proba: np.ndarray) -> np.ndarray:
    return proba[:, 1] if proba.shape[1] == 2 else proba.max(axis=1)
