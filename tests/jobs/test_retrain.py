"""Retrain, gate, registry moves and operator commands through the real MLflow client on the
embedded SQLite store."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from mlops.config import load_config
from mlops.errors import ConfigError, RegistryError, UsageError
from mlops.jobs import operate, views
from mlops.jobs.common import load_version
from mlops.jobs.demo import write_demo
from mlops.jobs.retrain import retrain
from mlops.tracking import Tracking, move_production

from conftest import END, read_artifact, store_client, with_policy


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    paths = write_demo(tmp_path_factory.mktemp("embedded"), END)
    config = load_config(paths.config, environ={})
    first = retrain(config, config.models[0], END - timedelta(days=28), run_key="week-1")
    always = with_policy(config, min_improvement=-1.0)
    second = retrain(always, always.models[0], END, run_key="week-2")
    return {"config": config, "paths": paths, "first": first, "second": second,
            "client": store_client(config.tracking.uri)}


def aliases(client: MlflowClient, name: str = "churn") -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}


def test_first_retrain_becomes_production_with_lineage(store: dict[str, Any]) -> None:
    first, client = store["first"], store["client"]
    assert first.outcome == "promoted" and first.version == "1"
    version = client.get_model_version("churn", "1")
    assert version.tags["run_key"] == "week-1"
    assert version.tags["gate_decision"] == "promoted"
    assert "no production model" in version.tags["gate_reasons"]
    assert "promoted_at" in version.tags and "archived_at" in version.tags  # archived by the second
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["data.source"].endswith("churn.parquet")
    assert len(run.data.tags["data.fingerprint"]) == 32
    assert run.data.tags["data.window_end"].startswith("2026-10-26")
    assert run.data.metrics["rows_train"] + run.data.metrics["rows_test"] == run.data.metrics["rows_total"]
    artifacts = {a.path for a in client.list_artifacts(first.run_id, "evaluation")}
    assert {"evaluation/gate.json", "evaluation/confusion_matrix.json", "evaluation/feature_importance.json"} <= artifacts
    profile = json.loads(read_artifact(client, first.run_id, "baseline/profile.json"))
    assert set(profile["features"]) == {"tenure", "monthly_charges", "support_calls", "plan", "region", "contract"}
    assert profile["features"]["plan"]["kind"] == "categorical"
    assert len(profile["features"]["tenure"]["sketch"]) >= 1000


def test_second_retrain_moves_production_and_previous(store: dict[str, Any]) -> None:
    second, client = store["second"], store["client"]
    assert second.outcome == "promoted" and second.version == "2"
    assert any("champion v1" in r for r in second.decision.reasons)
    assert aliases(client) == {"production": "2", "previous": "1"}


def test_pyfunc_predicts_original_labels(store: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["config"].tracking.uri)  # as a user loading the model would
    rows = pd.read_parquet(store["paths"].data).tail(200)
    predicted = mlflow.pyfunc.load_model("models:/churn@production").predict(rows)
    assert set(predicted) <= {"yes", "no"} and len(predicted) == 200
    direct = load_version(Tracking(store["config"].tracking), "churn", "2").predict(rows)
    assert list(predicted) == list(direct)


def test_same_run_key_resumes_its_version_and_registers_nothing(store: dict[str, Any]) -> None:
    client = store["client"]
    before = len(client.search_model_versions("name = 'churn'"))
    result = retrain(store["config"], store["config"].models[0], END, run_key="week-2")
    assert result.resumed and result.version == store["second"].version and result.run_id == store["second"].run_id
    assert len(client.search_model_versions("name = 'churn'")) == before


def test_dry_run_registers_nothing_and_does_not_claim_the_key(store: dict[str, Any]) -> None:
    client = store["client"]
    before = len(client.search_model_versions("name = 'churn'"))
    result = retrain(store["config"], store["config"].models[0], END, run_key="dry", dry_run=True)
    assert result.outcome == "dry-run"
    assert len(client.search_model_versions("name = 'churn'")) == before
    assert "run_key" not in client.get_run(result.run_id).data.tags


def test_rejected_candidate_keeps_no_alias(store: dict[str, Any]) -> None:
    config = with_policy(store["config"], min_improvement=1.0)
    result = retrain(config, config.models[0], END, run_key="week-3")
    assert result.outcome == "rejected"
    client = store["client"]
    version = client.get_model_version("churn", result.version)
    assert version.tags["gate_decision"] == "rejected" and not version.aliases
    assert aliases(client)["production"] == "2"
    gate = json.loads(read_artifact(client, result.run_id, "evaluation/gate.json"))
    assert gate["outcome"] == "rejected" and gate["champion_version"] == "2"


def test_unscorable_champion_is_said_and_thresholds_decide(store: dict[str, Any]) -> None:
    config = store["config"]
    model = config.models[0].model_copy(update={"features": ["tenure", "support_calls", "contract"],
                                                "categorical_features": ["contract"]})
    result = retrain(config.model_copy(update={"models": [model]}), model, END, run_key="fewer-features")
    assert any("could not score" in r and "lacks feature columns" in r for r in result.decision.reasons)


def test_bad_params_fail_the_run_and_register_nothing(store: dict[str, Any]) -> None:
    config = store["config"]
    model = config.models[0]
    params = model.training.params.model_copy(update={"max_bin": 1})  # in range for us, refused by XGBoost
    broken = model.model_copy(update={"training": model.training.model_copy(update={"params": params})})
    client = store["client"]
    before = len(client.search_model_versions("name = 'churn'"))
    with pytest.raises(ConfigError, match="rejected by XGBoost"):
        retrain(config.model_copy(update={"models": [broken]}), broken, END, run_key="broken")
    assert len(client.search_model_versions("name = 'churn'")) == before
    experiment = client.get_experiment_by_name("mlops-demo/churn")
    failed = client.search_runs([experiment.experiment_id], "tags.run_key = 'broken'")
    assert [r.info.status for r in failed] == ["FAILED"]


def test_rollback_then_promote_through_the_gate(store: dict[str, Any]) -> None:
    config, client = store["config"], store["client"]
    tracking = Tracking(config.tracking)
    assert aliases(client)["production"] == "2"
    new, old = operate.rollback(config, tracking, "churn", "bad predictions")
    assert (new, old) == ("1", "2")
    assert aliases(client) == {"production": "1", "previous": "2"}
    assert client.get_model_version("churn", "2").tags["rollback_reason"] == "bad predictions"

    with pytest.raises(UsageError, match="already production"):
        operate.promote(config, tracking, "churn", "1", END, force=False, reason=None)
    strict = with_policy(config, min_improvement=1.0)
    rejected = operate.promote(strict, tracking, "churn", "2", END, force=False, reason=None)
    assert not rejected.promote and aliases(client)["production"] == "1"
    forced = operate.promote(strict, tracking, "churn", "2", END, force=True, reason="hotfix")
    assert forced.forced and aliases(client) == {"production": "2", "previous": "1"}
    tags = client.get_model_version("churn", "2").tags
    assert tags["promoted_by"] == "pytest" and tags["promote_reason"] == "hotfix" and tags["gate_decision"] == "forced"
    with pytest.raises(RegistryError, match="no version 99"):
        operate.promote(config, tracking, "churn", "99", END, force=True, reason=None)


def test_status_and_leaderboard(store: dict[str, Any]) -> None:
    config = store["config"]
    tracking = Tracking(config.tracking)
    [entry] = views.status(config, tracking)
    assert entry["production"]["version"] in {"1", "2"} and entry["previous"] is not None
    assert {"f1", "accuracy", "roc_auc"} <= set(entry["production"]["metrics"])
    rows = views.leaderboard(config, tracking, "churn", "f1", 3)
    values = [r["metrics"]["f1"] for r in rows]
    assert values == sorted(values, reverse=True) and len(rows) == 3
    with pytest.raises(UsageError):
        views.leaderboard(config, tracking, "churn", "speed", 3)


def test_move_production_refuses_when_production_moved(store: dict[str, Any]) -> None:
    from mlops.errors import ProductionMoved

    config, client = store["config"], store["client"]
    tracking = Tracking(config.tracking)
    before = aliases(client)
    stale = "1" if before["production"] != "1" else "2"
    with pytest.raises(ProductionMoved) as info:
        move_production(tracking, "churn", "3", expected=stale, tags={})
    assert info.value.now == before["production"]
    assert aliases(client) == before
