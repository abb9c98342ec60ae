"""Shared pieces of the drift statistics: the per-feature result, PSI, the KS p-value, the
fast sorted lookup and Benjamini-Hochberg. Pure: arrays in, small dataclasses out; no MLflow,
no I/O. The methods themselves live in `numeric.py` and `categorical.py`.

PSI uses open-ended outer bins so that values beyond the reference range land in the first or
last bin instead of vanishing. Empty bins are smoothed by adding half an observation to every
bin of both sides and renormalising (Jeffreys-style), so PSI is finite and an identical
distribution scores ~0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SMOOTHING = 0.5
_LOOKUP_CELLS = 1 << 16
_MAX_STEPS = 4
_EXACT_KS_SIZE = 20_000


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    kind: str
    rows: int
    missing_share: float
    psi: float
    p_value: float  # raw; corrected later across features
    statistic: float  # KS D for numeric, chi-square's Cramér's V for categorical
    test: str
    effect: float  # the scale-free effect size the decision floors: normalised Wasserstein or JS distance
    effect_name: str
    wasserstein: float | None = None
    out_of_range_share: float = 0.0
    unseen_share: float = 0.0
    note: str = ""
    histogram: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "histogram"}


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI of two count vectors over the same bins, smoothed so that no bin is empty. Bins empty
    on both sides carry no information and are left out."""
    ref, cur = np.asarray(reference, dtype="float64"), np.asarray(current, dtype="float64")
    keep = (ref + cur) > 0
    ref, cur = ref[keep] + SMOOTHING, cur[keep] + SMOOTHING
    ref /= ref.sum()
    cur /= cur.sum()
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def ks_pvalue(statistic: float, n_reference: int, n_current: int) -> float:
    """Two-sample KS p-value. Up to an effective size of 20,000 it is scipy's
    `ks_2samp(method="asymp")` value (`kstwo.sf`); beyond, where `kstwo.sf` costs ~40 ms a call,
    the Kolmogorov limit with Stephens' finite-size correction, which agrees to well under 1%."""
    if n_reference == 0 or n_current == 0:
        return 1.0
    en = n_reference * n_current / (n_reference + n_current)
    # scipy imported here, not at the top: scipy.stats alone costs most of a second per job start.
    if en <= _EXACT_KS_SIZE:
        from scipy import stats as sps

        p = sps.kstwo.sf(statistic, max(1, round(en)))
    else:
        from scipy import special

        root = math.sqrt(en)
        p = special.kolmogorov((root + 0.12 + 0.11 / root) * statistic)
    return float(min(1.0, max(0.0, p)))


def locate(support: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`np.searchsorted(support, values, side="left")` for a sorted, distinct `support`, faster
    on large inputs (see `Lookup`)."""
    if values.size < 100_000:
        return np.searchsorted(support, values, side="left")
    return Lookup(support)(values)


class Lookup:
    """`locate` for one support, its grid built once and reused for every batch of a window.

    Values and support points are mapped to cells of a uniform grid by the same monotone
    arithmetic, so the count of support points in lower cells never overshoots the answer; a few
    vectorised passes finish it. Values in crowded cells use searchsorted."""

    MIN_VALUES = 2_048  # below, searchsorted is as fast

    def __init__(self, support: np.ndarray) -> None:
        self.support = support
        lo, hi = (float(support[0]), float(support[-1])) if support.size else (0.0, 0.0)
        self.fast = support.size >= 64 and math.isfinite(hi - lo) and hi > lo
        if not self.fast:
            return
        self.lo, self.scale = lo, _LOOKUP_CELLS / (hi - lo)
        support_cells = self._cells(support)
        self.table = np.searchsorted(support_cells, np.arange(_LOOKUP_CELLS + 1), side="left")
        self.crowded = np.bincount(support_cells, minlength=_LOOKUP_CELLS + 1) > _MAX_STEPS
        self.any_crowded = bool(self.crowded.any())
        self.padded = np.append(support, np.inf)

    def _cells(self, x: np.ndarray) -> np.ndarray:
        position = (x - self.lo) * self.scale
        np.clip(position, 0, _LOOKUP_CELLS, out=position)
        cell: np.ndarray = position.astype(np.intp)
        return cell

    def __call__(self, values: np.ndarray) -> np.ndarray:
        support = self.support
        if not self.fast or values.size < self.MIN_VALUES:
            return np.searchsorted(support, values, side="left")
        value_cells = self._cells(values)
        idx = self.table[value_cells]
        padded = self.padded
        slow = np.flatnonzero(self.crowded[value_cells]) if self.any_crowded else np.empty(0, dtype=np.intp)
        if slow.size:
            idx[slow] = np.searchsorted(support, values[slow], side="left")
            fast = np.flatnonzero(~self.crowded[value_cells])
            todo = fast[padded[idx[fast]] < values[fast]]
        else:
            todo = np.flatnonzero(padded[idx] < values)
        while todo.size:
            idx[todo] += 1
            todo = todo[padded[idx[todo]] < values[todo]]
        located: np.ndarray = idx
        return located


def benjamini_hochberg(p_values: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values: `scipy.stats.false_discovery_control(method="bh")`'s
    arithmetic, step for step, without importing scipy.stats."""
    ps = np.asarray(p_values, dtype="float64")
    if ps.size <= 1:
        return [float(p) for p in ps]
    order = np.argsort(ps)
    ranked = ps[order] * (ps.size / np.arange(1, ps.size + 1, dtype="float64"))
    np.minimum.accumulate(ranked[::-1], out=ranked[::-1])
    adjusted = np.empty_like(ranked)
    adjusted[order] = ranked
    return [float(p) for p in np.clip(adjusted, 0.0, 1.0)]


def finite(value: float, cap: float = 1e12) -> float:
    """A statistic that JSON can hold: NaN as 0, infinities clipped."""
    if math.isnan(value):
        return 0.0
    return float(min(cap, max(-cap, value)))


def degenerate(name: str, kind: str, rows: int, missing: float, baseline_had_values: bool, present: int) -> FeatureDrift:
    """No values on one side: a defined outcome, not NaN. A feature the baseline had values for
    and the window has none of is drift (p = 0, the largest effect, a large finite PSI)."""
    test, effect_name = ("ks", "wasserstein") if kind == "numeric" else ("chi2", "jensen_shannon")
    if present == 0 and baseline_had_values:
        return FeatureDrift(name, kind, rows, missing, psi=10.0, p_value=0.0, statistic=1.0, test=test, effect=1.0,
                            effect_name=effect_name, wasserstein=1.0 if kind == "numeric" else None,
                            note="no non-missing values in the window")
    note = "no non-missing values in the baseline" if not baseline_had_values else "no values"
    return FeatureDrift(name, kind, rows, missing, psi=0.0, p_value=1.0, statistic=0.0, test=test, effect=0.0,
                        effect_name=effect_name, wasserstein=0.0 if kind == "numeric" else None, note=note)
