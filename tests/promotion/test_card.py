"""The gate table keeps "cleared the minimum" and "beat the champion" apart."""

from __future__ import annotations

from mlops.config import PromotionConfig
from mlops.promotion.card import gate_rows, gate_table, row_checks
from mlops.promotion.gate import decide

POLICY = PromotionConfig(min_metrics={"f1": 0.4, "accuracy": 0.7}, compare_metric="f1", min_improvement=0.0)


def test_a_candidate_that_clears_the_minimum_but_loses_to_the_champion() -> None:
    decision = decide({"f1": 0.45, "accuracy": 0.8}, POLICY, champion={"f1": 0.5, "accuracy": 0.8}, champion_version="1")
    f1 = next(r for r in gate_rows(decision, POLICY) if r["metric"] == "f1")
    assert (f1["cleared_minimum"], f1["beats_champion"], f1["passed"]) == (True, False, False)
    assert "yes (minimum), **no** (champion)" in gate_table(decision, POLICY)
    assert row_checks(f1) == (True, False)


def test_rows_recorded_before_the_split_are_read_apart() -> None:
    old = {"metric": "f1", "candidate": 0.45, "champion": 0.5, "minimum": 0.4, "passed": False}
    assert row_checks(old) == (True, False)
    assert row_checks({**old, "candidate": 0.3}) == (False, None)  # a failed minimum hides the champion check
    assert row_checks({"metric": "accuracy", "candidate": 0.8, "champion": 0.8, "minimum": 0.7, "passed": True}) == (True, None)
    assert row_checks({"metric": "recall", "candidate": 0.3, "champion": 0.2, "minimum": None, "passed": None}) == (None, None)
    assert row_checks({"metric": "f1", "candidate": 0.6, "champion": 0.5, "minimum": None, "passed": True}) == (None, True)
