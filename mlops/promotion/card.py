"""The model card: what a registered version's description says in the MLflow UI.

Pure: a `Decision`, the policy and what the run recorded in, Markdown out. The gate table puts the
candidate and the champion side by side on the same holdout, with the bar each metric had to clear.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from mlops.config import LOWER_IS_BETTER, PromotionConfig
from mlops.promotion.gate import Decision

METRIC_ORDER = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
TOP_FEATURES = 10


class GateRow(TypedDict):
    metric: str
    candidate: float | None
    champion: float | None
    minimum: float | None
    passed: bool | None  # both checks below together; None: the metric decided nothing
    cleared_minimum: bool | None  # None: no minimum for this metric
    beats_champion: bool | None  # None: not the compare metric, or no champion


@dataclass(frozen=True)
class Lineage:
    source: str
    table_or_query: str
    window: str
    rows_total: int
    rows_train: int
    rows_holdout: int
    fingerprint: str
    split: str
    holdout_from: str = ""


@dataclass(frozen=True)
class CardInputs:
    name: str
    run_id: str
    decision: Decision
    policy: PromotionConfig
    lineage: Lineage
    params: Mapping[str, Any] = field(default_factory=dict)
    importance: Mapping[str, float] = field(default_factory=dict)


def gate_rows(decision: Decision, policy: PromotionConfig) -> list[GateRow]:
    """Every metric either side has, in a fixed order. The two checks are kept apart (a candidate can
    clear the minimum and still lose to the champion); `passed` is both together."""
    rows: list[GateRow] = []
    champion = decision.champion or {}
    names = [m for m in METRIC_ORDER if m in decision.candidate or m in champion or m in policy.min_metrics]
    for metric in names:
        ours, theirs, minimum = decision.candidate.get(metric), champion.get(metric), policy.min_metrics.get(metric)
        cleared: bool | None = None if minimum is None else ours is not None and ours >= minimum
        beats: bool | None = None
        if metric == policy.compare_metric and decision.champion is not None:
            if ours is None or theirs is None:
                beats = False
            elif metric in LOWER_IS_BETTER:
                beats = ours <= theirs - policy.min_improvement
            else:
                beats = ours >= theirs + policy.min_improvement
        checks = [c for c in (cleared, beats) if c is not None]
        passed = all(checks) if checks else None
        rows.append(GateRow(metric=metric, candidate=_round(ours), champion=_round(theirs), minimum=minimum, passed=passed,
                            cleared_minimum=cleared, beats_champion=beats))
    return rows


def row_checks(row: Mapping[str, Any]) -> tuple[bool | None, bool | None]:
    """(cleared the minimum, beat the champion) of a stored gate row. Rows recorded before the two
    were kept apart hold only `passed`: the minimum is judged again from the row's own figures, and
    the champion check is known only where `passed` differs from it (or no minimum applied)."""
    if "cleared_minimum" in row or "beats_champion" in row:
        return row.get("cleared_minimum"), row.get("beats_champion")
    ours, minimum, passed = row.get("candidate"), row.get("minimum"), row.get("passed")
    cleared = None if minimum is None else ours is not None and ours >= minimum
    if row.get("champion") is None or passed is None:
        return cleared, None
    if cleared is None:
        return None, bool(passed)
    return cleared, False if cleared and not passed else None


def gate_table(decision: Decision, policy: PromotionConfig) -> str:
    """The gate table in Markdown."""
    champion = f"champion v{decision.champion_version}" if decision.champion_version else "champion (none)"
    lines = [f"| metric | candidate | {champion} | minimum | pass |", "|---|---:|---:|---:|:---|"]
    for row in gate_rows(decision, policy):
        margin = ""
        if row["metric"] == policy.compare_metric and decision.champion is not None:
            sign = "-" if row["metric"] in LOWER_IS_BETTER else "+"
            margin = f" (compared: champion {sign} {policy.min_improvement:.4f})"
        verdict = ", ".join(v for v in (_verdict(row["cleared_minimum"], "minimum"), _verdict(row["beats_champion"], "champion")) if v)
        lines.append(f"| {row['metric']}{margin} | {_cell(row['candidate'])} | {_cell(row['champion'])} | "
                     f"{_cell(row['minimum'])} | {verdict} |")
    return "\n".join(lines)


def version_card(card: CardInputs) -> str:
    """The registered version's description: decision, gate table, lineage, params, top features."""
    decision, lineage = card.decision, card.lineage
    outcome = "forced into production" if decision.forced else decision.outcome
    since = f", from {lineage.holdout_from}" if lineage.holdout_from else ""
    lines = [
        f"## Gate decision: {outcome}",
        "",
        f"Candidate and champion scored **on the same holdout** ({lineage.rows_holdout} rows{since}).",
        "",
        gate_table(decision, card.policy),
        "",
        *[f"- {reason}" for reason in decision.reasons],
        "",
        "## Data lineage",
        "",
        "| | |",
        "|---|---|",
        f"| source | `{lineage.source}` |",
        f"| table / query | `{lineage.table_or_query[:200] or '-'}` |",
        f"| window | {lineage.window} |",
        f"| rows | {lineage.rows_total} ({lineage.rows_train} train, {lineage.rows_holdout} holdout, {lineage.split} split) |",
        f"| fingerprint | `{lineage.fingerprint}` |",
        "",
    ]
    if card.params:
        lines += ["## Training parameters", "", "| param | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in sorted(card.params.items())]
        lines.append("")
    top = sorted(card.importance.items(), key=lambda item: item[1], reverse=True)[:TOP_FEATURES]
    if top:
        total = sum(v for _, v in card.importance.items()) or 1.0
        lines += ["## Top features (gain)", "", "| feature | share of gain |", "|---|---:|"]
        lines += [f"| {k} | {v / total:.1%} |" for k, v in top]
        lines.append("")
    lines += [
        "## Reports",
        "",
        f"Run `{card.run_id}`: `evaluation/gate.json`, `evaluation/confusion_matrix.json`, "
        "`evaluation/feature_importance.json`, `baseline/profile.json`.",
        f"History: `mlops history --model {card.name}`.",
    ]
    return "\n".join(lines)


def manual_gate_section(decision: Decision, policy: PromotionConfig, when: str, actor: str, window: str) -> str:
    """Appended to a version's card when someone promotes it by hand (judged or forced)."""
    if decision.forced:
        return f"\n\n## Forced promotion, {when}\n\nBy {actor}, the gate skipped: {decision.reasons_text}"
    return (f"\n\n## Manual promotion {decision.outcome}, {when}\n\nBy {actor}, on the holdout of {window} "
            f"(candidate and champion on the same rows):\n\n{gate_table(decision, policy)}\n\n"
            + "\n".join(f"- {r}" for r in decision.reasons))


def _verdict(ok: bool | None, against: str) -> str:
    """One check of a gate row in the card: `yes (minimum)`, `**no** (champion)` or nothing."""
    return "" if ok is None else f"{'yes' if ok else '**no**'} ({against})"


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
