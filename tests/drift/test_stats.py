from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from mlops.config import DriftConfig, PromotionConfig
from mlops.drift.categorical import CategoryCounts
from mlops.drift.categorical import categorical_drift as categorical_of_counts
from mlops.drift.check import DriftReport
from mlops.drift.check import decide as decide_summary
from mlops.drift.numeric import NumericCounts, support_of
from mlops.drift.numeric import numeric_drift as numeric_of_counts
from mlops.drift.profile import PROFILE_VERSION, SKETCH_POINTS, categorical_summary, numeric_summary
from mlops.drift.stats import FeatureDrift, benjamini_hochberg, psi
from mlops.drift.window import WindowSummary


def decide(frame: pd.DataFrame, profile: dict, drift: DriftConfig, promotion: PromotionConfig, ignore: set[str],
           scores: np.ndarray | None = None, performance: Any = None, baseline_performance: Any = None) -> DriftReport:
    """The window as one frame."""
    return decide_summary(WindowSummary.of_frame(profile, frame, scores), profile, drift, promotion, ignore, performance,
                          baseline_performance)


def categorical_drift(name: str, profile: dict, values: Any) -> FeatureDrift:
    """The window as one batch of values."""
    return categorical_of_counts(name, profile, CategoryCounts.of(values))


def numeric_drift(name: str, profile: dict, values: Any) -> FeatureDrift:
    """The window as one batch of values."""
    return numeric_of_counts(name, profile, NumericCounts.of(support_of(profile), np.asarray(values, dtype="float64")))

STEP = 1 / SKETCH_POINTS


def test_identical_samples_do_not_drift() -> None:
    x = np.random.default_rng(0).normal(size=50_000)
    result = numeric_drift("x", numeric_summary(x), x)
    assert result.statistic <= STEP
    assert result.p_value > 0.99
    assert result.psi < 1e-3 and result.wasserstein < 1e-3 and result.out_of_range_share == 0.0


def test_disjoint_samples_are_maximally_different() -> None:
    rng = np.random.default_rng(1)
    result = numeric_drift("x", numeric_summary(rng.uniform(0, 1, 5000)), rng.uniform(10, 11, 5000))
    assert result.statistic == pytest.approx(1.0, abs=STEP)
    assert result.p_value < 1e-100
    assert result.out_of_range_share == 1.0
    assert result.psi > 5
    assert result.wasserstein == pytest.approx(10 / np.std(np.linspace(0, 1, 5000)), rel=0.05)


@pytest.mark.parametrize("n_ref", [50, 300, 2_000, 50_000])
@pytest.mark.parametrize("shift", [0.0, 0.05, 0.3, 1.0])
def test_ks_matches_scipy(n_ref: int, shift: float) -> None:
    rng = np.random.default_rng(n_ref + int(shift * 100))
    ref, cur = rng.normal(size=n_ref), rng.normal(shift, 1.0, size=max(n_ref // 3, 40))
    ours = numeric_drift("x", numeric_summary(ref), cur)
    exact = stats.ks_2samp(ref, cur, method="asymp")
    assert abs(ours.statistic - exact.statistic) <= STEP
    # Same statistic, same p-value: our p-value is scipy's asymptotic one.
    assert ours.p_value == pytest.approx(stats.kstwo.sf(ours.statistic, round(n_ref * cur.size / (n_ref + cur.size))), rel=1e-9)
    assert (ours.p_value < 0.01) == (exact.pvalue < 0.01) or abs(exact.pvalue - 0.01) < 0.01


def test_ks_on_discrete_values() -> None:
    rng = np.random.default_rng(2)
    ref = rng.integers(0, 5, 20_000).astype(float)
    for cur in (rng.integers(0, 5, 8_000).astype(float), rng.integers(1, 6, 8_000).astype(float)):
        assert abs(numeric_drift("x", numeric_summary(ref), cur).statistic - stats.ks_2samp(ref, cur).statistic) <= STEP


def test_psi_hand_computed() -> None:
    # ref 25/75, current 50/50: (0.5-0.25)ln(0.5/0.25) + (0.5-0.75)ln(0.5/0.75); smoothing is negligible here.
    assert psi(np.array([250_000, 750_000]), np.array([500_000, 500_000])) == pytest.approx(
        0.25 * math.log(0.5 / 0.25) - 0.25 * math.log(0.5 / 0.75), rel=1e-4)
    assert psi(np.array([10, 10]), np.array([10, 10])) == 0.0
    # An empty current bin is smoothed, not infinite: (0+0.5)/(10+1) and (10+0.5)/(10+1).
    p = np.array([0.5, 0.5])
    q = np.array([0.5, 10.5]) / 11
    assert psi(np.array([5, 5]), np.array([0, 10])) == pytest.approx(float(np.sum((q - p) * np.log(q / p))))


def test_values_beyond_the_reference_range_count() -> None:
    rng = np.random.default_rng(3)
    ref = rng.uniform(0, 1, 10_000)
    cur = np.concatenate([rng.uniform(0, 1, 7_000), rng.uniform(5, 6, 3_000)])
    result = numeric_drift("x", numeric_summary(ref), cur)
    assert result.out_of_range_share == pytest.approx(0.3, abs=1e-3)
    assert result.histogram["current"][-1] == pytest.approx(0.3 + 0.7 * 0.01, abs=0.005)  # the open bin above the 99th percentile
    assert result.psi > 0.3


def test_edge_cases_have_defined_results() -> None:
    rng = np.random.default_rng(4)
    normal = numeric_summary(rng.normal(size=1000))
    constant = numeric_summary(np.full(1000, 3.0))
    cases = {
        "constant vs constant": numeric_drift("x", constant, np.full(500, 3.0)),
        "constant vs moved": numeric_drift("x", constant, np.full(500, 4.0)),
        "single distinct in window": numeric_drift("x", normal, np.full(500, 0.0)),
        "all NaN window": numeric_drift("x", normal, np.full(500, np.nan)),
        "all NaN baseline": numeric_drift("x", numeric_summary(np.full(100, np.nan)), rng.normal(size=500)),
        "infinities": numeric_drift("x", normal, np.concatenate([rng.normal(size=480), [np.inf] * 10, [-np.inf] * 10])),
        "empty window": numeric_drift("x", normal, np.array([])),
    }
    for name, result in cases.items():
        for value in (result.psi, result.p_value, result.statistic, result.missing_share, result.wasserstein or 0.0):
            assert math.isfinite(value), name
    assert cases["constant vs constant"].statistic == 0.0 and cases["constant vs constant"].psi < 1e-3
    assert cases["constant vs moved"].statistic == 1.0 and cases["constant vs moved"].p_value < 1e-10
    assert cases["single distinct in window"].statistic == pytest.approx(0.5, abs=0.05)
    assert cases["all NaN window"].missing_share == 1.0 and cases["all NaN window"].p_value == 0.0
    assert cases["all NaN window"].note == "no non-missing values in the window"
    assert cases["all NaN baseline"].p_value == 1.0
    assert cases["infinities"].out_of_range_share == pytest.approx(20 / 500)
    assert cases["infinities"].note == "infinite values in the window"


def test_categorical_drift() -> None:
    rng = np.random.default_rng(5)
    ref = categorical_summary(pd.Series(rng.choice(["a", "b", "c"], 10_000, p=[0.5, 0.3, 0.2])))
    same = categorical_drift("c", ref, rng.choice(["a", "b", "c"], 5_000, p=[0.5, 0.3, 0.2]))
    assert same.p_value > 0.01 and same.psi < 0.01
    moved = categorical_drift("c", ref, rng.choice(["a", "b", "c", "new"], 5_000, p=[0.2, 0.3, 0.2, 0.3]))
    assert moved.p_value < 1e-10 and moved.psi > 0.2
    assert moved.unseen_share == pytest.approx(0.3, abs=0.03)
    assert moved.histogram["labels"] == ["a", "b", "c", "(unseen)"]
    single = categorical_drift("c", categorical_summary(pd.Series(["x"] * 100)), np.array(["x"] * 50, dtype=object))
    assert single.p_value == 1.0 and single.psi == 0.0
    missing = categorical_drift("c", ref, np.array([None] * 50, dtype=object))
    assert missing.missing_share == 1.0 and math.isfinite(missing.psi)


def test_benjamini_hochberg() -> None:
    adjusted = benjamini_hochberg([0.01, 0.04, 0.03, 0.5])
    # sorted p: 0.01, 0.03, 0.04, 0.5 -> p*m/rank: 0.04, 0.06, 0.0533, 0.5 -> running minimum from the top: 0.04, 0.0533, 0.0533
    assert adjusted == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5], rel=1e-9)
    assert benjamini_hochberg([]) == [] and benjamini_hochberg([0.2]) == [0.2]
    # Step for step scipy's arithmetic (written out so that a job does not import scipy.stats for it).
    rng = np.random.default_rng(11)
    for ps in (rng.random(30), rng.random(200) ** 6, np.repeat(rng.random(5), 4), np.array([0.0, 1.0, 1.0, 0.0])):
        assert benjamini_hochberg(list(ps)) == stats.false_discovery_control(ps, method="bh").tolist()


@pytest.fixture(scope="module")
def million() -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(6)
    names = [f"f{i:02d}" for i in range(20)]
    reference = {n: numeric_summary(rng.normal(size=1_000_000)) for n in names}
    reference = {"version": PROFILE_VERSION, "features": reference}
    same = pd.DataFrame({n: rng.normal(size=1_000_000) for n in names})
    shifted = same.copy()
    for n in ("f03", "f11", "f17"):
        shifted[n] = shifted[n] + 0.2
    return reference, same, shifted


def test_fdr_million_rows_no_shift_no_drift(million: tuple[dict, pd.DataFrame, pd.DataFrame]) -> None:
    profile, same, _ = million
    report = decide(same, profile, DriftConfig(numeric_effect=0.0), PromotionConfig(), set())
    assert [f.drift.name for f in report.features if f.drifted] == []
    assert not report.retrain_needed


def test_fdr_million_rows_three_shifted_features(million: tuple[dict, pd.DataFrame, pd.DataFrame]) -> None:
    profile, same, shifted = million
    report = decide(shifted, profile, DriftConfig(numeric_effect=0.0), PromotionConfig(), set())
    assert [f.drift.name for f in report.features if f.drifted] == ["f03", "f11", "f17"]
    # A 0.2 sd shift is material: PSI (~0.04) hid it, the normalised Wasserstein floor (0.1 sd) does not.
    floored = decide(shifted, profile, DriftConfig(), PromotionConfig(), set())
    assert [f.drift.name for f in floored.features if f.drifted] == ["f03", "f11", "f17"]
    assert all(f.drift.effect == pytest.approx(0.2, abs=0.01) for f in floored.features if f.drifted)
    # Above the floor, nothing else changes the verdict: a 0.05 sd shift stays below it at a million rows.
    assert decide(same + 0.05, profile, DriftConfig(), PromotionConfig(), set()).drift_share == 0.0


finite_floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
samples = st.lists(st.one_of(finite_floats, st.just(float("nan")), st.just(float("inf"))), min_size=1, max_size=300)


@settings(max_examples=150, deadline=None)
@given(reference=st.lists(finite_floats, min_size=1, max_size=300), current=samples, seed=st.integers(0, 2**32 - 1))
def test_numeric_statistics_are_order_invariant_and_never_nan(reference: list[float], current: list[float], seed: int) -> None:
    profile = numeric_summary(np.array(reference))
    values = np.array(current)
    shuffled = np.random.default_rng(seed).permutation(values)
    a, b = numeric_drift("x", profile, values), numeric_drift("x", profile, shuffled)
    for first, second in ((a.statistic, b.statistic), (a.psi, b.psi), (a.p_value, b.p_value), (a.wasserstein, b.wasserstein)):
        assert first is not None and second is not None
        assert math.isfinite(first) and first == pytest.approx(second, rel=1e-9, abs=1e-12)
    assert 0.0 <= a.statistic <= 1.0 and 0.0 <= a.p_value <= 1.0


@settings(max_examples=100, deadline=None)
@given(reference=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=200),
       current=st.lists(st.one_of(st.sampled_from(["a", "b", "c", "d"]), st.none()), min_size=1, max_size=200),
       seed=st.integers(0, 2**32 - 1))
def test_categorical_statistics_are_order_invariant_and_never_nan(reference: list[str], current: list[str | None], seed: int) -> None:
    profile = categorical_summary(pd.Series(reference))
    values = np.array(current, dtype=object)
    a = categorical_drift("c", profile, values)
    b = categorical_drift("c", profile, np.random.default_rng(seed).permutation(values))
    assert (a.psi, a.p_value, a.statistic) == pytest.approx((b.psi, b.p_value, b.statistic))
    assert all(math.isfinite(v) for v in (a.psi, a.p_value, a.statistic))


@pytest.mark.parametrize("shape", ["normal", "heavy-tailed", "discrete", "two far clusters", "uniform"])
def test_locate_equals_searchsorted(shape: str) -> None:
    from mlops.drift.stats import locate

    rng = np.random.default_rng(7)
    draw = {
        "normal": lambda n: rng.normal(size=n),
        "heavy-tailed": lambda n: rng.exponential(size=n) ** 3,
        "discrete": lambda n: rng.integers(0, 5000, n).astype(float),
        "two far clusters": lambda n: np.concatenate([rng.normal(size=n // 2), rng.normal(1e6, 1, n - n // 2)]),
        "uniform": lambda n: rng.uniform(size=n),
    }[shape]
    support = np.unique(numeric_summary(draw(200_000))["sketch"])
    values = draw(300_000)
    values[:6] = [np.inf, -np.inf, 1e300, -1e300, support[0], support[-1]]
    np.testing.assert_array_equal(locate(support, values), np.searchsorted(support, values, side="left"))
