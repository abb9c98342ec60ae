from __future__ import annotations

import numpy as np
import pandas as pd

from mlops.config import DriftConfig, PromotionConfig
from mlops.drift.check import decide
from mlops.drift.profile import PROFILE_VERSION, categorical_summary, numeric_summary
from mlops.report.html import render


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
