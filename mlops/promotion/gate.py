"""The promotion gate: absolute thresholds, then the champion on the same holdout.

Pure: metrics in, a `Decision` with every reason out. The registry moves are the caller's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mlops.config import LOWER_IS_BETTER, PromotionConfig


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: list[str]
    candidate: dict[str, float]
    champion: dict[str, float] | None = None
    champion_version: str | None = None
    forced: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def reasons_text(self) -> str:
        """The reasons as one line, short enough for an MLflow tag."""
        return "; ".join(self.reasons)[:5000]

    @property
    def outcome(self) -> Literal["promoted", "rejected"]:
        return "promoted" if self.promote else "rejected"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome
        return data


def decide(
    candidate: Mapping[str, float],
    policy: PromotionConfig,
    champion: Mapping[str, float] | None = None,
    champion_version: str | None = None,
    champion_error: str | None = None,
    constant: bool = False,
) -> Decision:
    """`champion` holds the production model's metrics on the candidate's holdout; when the
    champion exists but could not score that holdout, pass `champion_error` instead and the
    decision rests on the thresholds alone, saying so. A `constant` candidate (the same scores for
    every holdout row) has learned nothing and is never promoted, whatever its metrics."""
    reasons: list[str] = []
    passed = True
    if constant:
        passed = False
        reasons.append("the candidate gives every holdout row the same scores: it learned nothing")
    for name, minimum in sorted(policy.min_metrics.items()):
        value = candidate.get(name)
        if value is None:
            passed = False
            reasons.append(f"{name} is undefined on this holdout; minimum is {minimum:.4f}")
        elif value < minimum:
            passed = False
            reasons.append(f"{name} {value:.4f} < minimum {minimum:.4f}")
        else:
            reasons.append(f"{name} {value:.4f} >= minimum {minimum:.4f}")

    metric, margin = policy.compare_metric, policy.min_improvement
    if champion_error is not None:
        reasons.append(f"champion v{champion_version} could not score the holdout ({champion_error}); decided on thresholds alone")
    elif champion is None:
        reasons.append("no production model: the first version that meets the thresholds becomes production")
    else:
        ours, theirs = candidate.get(metric), champion.get(metric)
        if ours is None or theirs is None:
            passed = False
            whose = "candidate" if ours is None else f"champion v{champion_version}"
            reasons.append(f"{metric} undefined for the {whose} on this holdout; cannot compare")
        elif metric in LOWER_IS_BETTER:
            if ours <= theirs - margin:
                reasons.append(f"{metric} {ours:.4f} <= champion v{champion_version} {theirs:.4f} - {margin:.4f} on the same holdout")
            else:
                passed = False
                reasons.append(f"{metric} {ours:.4f} > champion v{champion_version} {theirs:.4f} - {margin:.4f} on the same holdout")
        elif ours >= theirs + margin:
            reasons.append(f"{metric} {ours:.4f} >= champion v{champion_version} {theirs:.4f} + {margin:.4f} on the same holdout")
        else:
            passed = False
            reasons.append(f"{metric} {ours:.4f} < champion v{champion_version} {theirs:.4f} + {margin:.4f} on the same holdout")
    return Decision(
        promote=passed,
        reasons=reasons,
        candidate=dict(candidate),
        champion=None if champion is None else dict(champion),
        champion_version=champion_version,
    )
