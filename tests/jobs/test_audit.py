"""What an operator reads in MLflow and from the CLI after a few retrains: the model card on each
version, the model's description, the champion's metrics on the candidate's run, the audit trail,
dry runs that decide and change nothing, and a leaderboard that says what its numbers are."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from mlops.cli import main
from mlops.config import load_config
from mlops.jobs import operate, views
from mlops.jobs.demo import write_demo
from mlops.jobs.retrain import retrain
from mlops.tracking import Tracking

from conftest import END, store_client, with_policy


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    paths = write_demo(tmp_path_factory.mktemp("audit"), END)
    config = load_config(paths.config, environ={})
    always, never = with_policy(config, min_improvement=-1.0), with_policy(config, min_improvement=1.0)
    results = [
        retrain(config, config.models[0], END - timedelta(days=28), run_key="w1"),
        retrain(always, always.models[0], END - timedelta(days=14), run_key="w2"),
        retrain(never, never.models[0], END, run_key="w3"),
        retrain(config, config.models[0], END, dry_run=True),
    ]
    return {"config": config, "never": never, "paths": paths, "results": results, "client": store_client(config.tracking.uri)}


def cli(store: dict[str, Any], *args: str) -> Any:
    return CliRunner().invoke(main, ["--config", str(store["paths"].config), *args])


def test_each_version_carries_its_model_card(store: dict[str, Any]) -> None:
    client = store["client"]
    card = client.get_model_version("churn", "2").description
    assert "## Gate decision: promoted" in card and "on the same holdout" in card
    assert "| metric | candidate | champion v1 | minimum | pass |" in card
    assert "| f1 (compared: champion + -1.0000)" in card
    for part in ("## Data lineage", "churn.parquet", "| fingerprint |", "## Training parameters", "max_depth",
                 "## Top features (gain)", "evaluation/gate.json"):
        assert part in card, part
    rejected = client.get_model_version("churn", "3").description
    assert "## Gate decision: rejected" in rejected and "**no**" in rejected
    model = client.get_registered_model("churn").description
    assert "**Production: v2**" in model and "promoted through the gate" in model


def test_the_champion_is_logged_on_the_candidates_run(store: dict[str, Any]) -> None:
    client = store["client"]
    second = client.get_run(store["results"][1].run_id)
    assert {"champion.f1", "champion.accuracy"} <= set(second.data.metrics)
    assert second.data.tags["gate_champion_version"] == "1"
    experiment = client.get_experiment_by_name("mlops-demo/churn")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_history_lists_every_decision_in_order(store: dict[str, Any]) -> None:
    events = views.history(store["config"], Tracking(store["config"].tracking), "churn")
    assert [(e.kind, e.version, e.production_before, e.production_after) for e in events] == [
        ("promoted", "1", None, "1"), ("promoted", "2", "1", "2"), ("rejected", "3", "2", "2")]
    assert all(e.actor and e.source == "retrain" for e in events)  # the module fixture runs before MLOPS_ACTOR is set
    rejected = events[-1]
    assert any(row["metric"] == "f1" and row["passed"] is False for row in rejected.gate)
    result = cli(store, "history", "--model", "churn", "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [e["kind"] for e in lines] == ["promoted", "promoted", "rejected"]
    text = cli(store, "history", "--model", "churn").output
    assert "rejected v3 (production stays v2) by " in text and "via retrain" in text
    # v3 cleared f1's minimum and lost to the champion: the two checks have their own columns.
    f1_rows = [line.split() for line in text.splitlines() if line.strip().startswith("f1 ")]
    assert f1_rows[-1][-2:] == ["pass", "FAIL"] and f1_rows[0][-2:] == ["pass", "-"]  # v1 had no champion
    assert any(row["metric"] == "f1" and row["cleared_minimum"] and row["beats_champion"] is False for row in rejected.gate)


def test_a_resumed_run_key_adds_no_event(store: dict[str, Any]) -> None:
    config = store["never"]
    before = len(views.history(config, Tracking(config.tracking), "churn"))
    assert retrain(config, config.models[0], END, run_key="w3").resumed
    assert len(views.history(config, Tracking(config.tracking), "churn")) == before


def test_dry_runs_decide_register_nothing_and_stay_off_the_leaderboard(store: dict[str, Any]) -> None:
    dry = store["results"][3]
    assert dry.outcome == "dry-run" and dry.decision is not None and dry.decision.champion_version == "2"
    assert dry.summary()["would_be"] in ("promoted", "rejected")
    client = store["client"]
    assert len(client.search_model_versions("name = 'churn'")) == 3
    tracking = Tracking(store["config"].tracking)
    rows = views.leaderboard(store["config"], tracking, "churn", "f1", 10)
    assert dry.run_id not in {r["run_id"] for r in rows} and len(rows) == 3
    assert all(r["holdout"].count("..") == 1 for r in rows)
    text = cli(store, "leaderboard", "--model", "churn").output
    assert "holdouts differ" in text and "mlops compare --model churn" in text and "holdout" in text


def test_promote_dry_run_prints_the_decision_and_changes_nothing(store: dict[str, Any]) -> None:
    client = store["client"]
    before = (dict(client.get_registered_model("churn").aliases), len(client.get_registered_model("churn").tags))
    result = cli(store, "promote", "--model", "churn", "--version", "1", "--as-of", "2026-11-23", "--dry-run")
    assert result.exit_code in (0, 4), result.output
    assert "(dry run; nothing changed)" in result.output and "champion v2" in result.output
    after = (dict(client.get_registered_model("churn").aliases), len(client.get_registered_model("churn").tags))
    assert after == before


def test_manual_rejection_blocks_a_silent_rollback(store: dict[str, Any]) -> None:
    client = store["client"]
    assert cli(store, "rollback", "--model", "churn", "--reason", "check v1").exit_code == 0  # production v1, previous v2
    strict = with_policy(store["config"], min_improvement=1.0)
    rejected = operate.promote(strict, Tracking(strict.tracking), "churn", "2", END, force=False, reason="retry v2")
    assert not rejected.promote
    assert "## Manual promotion rejected" in client.get_model_version("churn", "2").description
    refused = cli(store, "rollback", "--model", "churn")
    assert refused.exit_code == 2 and "rejected by the gate" in refused.output and "--force" in refused.output
    forced = cli(store, "rollback", "--model", "churn", "--force", "--reason", "v1 is worse")
    assert forced.exit_code == 0, forced.output
    kinds = [e.kind for e in views.history(store["config"], Tracking(store["config"].tracking), "churn")]
    assert kinds[-3:] == ["rollback", "rejected", "rollback"]
