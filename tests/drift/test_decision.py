"""The decision: the effect-size rule, reasons beyond feature drift, what is refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops.config import DriftConfig, PromotionConfig
from mlops.drift.check import DriftReport
from mlops.drift.check import decide as decide_summary
from mlops.drift.performance import estimate
from mlops.drift.profile import PROFILE_VERSION, build_profile
from mlops.drift.window import WindowSummary
from mlops.errors import DataError


def decide(frame: pd.DataFrame, profile: dict, drift: DriftConfig, promotion: PromotionConfig, ignore: set[str],
           scores: np.ndarray | None = None, performance: Any = None, baseline_performance: Any = None) -> DriftReport:
    """The window as one frame."""
    return decide_summary(WindowSummary.of_frame(profile, frame, scores), profile, drift, promotion, ignore, performance,
                          baseline_performance)

FEATURES = [{"name": "x", "kind": "numeric"}, {"name": "n", "kind": "numeric"}, {"name": "c", "kind": "categorical"}]


def profile_of(frame: pd.DataFrame) -> dict:
    return build_profile(frame, FEATURES, np.linspace(0, 1, 500), ["no", "yes"])


def frame(rng: np.random.Generator, n: int, shift: float = 0.0, missing: float = 0.0) -> pd.DataFrame:
    x = rng.normal(shift, 1, n)
    x[rng.random(n) < missing] = np.nan
    return pd.DataFrame({"x": x, "n": rng.integers(0, 4, n), "c": rng.choice(["a", "b"], n)})


def test_material_shift_is_flagged_at_every_n() -> None:
    """0.2-0.4 sd shifts were never flagged at n >= 10,000 under 'PSI >= 0.2'; the effect floor is in sd."""
    rng = np.random.default_rng(0)
    profile = profile_of(frame(rng, 100_000))
    for n in (1_000, 10_000, 300_000):
        report = decide(frame(rng, n, shift=0.3), profile, DriftConfig(), PromotionConfig(), set())
        x = next(f for f in report.features if f.drift.name == "x")
        assert x.drifted and x.drift.effect == pytest.approx(0.3, abs=0.06) and x.floor == 0.1, n
    calm = decide(frame(rng, 300_000, shift=0.03), profile, DriftConfig(), PromotionConfig(), set())
    assert not any(f.drifted for f in calm.features)  # significant at 300k rows, but far below the floor


def test_old_psi_threshold_key_names_its_replacement() -> None:
    with pytest.raises(ValueError, match="psi_threshold was replaced by numeric_effect .* categorical_effect"):
        DriftConfig.model_validate({"psi_threshold": 0.2})


def test_unknown_profile_version_is_a_data_error() -> None:
    rng = np.random.default_rng(1)
    profile = {**profile_of(frame(rng, 1_000)), "version": 1}
    with pytest.raises(DataError, match="baseline profile version 1 is not supported") as caught:
        decide(frame(rng, 500), profile, DriftConfig(), PromotionConfig(), set())
    assert caught.value.exit_code == 2
    assert profile_of(frame(rng, 100))["version"] == PROFILE_VERSION == 2


def test_dtype_class_changes_are_findings() -> None:
    rng = np.random.default_rng(2)
    profile = profile_of(frame(rng, 2_000))
    window = frame(rng, 500)
    window["n"] = window["n"] + 0.5  # int -> float
    window["c"] = rng.integers(0, 2, 500)  # string -> int
    report = decide(window, profile, DriftConfig(), PromotionConfig(), set())
    assert "n: values changed from int to float (float64)" in report.quality
    assert "c: values changed from string to int (int64)" in report.quality
    # An int column with a missing value arrives as float: not a change.
    window = frame(rng, 500).astype({"n": "float64"})
    window.loc[0, "n"] = np.nan
    assert not any("values changed" in q for q in decide(window, profile, DriftConfig(), PromotionConfig(), set()).quality)


def test_missing_share_jump_is_a_reason() -> None:
    rng = np.random.default_rng(3)
    profile = profile_of(frame(rng, 10_000, missing=0.02))
    window = frame(rng, 1_000, missing=0.3)
    report = decide(window, profile, DriftConfig(), PromotionConfig(), set())
    assert report.retrain_needed and any(r.startswith("x: missing share 3") and "vs 2.0% at training" in r for r in report.reasons)
    off = decide(window, profile, DriftConfig(max_missing_increase=None), PromotionConfig(), set())
    assert not off.retrain_needed and any("x: missing share" in q for q in off.quality)
    noise = decide(frame(rng, 1_000, missing=0.03), profile, DriftConfig(), PromotionConfig(), set())
    assert not noise.retrain_needed


def _scored(rng: np.random.Generator, n: int, accuracy: float) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, 2, n)
    right = rng.random(n) < accuracy
    p1 = np.where(right == (y == 1), 0.8, 0.2)
    return np.column_stack([1 - p1, p1]), y


def _accuracy(proba: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {"accuracy": float((proba.argmax(axis=1) == y).mean())}


def test_performance_drop_needs_enough_labels_and_a_bound() -> None:
    rng = np.random.default_rng(4)
    profile = profile_of(frame(rng, 2_000))
    promotion = PromotionConfig(compare_metric="accuracy")
    baseline = {"accuracy": 0.80}
    # 50 labelled rows: never judged, whatever they say.
    few = estimate(*_scored(rng, 50, 0.6), _accuracy)
    report = decide(frame(rng, 500), profile, DriftConfig(), promotion, set(), performance=few, baseline_performance=baseline)
    assert not report.retrain_needed and any("fewer than drift.min_labelled_rows" in q for q in report.quality)
    # 300 rows at the training accuracy: noise of +-0.023 must not fire a 0.05 drop on an unlucky day.
    fired = 0
    for seed in range(40):
        noisy = estimate(*_scored(np.random.default_rng(seed), 300, 0.77), _accuracy)
        fired += decide(frame(rng, 500), profile, DriftConfig(), promotion, set(), performance=noisy,
                        baseline_performance=baseline).retrain_needed
    assert fired <= 2
    # A real drop to 0.60 on 2,000 rows is outside any bound.
    dropped = estimate(*_scored(rng, 2_000, 0.60), _accuracy)
    assert dropped.upper["accuracy"] < 0.70
    report = decide(frame(rng, 500), profile, DriftConfig(), promotion, set(), performance=dropped, baseline_performance=baseline)
    assert report.retrain_needed and any(r.startswith("accuracy 0.") and "95% bound 0.6" in r for r in report.reasons)


def test_insufficient_data_keeps_the_thresholds() -> None:
    rng = np.random.default_rng(5)
    report = decide(frame(rng, 50), profile_of(frame(rng, 1_000)), DriftConfig(), PromotionConfig(), set())
    assert report.outcome == "insufficient data" and report.to_dict()["thresholds"]["min_rows"] == 200
