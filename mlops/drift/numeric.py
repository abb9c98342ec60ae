"""Numeric drift: KS, PSI and normalised Wasserstein of a current sample against the profile's
support points and their exact reference CDF (see `profile.py`), never raw training rows.

- KS: the current ECDF is evaluated just below and at every support point from one sorted
  lookup. For a discrete column the support holds every reference value, so the statistic is
  exactly scipy's; for a continuous one it is at most one sketch step (1/1000) below it. Ties in
  the reference are counted exactly in the profile, so heavily tied columns keep their
  calibration at a million rows.
- PSI on the profile's right-closed bins, outer bins open-ended.
- Wasserstein-1 as the area between the two CDFs, divided by the reference standard deviation
  (or its range, then 1, for a constant reference): the effect size the decision floors, in
  "reference standard deviations", so it means the same at every sample size.

The window arrives as `NumericCounts`, folded batch by batch (`mlops.drift.window`): the tests
need only the counts at and between support points and two tail sums, never the rows.

Missing values (NaN) are counted and reported, never fed to a test. Infinities sort beyond every
finite value, so they count in the outer bins and in KS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops.drift.stats import FeatureDrift, Lookup, degenerate, finite, ks_pvalue, locate, psi

REPORT_BINS = 20


@dataclass
class NumericCounts:
    """One numeric column's mergeable state against the profile's support points: rows, missing
    values, counts at and between the points, and the sums the Wasserstein tails need. Counts add
    exactly; the tail sums add in float, so a window folded in several batches may differ from
    one batch in the last bits of a tail (only values beyond the reference range have one)."""

    rows: int
    missing: int
    at: np.ndarray  # at[i]: values equal to support[i]
    between: np.ndarray  # between[i]: values in (support[i-1], support[i]); the ends open-ended
    low_sum: float = 0.0  # sum of the values below support[0] (infinities included)
    high_sum: float = 0.0  # ... and above support[-1]
    low_finite: float = 0.0  # sum of support[0] - v over the finite values below support[0]
    high_finite: float = 0.0  # sum of v - support[-1] over the finite values above support[-1]

    @classmethod
    def of(cls, support: np.ndarray, values: np.ndarray, lookup: Lookup | None = None) -> NumericCounts:
        """`lookup`: the support's `Lookup`, built once for the window's batches."""
        values = np.asarray(values, dtype="float64")
        nan = np.isnan(values)
        present = values[~nan] if nan.any() else values
        counts = cls(int(values.size), int(nan.sum()), np.zeros(support.size, dtype=np.int64),
                     np.zeros(support.size + 1, dtype=np.int64))
        if present.size == 0 or support.size == 0:
            return counts
        idx = lookup(present) if lookup is not None else locate(support, present)
        # One tally of 2 * position + (not on the point): at[i] at 2i, between[i] at 2i + 1.
        off = support[np.minimum(idx, support.size - 1)] != present
        tallies = np.bincount(2 * idx + off, minlength=2 * support.size + 2)
        counts.at = tallies[0:2 * support.size:2].astype(np.int64)
        counts.between = tallies[1::2].astype(np.int64)
        if counts.between[0] or counts.between[-1]:
            below, above = present[present < support[0]], present[present > support[-1]]
            with np.errstate(over="ignore", invalid="ignore"):  # values near the float limits: see _wasserstein
                counts.low_sum, counts.high_sum = float(below.sum()), float(above.sum())
                counts.low_finite = float(np.sum(support[0] - below[np.isfinite(below)]))
                counts.high_finite = float(np.sum(above[np.isfinite(above)] - support[-1]))
        return counts

    @classmethod
    def of_sorted(cls, support: np.ndarray, values: np.ndarray) -> NumericCounts:
        """`of` for values already sorted without NaN (a profile's finite reference values): the
        same counts from two binary searches per support point instead of a lookup per value."""
        counts = cls(int(values.size), 0, np.zeros(support.size, dtype=np.int64),
                     np.zeros(support.size + 1, dtype=np.int64))
        if values.size == 0 or support.size == 0:
            return counts
        lo = np.searchsorted(values, support, side="left")
        hi = np.searchsorted(values, support, side="right")
        counts.at = (hi - lo).astype(np.int64)
        counts.between = (np.concatenate([lo, [values.size]]) - np.concatenate([[0], hi])).astype(np.int64)
        below, above = values[:lo[0]], values[hi[-1]:]
        if below.size or above.size:
            with np.errstate(over="ignore", invalid="ignore"):
                counts.low_sum, counts.high_sum = float(below.sum()), float(above.sum())
                counts.low_finite = float(np.sum(support[0] - below[np.isfinite(below)]))
                counts.high_finite = float(np.sum(above[np.isfinite(above)] - support[-1]))
        return counts

    def merge(self, other: NumericCounts) -> NumericCounts:
        with np.errstate(over="ignore", invalid="ignore"):
            return NumericCounts(self.rows + other.rows, self.missing + other.missing, self.at + other.at,
                                 self.between + other.between, self.low_sum + other.low_sum,
                                 self.high_sum + other.high_sum, self.low_finite + other.low_finite,
                                 self.high_finite + other.high_finite)


def ecdf(counts: NumericCounts, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ECDF of `n` counted values just below and at each support point; the profile's
    reference CDF and the window's current one are both this."""
    at, between = counts.at, counts.between
    below = np.cumsum(between[:-1]) + np.concatenate([[0], np.cumsum(at)[:-1]])
    return below / n, (below + at) / n  # counts first, so each share is one rounding from exact


def as_numbers(column: Any) -> np.ndarray:
    """A column as float64, anything that is not a number as NaN."""
    numbers: np.ndarray = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return numbers


def support_of(profile: dict[str, Any]) -> np.ndarray:
    return np.asarray(profile.get("support") or [], dtype="float64")


def numeric_drift(name: str, profile: dict[str, Any], counts: NumericCounts) -> FeatureDrift:
    rows = counts.rows
    n = rows - counts.missing
    missing = float(counts.missing / rows) if rows else 0.0
    support = support_of(profile)
    if n == 0 or support.size == 0:
        return degenerate(name, "numeric", rows, missing, bool(support.size), n)
    g_below = np.asarray(profile["cdf_below"], dtype="float64")
    g_at = np.asarray(profile["cdf_at"], dtype="float64")
    n_ref = int(profile.get("references") or profile["count"])

    f_below, f_at = ecdf(counts, n)  # the current ECDF just below and at each support point

    statistic = float(max(np.abs(f_at - g_at).max(), np.abs(f_below - g_below).max()))
    p_value = ks_pvalue(statistic, n_ref, n)

    # PSI bins: each edge is a support point or lies just below one, so both CDFs are known there.
    edges = np.asarray(profile.get("bin_edges") or [], dtype="float64")
    position = np.minimum(np.searchsorted(support, edges, side="left"), support.size - 1)
    on_point = support[position] == edges
    ref_share = np.diff(np.concatenate([[0.0], np.where(on_point, g_at[position], g_below[position]), [1.0]]))
    cur_share = np.diff(np.concatenate([[0.0], np.where(on_point, f_at[position], f_below[position]), [1.0]]))
    feature_psi = psi(ref_share * n_ref, cur_share * n)

    outside = float((counts.between[0] + counts.between[-1]) / n)
    # Wasserstein-1: area between the CDFs inside the support, plus the finite current mass beyond it.
    with np.errstate(over="ignore", invalid="ignore"):  # values near the float limits: capped by finite()
        effect, note = _wasserstein(profile, support, counts, n, f_at, g_at, outside)
    return FeatureDrift(
        name=name, kind="numeric", rows=rows, missing_share=missing, psi=finite(feature_psi), p_value=p_value,
        statistic=float(min(1.0, max(0.0, statistic))), test="ks", effect=effect, effect_name="wasserstein",
        wasserstein=effect, out_of_range_share=outside, note=note,
        histogram=_histogram(profile, support, g_at, f_at, edges, ref_share, cur_share),
    )


def _histogram(profile: dict[str, Any], support: np.ndarray, g_at: np.ndarray, f_at: np.ndarray, edges: np.ndarray,
               ref_share: np.ndarray, cur_share: np.ndarray) -> dict[str, Any]:
    """Bars for the report. A discrete column: one bar per reference value (the PSI bins).
    Otherwise equal-width bins between the reference's 1st and 99th percentiles plus two open
    outer bins, both CDFs interpolated between support points, so the bars show the shape."""
    if profile.get("sketch_kind") == "values" and int(profile.get("distinct") or 0) <= REPORT_BINS + 2:
        labels = [f"< {_number(support[0])}", *(_number(v) for v in support), f"> {_number(support[-1])}"]
        return {"labels": labels, "reference": ref_share.tolist(), "current": cur_share.tolist(), "discrete": True,
                "edges": edges.tolist()}
    lo, hi = (float(np.interp(q, g_at, support)) for q in (0.01, 0.99))
    if not hi > lo:
        lo, hi = float(support[0]), float(support[-1])
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        return {"edges": edges.tolist(), "reference": ref_share.tolist(), "current": cur_share.tolist()}
    grid = np.linspace(lo, hi, REPORT_BINS + 1)
    ref = np.diff(np.concatenate([[0.0], np.interp(grid, support, g_at, left=0.0, right=1.0), [1.0]]))
    cur = np.diff(np.concatenate([[0.0], np.interp(grid, support, f_at, left=0.0, right=1.0), [1.0]]))
    return {"edges": grid.tolist(), "reference": np.clip(ref, 0, 1).tolist(), "current": np.clip(cur, 0, 1).tolist()}


def _number(value: float) -> str:
    return f"{value:.4g}"


def _wasserstein(profile: dict[str, Any], support: np.ndarray, counts: NumericCounts, n: int, f_at: np.ndarray,
                 g_at: np.ndarray, outside: float) -> tuple[float, str]:
    """Normalised Wasserstein-1 and a note when the window holds infinities."""
    inner = float(np.sum(np.abs(f_at[:-1] - g_at[:-1]) * np.diff(support)))
    tails, note = 0.0, ""
    if outside:
        between = counts.between
        if not np.isfinite(counts.low_sum) or not np.isfinite(counts.high_sum):
            tails = float(counts.low_finite + counts.high_finite)
            note = "infinite values in the window"
        else:
            tails = float(between[0] * support[0] - counts.low_sum + counts.high_sum - between[-1] * support[-1])
    spread = float(support[-1] - support[0])
    scale = next((v for v in (float(profile.get("std") or 0.0), spread) if 1e-12 < v < np.inf), 1.0)
    return finite((inner + tails / n) / scale), note
