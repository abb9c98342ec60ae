"""Numeric drift on analytic cases that defeated the earlier rule: tied and discrete columns."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from mlops.config import DriftConfig
from mlops.drift.numeric import NumericCounts, support_of
from mlops.drift.numeric import numeric_drift as numeric_of_counts
from mlops.drift.profile import numeric_summary
from mlops.drift.stats import FeatureDrift


def numeric_drift(name: str, profile: dict, values: Any) -> FeatureDrift:
    """The window as one batch of values."""
    return numeric_of_counts(name, profile, NumericCounts.of(support_of(profile), np.asarray(values, dtype="float64")))

RULE = DriftConfig()


def flagged(reference: np.ndarray, current: np.ndarray) -> bool:
    result = numeric_drift("x", numeric_summary(reference), current)
    return result.p_value < RULE.p_value and result.effect >= RULE.numeric_effect


def test_binary_column_that_moves_is_drift() -> None:
    # 95% -> 70% ones: p ~ 1e-58 and PSI 0 under decile bins; one bin per value sees it.
    rng = np.random.default_rng(0)
    reference, current = (rng.random(20_000) < 0.95).astype(float), (rng.random(1_000) < 0.70).astype(float)
    result = numeric_drift("x", numeric_summary(reference), current)
    assert result.psi > 0.3 and result.p_value < 1e-40
    # Normalised Wasserstein of a Bernoulli change: |0.95 - 0.70| / sqrt(0.95 * 0.05).
    assert result.effect == pytest.approx(0.25 / math.sqrt(0.95 * 0.05), rel=0.1)
    assert result.histogram["labels"] == ["< 0", "0", "1", "> 1"]
    assert flagged(reference, current)


def test_constant_column_that_moves_is_drift() -> None:
    result = numeric_drift("x", numeric_summary(np.full(1_000, 3.0)), np.full(500, 4.0))
    assert result.psi > 1.0 and result.effect == 1.0 and result.p_value < 1e-10
    unchanged = numeric_drift("x", numeric_summary(np.full(1_000, 3.0)), np.full(500, 3.0))
    assert unchanged.psi < 1e-3 and unchanged.effect == 0.0 and unchanged.p_value == 1.0


def test_zero_inflated_column_keeps_its_bins() -> None:
    rng = np.random.default_rng(1)
    amounts = np.where(rng.random(50_000) < 0.5, 0.0, rng.lognormal(3, 1, 50_000))
    profile = numeric_summary(amounts)
    edges = profile["bin_edges"]
    assert len(edges) + 1 >= 8  # the deciles collapsed to 3 bins before
    assert 0.0 in edges and np.nextafter(0.0, -1.0) in edges  # the zeros in a bin of their own
    # Half the zeros become amounts: the zero bin shows it.
    shifted = np.where(rng.random(5_000) < 0.25, 0.0, rng.lognormal(3, 1, 5_000))
    result = numeric_drift("x", profile, shifted)
    assert result.psi > 0.1 and flagged(amounts, shifted)


@pytest.mark.parametrize("shape", ["integers 0..5", "zero-inflated Poisson", "zero-inflated amount"])
def test_ks_on_tied_values_is_scipys(shape: str) -> None:
    """The reference CDF at tied points comes from the data, so KS on ties is exact: at a million
    rows a sketch-step error used to give 10-12% false positives."""
    rng = np.random.default_rng(2)
    draw = {
        "integers 0..5": lambda n: rng.integers(0, 6, n).astype(float),
        "zero-inflated Poisson": lambda n: np.where(rng.random(n) < 0.4, 0.0, rng.poisson(2.0, n)),
        "zero-inflated amount": lambda n: np.where(rng.random(n) < 0.5, 0.0, rng.lognormal(3, 1, n).round(0)),
    }[shape]
    reference, current = draw(400_000), draw(400_000)
    ours = numeric_drift("x", numeric_summary(reference), current)
    exact = stats.ks_2samp(reference, current, method="asymp")
    if shape == "zero-inflated amount":  # many distinct values: exact at the tied sketch points, within a step elsewhere
        assert ours.statistic <= exact.statistic + 1e-12 and exact.statistic - ours.statistic <= 1e-3
    else:
        assert ours.statistic == pytest.approx(exact.statistic, abs=1e-12)
        assert ours.p_value == pytest.approx(exact.pvalue, rel=1e-3)


def test_ties_keep_false_positives_at_a_million_rows() -> None:
    rng = np.random.default_rng(3)
    flags = [flagged(rng.integers(0, 6, 1_000_000).astype(float), rng.integers(0, 6, 1_000_000).astype(float))
             for _ in range(8)]
    assert sum(flags) <= 1


def test_profile_statistics_stay_finite() -> None:
    extreme = numeric_summary(np.array([1.7e308, -1.7e308, 5.0, 1e300]))
    assert math.isfinite(extreme["std"]) and math.isfinite(extreme["mean"])
    json.dumps(extreme, allow_nan=False)
    result = numeric_drift("x", extreme, np.array([1.7e308, -1.7e308, 0.0, np.inf]))
    assert all(math.isfinite(v) for v in (result.effect, result.psi, result.p_value, result.statistic))
