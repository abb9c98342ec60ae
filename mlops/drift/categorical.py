"""Categorical drift over canonical category keys (`mlops.categories`).

- Chi-square homogeneity test after pooling rare categories: every category (each new one on its
  own) whose expected count in the smaller sample is below MIN_EXPECTED joins one pooled cell
  (merged into the smallest kept cell if it is still too small). The choice depends on combined
  counts only, the same for both samples, so sparse categoricals keep the test's calibration.
- Jensen-Shannon distance (base 2, in [0, 1]) between the reference and current shares: the
  effect size the decision floors. Categories the baseline never saw share one "(unseen)" bucket.
- PSI over the same categories, smoothed, reported beside them.

The window arrives as `CategoryCounts` (counts per key), folded batch by batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlops.categories import key_counts
from mlops.drift.stats import FeatureDrift, degenerate, finite, psi

MIN_EXPECTED = 5.0
HISTOGRAM_CATEGORIES = 24
UNSEEN = "(unseen)"


@dataclass
class CategoryCounts:
    """One categorical column's mergeable state: rows, missing values and counts per canonical key."""

    rows: int
    missing: int
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, values: Any) -> CategoryCounts:
        rows, missing, counts = key_counts(values)
        return cls(rows, missing, counts)

    def merge(self, other: CategoryCounts) -> CategoryCounts:
        counts = dict(self.counts)
        for key, count in other.counts.items():
            counts[key] = counts.get(key, 0) + count
        return CategoryCounts(self.rows + other.rows, self.missing + other.missing, counts)


def categorical_drift(name: str, profile: dict[str, Any], window: CategoryCounts) -> FeatureDrift:
    rows = window.rows
    present = rows - window.missing
    missing = float(1 - present / rows) if rows else 0.0
    frequencies: dict[str, int] = profile.get("frequencies") or {}
    if present == 0 or not frequencies:
        return degenerate(name, "categorical", rows, missing, bool(frequencies), present)
    known = sorted(frequencies)
    # New categories in a fixed order (most frequent first, then by key), whatever the batches' order.
    fresh = sorted((k for k in window.counts if k not in frequencies), key=lambda k: (-window.counts[k], k))
    new = np.array([window.counts[k] for k in fresh], dtype="float64")
    unseen = int(new.sum())
    ref_counts = np.array([frequencies[k] for k in known] + [0], dtype="float64")
    cur_counts = np.array([window.counts.get(k, 0) for k in known] + [unseen], dtype="float64")
    # The test keeps every new category apart: one "(unseen)" cell would be chosen by the reference
    # sample itself (empty there by construction) and call a small reference's missed rare levels drift.
    p_value, cramers_v = pooled_chi_square(np.concatenate([ref_counts[:-1], np.zeros(new.size)]),
                                           np.concatenate([cur_counts[:-1], new]))
    effect = jensen_shannon(ref_counts, cur_counts)
    return FeatureDrift(
        name=name, kind="categorical", rows=rows, missing_share=missing, psi=finite(psi(ref_counts, cur_counts)),
        p_value=p_value, statistic=cramers_v, test="chi2", effect=effect, effect_name="jensen_shannon",
        unseen_share=float(unseen / present), histogram=_histogram([*known, UNSEEN], ref_counts, cur_counts),
    )


def pooled_chi_square(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """(p-value, Cramér's V) of the 2 x k homogeneity test with rare categories pooled."""
    total = reference + current
    present = total > 0
    reference, current, total = reference[present], current[present], total[present]
    smaller = min(reference.sum(), current.sum())
    if smaller == 0 or total.size < 2:
        return 1.0, 0.0
    expected = total * smaller / total.sum()
    keep = expected >= MIN_EXPECTED
    columns = [np.stack([reference[keep], current[keep]])]
    if not keep.all():
        pooled = np.array([[reference[~keep].sum()], [current[~keep].sum()]])
        if pooled.sum() * smaller / total.sum() < MIN_EXPECTED and keep.any():
            smallest = int(np.argmin(np.where(keep, total, np.inf)[keep]))
            columns[0][:, smallest] += pooled[:, 0]
        else:
            columns.append(pooled)
    table = np.concatenate(columns, axis=1)
    if table.shape[1] < 2:
        return 1.0, 0.0
    from scipy import stats as sps  # here: scipy.stats costs most of a second to import

    chi2, p_value, _, _ = sps.chi2_contingency(table, correction=False)
    return float(p_value), float(math.sqrt(chi2 / table.sum()))


def jensen_shannon(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2) between two count vectors over the same categories."""
    if reference.sum() == 0 or current.sum() == 0:
        return 0.0
    from scipy.spatial import distance

    return finite(float(distance.jensenshannon(reference / reference.sum(), current / current.sum(), base=2)))


def _histogram(labels: list[str], reference: np.ndarray, current: np.ndarray) -> dict[str, Any]:
    """Shares per category; beyond HISTOGRAM_CATEGORIES the least frequent are pooled in "(other)"."""
    ref_share = reference / max(reference.sum(), 1.0)
    cur_share = current / max(current.sum(), 1.0)
    if len(labels) > HISTOGRAM_CATEGORIES:
        order = np.argsort(-(ref_share + cur_share)[:-1], kind="stable")
        top, rest = order[: HISTOGRAM_CATEGORIES - 2], order[HISTOGRAM_CATEGORIES - 2:]
        labels = [*(labels[i] for i in top), "(other)", UNSEEN]
        ref_share = np.concatenate([ref_share[top], [ref_share[rest].sum(), ref_share[-1]]])
        cur_share = np.concatenate([cur_share[top], [cur_share[rest].sum(), cur_share[-1]]])
    return {"labels": labels, "reference": ref_share.tolist(), "current": cur_share.tolist()}
