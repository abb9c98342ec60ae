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

Missing values (NaN) are counted and reported, never fed to a test. Infinities sort beyond every
finite value, so they count in the outer bins and in KS.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlops.drift.stats import FeatureDrift, degenerate, finite, ks_pvalue, locate, psi

REPORT_BINS = 20


def numeric_drift(name: str, profile: dict[str, Any], values: np.ndarray) -> FeatureDrift:
    values = np.asarray(values, dtype="float64")
    rows = int(values.size)
    nan = np.isnan(values)
    present = values[~nan] if nan.any() else values
    missing = float(nan.sum() / rows) if rows else 0.0
    support = np.asarray(profile.get("support") or [], dtype="float64")
    if present.size == 0 or support.size == 0:
        return degenerate(name, "numeric", rows, missing, bool(support.size), present.size)
    n = present.size
    g_below = np.asarray(profile["cdf_below"], dtype="float64")
    g_at = np.asarray(profile["cdf_at"], dtype="float64")
    n_ref = int(profile.get("references") or profile["count"])

    # The current ECDF just below and at each support point, from one sorted lookup.
    idx = locate(support, present)
    equal = support[np.minimum(idx, support.size - 1)] == present
    at = np.bincount(idx[equal], minlength=support.size)
    between = np.bincount(idx[~equal], minlength=support.size + 1)  # between[i]: in (support[i-1], support[i])
    f_below = (np.cumsum(between[:-1]) + np.concatenate([[0], np.cumsum(at)[:-1]])) / n
    f_at = f_below + at / n

    statistic = float(max(np.abs(f_at - g_at).max(), np.abs(f_below - g_below).max()))
    p_value = ks_pvalue(statistic, n_ref, n)

    # PSI bins: each edge is a support point or lies just below one, so both CDFs are known there.
    edges = np.asarray(profile.get("bin_edges") or [], dtype="float64")
    position = np.minimum(np.searchsorted(support, edges, side="left"), support.size - 1)
    on_point = support[position] == edges
    ref_share = np.diff(np.concatenate([[0.0], np.where(on_point, g_at[position], g_below[position]), [1.0]]))
    cur_share = np.diff(np.concatenate([[0.0], np.where(on_point, f_at[position], f_below[position]), [1.0]]))
    feature_psi = psi(ref_share * n_ref, cur_share * n)

    outside = float((between[0] + between[-1]) / n)
    # Wasserstein-1: area between the CDFs inside the support, plus the finite current mass beyond it.
    with np.errstate(over="ignore", invalid="ignore"):  # values near the float limits: capped by finite()
        effect, note = _wasserstein(profile, support, present, idx, equal, between, f_at, g_at, outside)
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


def _wasserstein(profile: dict[str, Any], support: np.ndarray, present: np.ndarray, idx: np.ndarray, equal: np.ndarray,
                 between: np.ndarray, f_at: np.ndarray, g_at: np.ndarray, outside: float) -> tuple[float, str]:
    """Normalised Wasserstein-1 and a note when the window holds infinities."""
    n = present.size
    inner = float(np.sum(np.abs(f_at[:-1] - g_at[:-1]) * np.diff(support)))
    tails, note = 0.0, ""
    if outside:
        sums = np.bincount(idx[~equal], weights=present[~equal], minlength=support.size + 1)
        if not np.isfinite(sums[0]) or not np.isfinite(sums[-1]):
            values = present[np.isfinite(present)]
            tails = float(np.sum(support[0] - values[values < support[0]]) + np.sum(values[values > support[-1]] - support[-1]))
            note = "infinite values in the window"
        else:
            tails = float(between[0] * support[0] - sums[0] + sums[-1] - between[-1] * support[-1])
    spread = float(support[-1] - support[0])
    scale = next((v for v in (float(profile.get("std") or 0.0), spread) if 1e-12 < v < np.inf), 1.0)
    return finite((inner + tails / n) / scale), note
