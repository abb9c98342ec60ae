from __future__ import annotations

from mlops.config import PromotionConfig
from mlops.promotion.gate import decide

POLICY = PromotionConfig(min_metrics={"accuracy": 0.7, "f1": 0.6}, compare_metric="f1", min_improvement=0.0)
GOOD = {"accuracy": 0.8, "f1": 0.7, "roc_auc": 0.85, "log_loss": 0.4}


def test_no_champion_promotes_on_thresholds() -> None:
    decision = decide(GOOD, POLICY)
    assert decision.promote
    assert any("no production model" in r for r in decision.reasons)


def test_below_threshold_rejects_and_says_which() -> None:
    decision = decide({**GOOD, "f1": 0.55}, POLICY)
    assert not decision.promote
    assert "f1 0.5500 < minimum 0.6000" in decision.reasons


def test_tie_promotes_without_margin_and_rejects_with_one() -> None:
    assert decide(GOOD, POLICY, champion={"f1": 0.7}, champion_version="3").promote
    strict = POLICY.model_copy(update={"min_improvement": 0.01})
    decision = decide(GOOD, strict, champion={"f1": 0.7}, champion_version="3")
    assert not decision.promote
    assert "f1 0.7000 < champion v3 0.7000 + 0.0100 on the same holdout" in decision.reasons


def test_better_champion_rejects() -> None:
    decision = decide(GOOD, POLICY, champion={"f1": 0.75}, champion_version="2")
    assert not decision.promote and decision.champion_version == "2"


def test_unscorable_champion_decides_on_thresholds_alone() -> None:
    decision = decide(GOOD, POLICY, champion=None, champion_version="4", champion_error="input lacks feature columns: x")
    assert decision.promote
    assert any("could not score" in r and "thresholds alone" in r for r in decision.reasons)
    failing = decide({**GOOD, "accuracy": 0.5}, POLICY, champion_version="4", champion_error="boom")
    assert not failing.promote


def test_log_loss_is_lower_is_better() -> None:
    policy = POLICY.model_copy(update={"compare_metric": "log_loss", "min_improvement": 0.05})
    assert decide(GOOD, policy, champion={"log_loss": 0.5}, champion_version="1").promote
    assert not decide(GOOD, policy, champion={"log_loss": 0.42}, champion_version="1").promote


def test_undefined_metric_fails_the_gate() -> None:
    policy = PromotionConfig(min_metrics={"roc_auc": 0.7})
    decision = decide({"accuracy": 0.9}, policy)
    assert not decision.promote
    assert "roc_auc is undefined" in decision.reasons[0]


def test_a_constant_candidate_is_never_promoted() -> None:
    policy = PromotionConfig(min_metrics={"accuracy": 0.5})
    decision = decide({"accuracy": 0.9, "f1": 0.0}, policy, constant=True)
    assert not decision.promote and any("same scores" in r for r in decision.reasons)
