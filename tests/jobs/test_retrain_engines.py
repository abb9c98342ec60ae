"""retrain through the whole job with the window trained in memory, from disk (external memory,
forced by a tiny budget) and on a real Dask LocalCluster: the registry, gate, profile and lineage
are the same whichever engine or storage trained the model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mlops.config import Config, load_config
from mlops.errors import ServiceUnavailable
from mlops.jobs.demo import write_demo
from mlops.jobs.retrain import retrain

from conftest import END, read_artifact, store_client


def variant(config: Config, **training: Any) -> Config:
    model = config.models[0]
    changed = model.model_copy(update={"training": model.training.model_copy(update=training)})
    return config.model_copy(update={"models": [changed]})


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    distributed = pytest.importorskip("distributed")
    # processes=False: the 2 workers are threads of the test process (the machine has 2 cores).
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def run(tmp: Path, **training: Any) -> tuple[Any, dict[str, Any]]:
    paths = write_demo(tmp, END)
    config = variant(load_config(paths.config, environ={}), **training)
    result = retrain(config, config.models[0], END - timedelta(days=28), run_key="k")
    client = store_client(config.tracking.uri)
    run_info = client.get_run(result.run_id)
    profile = json.loads(read_artifact(client, result.run_id, "baseline/profile.json"))
    return result, {"tags": run_info.data.tags, "metrics": run_info.data.metrics, "profile": profile,
                    "version": client.get_model_version("churn", result.version).tags}


def test_every_engine_gives_the_same_registry_gate_profile_and_lineage(tmp_path: Path, scheduler: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # The spilled window's profile sample is far smaller than its training rows, so only the fold
    # over every row can give it the in-memory counts.
    monkeypatch.setattr("mlops.training.window.PROFILE_SAMPLE_ROWS", 300)
    memory, in_memory = run(tmp_path / "memory")
    spilled, external = run(tmp_path / "external", memory_budget_mb=0.05)
    dask_result, on_dask = run(tmp_path / "dask", engine="dask", dask_scheduler=scheduler)
    assert in_memory["tags"]["training.storage"] == "memory" and external["tags"]["training.storage"] == "external"
    assert on_dask["tags"]["training.engine"] == "dask" and in_memory["tags"]["training.engine"] == "local"
    for result, seen in ((spilled, external), (dask_result, on_dask)):
        assert result.outcome == memory.outcome == "promoted" and result.version == "1"
        for tag in ("data.fingerprint", "data.split", "data.split_boundary", "data.window_end"):
            assert seen["tags"][tag] == in_memory["tags"][tag], tag
        for metric in ("rows_total", "rows_train", "rows_test", "rows_dropped_missing_label"):
            assert seen["metrics"][metric] == in_memory["metrics"][metric], metric
        for metric in ("roc_auc", "accuracy"):
            assert seen["metrics"][metric] == pytest.approx(in_memory["metrics"][metric], abs=0.02), metric
        assert seen["version"]["gate_decision"] == in_memory["version"]["gate_decision"]
        assert set(seen["profile"]["features"]) == set(in_memory["profile"]["features"])
        for name, feature in seen["profile"]["features"].items():
            assert feature["kind"] == in_memory["profile"]["features"][name]["kind"]
            assert feature["dtype_class"] == in_memory["profile"]["features"][name]["dtype_class"]
    assert on_dask["profile"]["features"] == in_memory["profile"]["features"]  # same rows, same profile
    # The spilled window's counts are folded over every training row: the same as in memory.
    assert external["profile"]["sketch_rows"] == 300 < external["metrics"]["rows_train"]
    assert external["profile"]["rows"] == in_memory["profile"]["rows"] == external["metrics"]["rows_train"]
    for name, feature in external["profile"]["features"].items():
        expected = in_memory["profile"]["features"][name]
        for key in ("count", "missing_share", "frequencies", "references"):
            assert feature.get(key) == expected.get(key), (name, key)


def test_unreachable_scheduler_fails_the_run_with_exit_1(tmp_path: Path) -> None:
    with pytest.raises(ServiceUnavailable, match="dask scheduler tcp://127.0.0.1:9 unreachable") as caught:
        run(tmp_path, engine="dask", dask_scheduler="tcp://127.0.0.1:9")
    assert caught.value.exit_code == 1
