from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mlops.config import load_config, redact_uri, redacted_dump, resolve_path
from mlops.errors import ConfigError

GOOD = """
tracking:
  uri: ${TRACKING:-sqlite:///.mlops/mlflow.db}
models:
  - name: churn
    source: {uri: ./data/churn.parquet, timestamp_column: event_time}
    target: churned
    promotion: {min_metrics: {accuracy: 0.7}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mlops.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_good_config_gets_defaults_and_anchored_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), environ={})
    model = config.model("churn")
    assert model.split == "time"
    assert model.training.test_fraction == 0.2
    assert model.drift.p_value == 0.05
    assert model.source.uri == str(tmp_path / "data" / "churn.parquet")
    assert config.tracking.uri == f"sqlite:///{tmp_path}/.mlops/mlflow.db"


@pytest.mark.parametrize(("given", "expected"), [("./out", "{tmp}/out"), ("out/preds", "{tmp}/out/preds"),
                                                 ("/abs/out", "/abs/out"), ("s3://bucket/preds", "s3://bucket/preds")])
def test_a_relative_predictions_uri_is_relative_to_the_config_file(tmp_path: Path, given: str, expected: str) -> None:
    config = load_config(write(tmp_path, GOOD + f"    predictions: {{uri: '{given}'}}\n"), environ={})
    assert config.model("churn").predictions.uri == expected.format(tmp=tmp_path)  # type: ignore[union-attr]


def test_env_substitution_after_parsing_keeps_yaml_structure(tmp_path: Path) -> None:
    text = GOOD.replace("./data/churn.parquet", "'postgresql://app:${DB_PASSWORD}@db/features', table: t")
    config = load_config(write(tmp_path, text), environ={"DB_PASSWORD": "p#ss: word", "TRACKING": "http://mlflow:5000"})
    assert config.models[0].source.uri == "postgresql://app:p#ss: word@db/features"
    assert config.tracking.uri == "http://mlflow:5000"
    dumped = str(redacted_dump(config))
    assert "p#ss" not in dumped and "app:***@db" in dumped


BAD = [
    ("models: []", "models"),
    (GOOD.replace("target: churned", "target: churned\n    colour: red"), "models[0].colour: unknown key"),
    (GOOD.replace("accuracy: 0.7", "acuracy: 0.7"), "models[0].promotion.min_metrics: unknown metric 'acuracy'"),
    (GOOD.replace("accuracy: 0.7", "accuracy: 1.7"), "models[0].promotion.min_metrics: threshold for accuracy"),
    (GOOD.replace("timestamp_column: event_time", "table: t"), "models[0].source: 'table' and 'query' apply to postgresql"),
    (GOOD.replace("./data/churn.parquet", "postgresql://db/f"), "models[0].source: a postgresql source needs exactly one"),
    (GOOD.replace(", timestamp_column: event_time", "") + "    training: {split: time}\n",
     "models[0]: training.split: 'time' needs source.timestamp_column"),
    (GOOD + "    training: {test_fraction: 1.5}\n", "models[0].training.test_fraction"),
    (GOOD + "    training: {params: {objective: 'multi:softmax'}}\n", "models[0].training.params: objective"),
    (GOOD + "    drift: {p_value: 0}\n", "models[0].drift.p_value"),
    # Schedules live in the CronJobs (k8s/), not in the config: no key that does nothing.
    (GOOD + "    schedule: {retrain: '0 4 * * 0'}\n", "models[0].schedule: unknown key"),
    (GOOD + "    features: [churned]\n", "models[0]: features: churned is the target"),
    (GOOD + "  - name: churn\n    source: {uri: x.csv}\n    target: y\n", "models: duplicate name churn"),
    (GOOD.replace("name: churn", "name: 'bad name!'"), "models[0].name"),
    (GOOD.replace("./data/churn.parquet", "./data/churn.xlsx"), "models[0].source: file sources must end in .csv or .parquet"),
    ("tracking: {experiment_prefix: /abs}\n" + GOOD.split("\n", 3)[3], "tracking.experiment_prefix"),
    (GOOD.replace("${TRACKING:-sqlite:///.mlops/mlflow.db}", "${TRACKING}"), "tracking.uri: environment variable TRACKING is not set"),
    ("models: [\n", "invalid YAML"),
    ("- just a list", "must be a mapping"),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[e for _, e in BAD])
def test_bad_config_names_the_path(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={})
    assert expected in str(info.value)


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    text = GOOD + "    drift: {p_value: 2, min_rows: 0}\n    training: {seed: x}\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={})
    message = str(info.value)
    for path in ("models[0].drift.p_value", "models[0].drift.min_rows", "models[0].training.seed"):
        assert path in message


def test_config_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="no config file"):
        resolve_path(None, environ={})
    (tmp_path / "mlops.yaml").write_text(GOOD)
    assert resolve_path(None, environ={}) == Path("mlops.yaml")
    assert resolve_path(None, environ={"MLOPS_CONFIG": "/x.yaml"}) == Path("/x.yaml")
    assert resolve_path("given.yaml", environ={"MLOPS_CONFIG": "/x.yaml"}) == Path("given.yaml")


def test_redact_uri() -> None:
    assert redact_uri("postgresql://u:pw@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert redact_uri("s3://bucket/key.parquet") == "s3://bucket/key.parquet"


def test_secret_from_a_mounted_file(tmp_path: Path) -> None:
    secret = tmp_path / "database-uri"
    secret.write_text("postgresql://app:from-file@db/features\n")
    text = GOOD.replace("./data/churn.parquet", "'${DATABASE_URI}', table: t")
    config = load_config(write(tmp_path, text), environ={"DATABASE_URI_FILE": str(secret)})
    assert config.models[0].source.uri == "postgresql://app:from-file@db/features"
    with pytest.raises(ConfigError, match=r"models\[0\].source.uri: cannot read DATABASE_URI_FILE"):
        load_config(write(tmp_path, text), environ={"DATABASE_URI_FILE": str(tmp_path / "absent")})


@pytest.mark.parametrize(("training", "expected"), [
    ("{engine: dask}", "engine 'dask' needs dask_scheduler"),
    ("{engine: local, dask_scheduler: 'tcp://s:8786'}", "dask_scheduler is used by engine 'dask' only"),
    ("{engine: dask, dask_scheduler: 's:8786'}", "must be a scheduler address like tcp://host:8786"),
    ("{engine: spark}", "models[0].training.engine"),
    ("{memory_budget_mb: 0}", "models[0].training.memory_budget_mb"),
])
def test_training_engine_and_budget_are_validated(tmp_path: Path, training: str, expected: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"models:\n  - {{name: m, source: {{uri: d.parquet}}, target: y, training: {training}}}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert expected in str(caught.value)


def test_training_defaults_and_the_scheduler_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("models:\n  - {name: m, source: {uri: d.parquet}, target: y,\n"
                    "     training: {engine: '${E:-local}', dask_scheduler: '${A:-}'}}\n")
    default = load_config(path, environ={}).models[0].training
    assert (default.engine, default.dask_scheduler, default.memory_budget_mb) == ("local", None, 512.0)
    wired = load_config(path, environ={"E": "dask", "A": "tcp://sched:8786"}).models[0].training
    assert (wired.engine, wired.dask_scheduler) == ("dask", "tcp://sched:8786")
