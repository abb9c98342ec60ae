"""Categorical drift: canonical keys, pooled chi-square, Jensen-Shannon effect."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops.config import DriftConfig
from mlops.drift.categorical import CategoryCounts, jensen_shannon, pooled_chi_square
from mlops.drift.categorical import categorical_drift as categorical_of_counts
from mlops.drift.profile import categorical_summary
from mlops.drift.stats import FeatureDrift


def categorical_drift(name: str, profile: dict, values: Any) -> FeatureDrift:
    """The window as one batch of values."""
    return categorical_of_counts(name, profile, CategoryCounts.of(values))

RULE = DriftConfig()
LEVELS = np.array([f"c{i:02d}" for i in range(40)])
ZIPF = 1 / np.arange(1, 41) ** 1.1
ZIPF /= ZIPF.sum()


def test_jensen_shannon_analytic() -> None:
    assert jensen_shannon(np.array([5.0, 5.0]), np.array([50.0, 50.0])) == pytest.approx(0.0, abs=1e-9)
    assert jensen_shannon(np.array([10.0, 0.0]), np.array([0.0, 10.0])) == pytest.approx(1.0)
    # JS divergence of (1, 0) vs (1/2, 1/2) in bits: 1/2 KL((1,0)||(3/4,1/4)) + 1/2 KL((1/2,1/2)||(3/4,1/4)).
    divergence = 0.5 * np.log2(4 / 3) + 0.5 * (0.5 * np.log2(0.5 / 0.75) + 0.5 * np.log2(0.5 / 0.25))
    assert jensen_shannon(np.array([4.0, 0.0]), np.array([2.0, 2.0])) == pytest.approx(np.sqrt(divergence))


def test_pooled_chi_square_analytic() -> None:
    assert pooled_chi_square(np.array([30.0, 20.0, 50.0]), np.array([30.0, 20.0, 50.0]))[0] == pytest.approx(1.0)
    # Rare cells join one pooled cell: 2 x 3 after pooling the four cells with 1-2 counts.
    p, _ = pooled_chi_square(np.array([40.0, 40.0, 1, 1, 1, 1]), np.array([40.0, 40.0, 2, 1, 1, 0]))
    table = np.array([[40, 40, 4], [40, 40, 4]])
    assert p == pytest.approx(1.0) and table.sum() == 168


def test_sparse_categoricals_are_calibrated() -> None:
    """40 Zipf levels, 200 reference rows, 50-row windows: 23-26% false positives before pooling."""
    rng = np.random.default_rng(0)
    flags = []
    for _ in range(300):
        profile = categorical_summary(pd.Series(LEVELS[rng.choice(40, 200, p=ZIPF)]))
        result = categorical_drift("c", profile, pd.Series(LEVELS[rng.choice(40, 50, p=ZIPF)]))
        flags.append(result.p_value < RULE.p_value and result.effect >= RULE.categorical_effect)
    assert np.mean(flags) <= 0.07


def test_small_reference_does_not_turn_missed_rare_levels_into_drift() -> None:
    rng = np.random.default_rng(1)
    flags = []
    for _ in range(100):
        profile = categorical_summary(pd.Series(LEVELS[rng.choice(40, 200, p=ZIPF)]))
        result = categorical_drift("c", profile, pd.Series(LEVELS[rng.choice(40, 100_000, p=ZIPF)]))
        flags.append(result.p_value < RULE.p_value and result.effect >= RULE.categorical_effect)
    assert np.mean(flags) <= 0.08


@pytest.mark.parametrize("window", [
    pd.Series([1.0, 2.0, np.nan, 3.0] * 100),  # an int code with a NaN arrives as float
    pd.Series(["1", "2", None, "3"] * 100),  # the same codes as text
    pd.Series([1, 2, None, 3] * 100, dtype="Int64"),
])
def test_integer_codes_agree_whatever_the_dtype(window: pd.Series) -> None:
    profile = categorical_summary(pd.Series([1, 2, 3, 3] * 250))
    assert set(profile["frequencies"]) == {"1", "2", "3"}
    result = categorical_drift("c", profile, window)
    assert result.unseen_share == 0.0 and result.missing_share == pytest.approx(0.25)


def test_bool_column_arriving_as_zero_one_is_the_same_category() -> None:
    profile = categorical_summary(pd.Series([True, False, True, True] * 100))
    result = categorical_drift("c", profile, pd.Series([1, 0, 1, 1] * 50))
    assert result.unseen_share == 0.0 and result.p_value > 0.5 and result.effect < 0.01


def test_category_mix_change_is_detected_at_200_rows() -> None:
    rng = np.random.default_rng(2)
    before, after = [0.4, 0.3, 0.15, 0.1, 0.05], [0.25, 0.25, 0.2, 0.15, 0.15]
    profile = categorical_summary(pd.Series(LEVELS[rng.choice(5, 100_000, p=before)]))
    flags = [categorical_drift("c", profile, pd.Series(LEVELS[rng.choice(5, 200, p=after)])) for _ in range(50)]
    assert np.mean([f.p_value < 0.05 and f.effect >= RULE.categorical_effect for f in flags]) >= 0.9
