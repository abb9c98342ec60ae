from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlops.config import DriftConfig, PromotionConfig
from mlops.drift.check import DriftReport
from mlops.drift.check import decide as decide_summary
from mlops.drift.profile import PROFILE_VERSION, categorical_summary, numeric_summary
from mlops.drift.window import WindowSummary
from mlops.report.html import render


def decide(frame: pd.DataFrame, profile: dict, drift: DriftConfig, promotion: PromotionConfig, ignore: set[str],
           scores: np.ndarray | None = None, performance: Any = None, baseline_performance: Any = None) -> DriftReport:
    """The window as one frame."""
    return decide_summary(WindowSummary.of_frame(profile, frame, scores), profile, drift, promotion, ignore, performance,
                          baseline_performance)


def test_hundred_feature_report_is_small_and_self_contained() -> None:
    rng = np.random.default_rng(0)
    features = {f"n{i}": numeric_summary(rng.normal(size=20_000)) for i in range(90)}
    features.update({f"c{i}": categorical_summary(pd.Series(rng.choice(list("abcdefgh"), 20_000))) for i in range(10)})
    frame = pd.DataFrame({**{f"n{i}": rng.normal(0.3 * (i % 3 == 0), 1, 5_000) for i in range(90)},
                          **{f"c{i}": rng.choice(list("abcdefghij"), 5_000) for i in range(10)}})
    report = decide(frame, {"version": PROFILE_VERSION, "features": features}, DriftConfig(), PromotionConfig(), set())
    page = render(report.to_dict(histograms=True), "Drift check: <model> & co")
    assert len(page.encode()) < 2 * 1024 * 1024
    assert page.count("<svg") == 100
    assert "<model>" not in page and "&lt;model&gt; &amp; co" in page
    assert page.index("Outcome:") < page.index("<h2>Features</h2>") < page.index("<h2>Distributions</h2>")
    for external in ("<script", "<link", "src=", "url(", "@import", "https://"):
        assert external not in page


def test_report_shows_the_rule_and_the_statistic_behind_each_verdict() -> None:
    rng = np.random.default_rng(1)
    features = {"amount": numeric_summary(rng.normal(size=20_000)), "tiny": numeric_summary(rng.normal(size=20_000)),
                "plan": categorical_summary(pd.Series(rng.choice(["basic", "premium"], 20_000, p=[0.7, 0.3]))),
                "calls": numeric_summary(rng.poisson(1.0, 20_000).astype(float))}
    profile = {"version": PROFILE_VERSION, "features": features, "prediction_scores": numeric_summary(rng.beta(2, 5, 5_000))}
    frame = pd.DataFrame({"amount": rng.normal(0.5, 1, 100_000), "tiny": rng.normal(0.03, 1, 100_000),
                          "plan": rng.choice(["basic", "premium"], 100_000, p=[0.4, 0.6]),
                          "calls": rng.poisson(1.0, 100_000).astype(float)})
    report = decide(frame, profile, DriftConfig(), PromotionConfig(), set(), scores=rng.beta(2, 5, 100_000))
    page = render(report.to_dict(histograms=True), "Drift check")
    assert "Benjamini-Hochberg-adjusted p-value is below 0.05" in page and "normalised Wasserstein ≥ 0.1" in page
    assert "Jensen-Shannon distance ≥ 0.1" in page
    assert page.count('<td class="bad">drifted</td>') == 2  # amount and plan
    assert "<td>tiny</td>" in page and "no (effect &lt; floor)" in page  # tiny: 0.03 sd at 100k rows, significant
    assert "<h2>Prediction scores</h2>" in page and page.count("<svg") == 5
    assert ">basic</text>" in page and ">premium</text>" in page  # category bars are labelled
    # Reference bars show the shape: a normal column's reference bars are not all equal.
    amount = next(f for f in report.features if f.drift.name == "amount").drift.histogram["reference"]
    assert max(amount) > 3 * sorted(amount)[len(amount) // 4]
    calls = next(f for f in report.features if f.drift.name == "calls").drift.histogram
    assert calls["labels"][:3] == ["< 0", "0", "1"]  # one bar per value of a discrete column


def test_insufficient_data_is_neutral_not_green() -> None:
    rng = np.random.default_rng(2)
    profile = {"version": PROFILE_VERSION, "features": {"x": numeric_summary(rng.normal(size=1_000))}}
    report = decide(pd.DataFrame({"x": rng.normal(size=20)}), profile, DriftConfig(), PromotionConfig(), set())
    page = render(report.to_dict(histograms=True), "Drift check")
    assert '<p class="neutral">Outcome: insufficient data' in page and '<p class="ok">' not in page
