from __future__ import annotations

import json

import numpy as np
import pandas as pd

from mlops.drift.profile import SKETCH_POINTS, build_profile, numeric_summary


def test_profile_contents_and_size_independent_of_rows() -> None:
    rng = np.random.default_rng(0)
    features = [{"name": "x", "kind": "numeric"}, {"name": "c", "kind": "categorical", "categories": ["a", "b"]}]

    def profile(n: int) -> dict:
        x = rng.normal(10, 2, n)
        x[:10] = np.nan
        frame = pd.DataFrame({"x": x, "c": rng.choice(["a", "b", None], n)})
        return build_profile(frame, features, rng.uniform(size=n // 4), ["no", "yes"])

    small, large = profile(20_000), profile(200_000)
    x = large["features"]["x"]
    assert x["kind"] == "numeric" and x["count"] == 200_000
    assert x["missing_share"] == 10 / 200_000
    assert len(x["sketch"]) == SKETCH_POINTS >= 1000 and len(x["deciles"]) == 9
    assert x["sketch"] == sorted(x["sketch"]) and x["min"] == x["sketch"][0] and x["max"] == x["sketch"][-1]
    assert abs(x["mean"] - 10) < 0.05 and abs(x["std"] - 2) < 0.05
    c = large["features"]["c"]
    assert set(c["frequencies"]) == {"a", "b"} and 0.3 < c["missing_share"] < 0.37
    assert len(large["prediction_scores"]["sketch"]) == SKETCH_POINTS
    assert large["classes"] == ["no", "yes"]
    assert abs(len(json.dumps(large)) - len(json.dumps(small))) < 0.05 * len(json.dumps(small))


def test_degenerate_columns_give_defined_values() -> None:
    empty = numeric_summary(np.array([np.nan, np.inf, -np.inf]))
    assert empty["missing_share"] == 1 / 3 and empty["infinite_share"] == 2 / 3 and empty["sketch"] == []
    constant = numeric_summary(np.full(100, 5.0))
    assert constant["std"] == 0.0 and set(constant["sketch"]) == {5.0} and constant["distinct"] == 1
    json.dumps(empty, allow_nan=False)
    json.dumps(constant, allow_nan=False)
