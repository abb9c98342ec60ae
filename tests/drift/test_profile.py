from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlops.drift.numeric import NumericCounts
from mlops.drift.profile import DECILES, SKETCH_POINTS, build_profile, fold_reference, numeric_summary, sorted_quantiles


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


def test_reference_cdf_is_the_exact_ecdf_at_each_support_point() -> None:
    rng = np.random.default_rng(3)
    for values in (rng.normal(size=50_000), np.round(rng.exponential(size=50_000), 1), rng.integers(0, 30, 5_000)):
        x = np.sort(np.asarray(values, dtype="float64"))
        summary = numeric_summary(rng.permutation(x))
        support = np.asarray(summary["support"])
        assert summary["cdf_below"] == (np.searchsorted(x, support, side="left") / x.size).tolist()
        assert summary["cdf_at"] == (np.searchsorted(x, support, side="right") / x.size).tolist()
        assert summary["references"] == x.size


def test_a_sampled_profile_folded_over_every_row_counts_every_row() -> None:
    rng = np.random.default_rng(4)
    n = 60_000
    x = rng.normal(size=n)
    x[rng.random(n) < 0.01] = np.nan
    x[:3] = np.inf
    levels = np.array(["a", "b", "c", "rare", None], dtype=object)
    frame = pd.DataFrame({"x": x, "c": pd.Categorical(levels[rng.choice(5, n, p=[0.5, 0.3, 0.1995, 0.0005, 0.0])])})
    frame.loc[::97, "c"] = None
    features = [{"name": "x", "kind": "numeric"}, {"name": "c", "kind": "categorical"}]
    scores = rng.uniform(size=1_000)
    whole = build_profile(frame, features, scores, ["no", "yes"])
    sample = frame.sample(2_000, random_state=1).reset_index(drop=True)
    sampled = build_profile(sample, features, scores, ["no", "yes"])
    pieces = [frame.iloc[i:i + 7_000].reset_index(drop=True) for i in range(0, n, 7_000)]
    folded = fold_reference(sampled, pieces)

    assert folded["rows"] == n and folded["sketch_rows"] == 2_000
    c = folded["features"]["c"]
    assert c["frequencies"] == whole["features"]["c"]["frequencies"]  # "rare" is counted though the sample missed it
    assert "rare" not in sampled["features"]["c"]["frequencies"] and c["missing_share"] == pytest.approx(
        frame["c"].isna().mean())
    fx, wx = folded["features"]["x"], whole["features"]["x"]
    assert fx["support"] == sampled["features"]["x"]["support"] and fx["bin_edges"] == sampled["features"]["x"][
        "bin_edges"]
    for key in ("count", "missing_share", "infinite_share", "references", "min", "max"):
        assert fx[key] == wx[key], key
    assert sampled["features"]["x"]["min"] > wx["min"]  # the sample missed the extremes; the fold did not
    finite = np.sort(x[np.isfinite(x)])
    support = np.asarray(fx["support"])
    np.testing.assert_allclose(fx["cdf_below"], np.searchsorted(finite, support, side="left") / finite.size)
    np.testing.assert_allclose(fx["cdf_at"], np.searchsorted(finite, support, side="right") / finite.size)


def test_quantiles_of_sorted_values_are_numpys_inverted_cdf() -> None:
    rng = np.random.default_rng(5)
    q = np.concatenate([np.linspace(0.0, 1.0, SKETCH_POINTS), DECILES, [0.3, 0.7, 1 / 3]])
    for n in (1, 2, 3, 7, 10, 100, 999, 1000, 1001, 12_345):
        values = np.sort(np.round(rng.normal(size=n), 2))
        np.testing.assert_array_equal(sorted_quantiles(values, q), np.quantile(values, q, method="inverted_cdf"))


def test_counts_of_sorted_values_equal_the_window_lookup() -> None:
    rng = np.random.default_rng(6)
    for case in range(60):
        values = np.round(rng.normal(size=int(rng.integers(1, 5_000))) * 3, int(case % 3))
        values[: case % 4] = np.inf
        support = np.unique(np.round(rng.normal(size=int(rng.integers(1, 60))), 1))
        window, ordered = NumericCounts.of(support, values), NumericCounts.of_sorted(support, np.sort(values))
        assert window.rows == ordered.rows and window.missing == ordered.missing == 0
        np.testing.assert_array_equal(window.at, ordered.at)
        np.testing.assert_array_equal(window.between, ordered.between)
        for tail in ("low_sum", "high_sum", "low_finite", "high_finite"):  # summed in another order
            assert getattr(window, tail) == pytest.approx(getattr(ordered, tail), rel=1e-9, nan_ok=True), tail
