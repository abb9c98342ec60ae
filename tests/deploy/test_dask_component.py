"""The optional Dask component rendered into an overlay with the real `kubectl kustomize`: the
DaskCluster, the network path from the retrain pods to it, and the retrain CronJob's env that the
config's `training.engine` / `training.dask_scheduler` read."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mlops.config import load_config

from .conftest import copy_k8s, objects, tool


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    tree = copy_k8s(tmp_path_factory.mktemp("k8s-dask") / "k8s")
    overlay = tree / "overlays" / "dev"  # as an operator enables it: one line in the overlay
    with (overlay / "kustomization.yaml").open("a") as kustomization:
        kustomization.write(f"components:\n  - {os.path.relpath(tree / 'components' / 'dask', overlay)}\n")
    result = subprocess.run([tool("kubectl"), "kustomize", str(overlay)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    path = tree.parent / "dev-dask.yaml"
    path.write_text(result.stdout)
    return objects(path)


def find(docs: list[dict], kind: str, name: str) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}"
    return matches[0]


def test_component_adds_a_dask_cluster_in_the_namespace(rendered: list[dict]) -> None:
    cluster = find(rendered, "DaskCluster", "mlops-dask")
    assert cluster["apiVersion"] == "kubernetes.dask.org/v1"
    assert cluster["metadata"]["namespace"] == "mlops"
    assert cluster["spec"]["worker"]["replicas"] >= 2
    worker = cluster["spec"]["worker"]["spec"]["containers"][0]
    scheduler = cluster["spec"]["scheduler"]["spec"]["containers"][0]
    assert worker["image"] == scheduler["image"] == "mlops:dev"  # the overlay's image: same xgboost as the job
    assert worker["securityContext"]["readOnlyRootFilesystem"] is True
    assert {p["port"] for p in cluster["spec"]["scheduler"]["service"]["ports"]} == {8786, 8787}


def test_retrain_is_wired_to_the_scheduler_and_the_others_are_not(rendered: list[dict]) -> None:
    env = {e["name"]: e.get("value") for e in
           find(rendered, "CronJob", "retrain")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MLOPS_TRAINING_ENGINE"] == "dask"
    assert env["MLOPS_DASK_SCHEDULER_ADDRESS"] == "tcp://mlops-dask-scheduler:8786"  # the operator's Service
    assert "MLOPS_CONFIG" in env  # the base env kept, the component only appended
    for other in ("drift-check", "predict"):
        names = {e["name"] for e in
                 find(rendered, "CronJob", other)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert "MLOPS_DASK_SCHEDULER_ADDRESS" not in names
    egress = find(rendered, "NetworkPolicy", "retrain-to-dask")["spec"]
    assert egress["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "retrain"}
    assert egress["egress"][0]["to"][0]["podSelector"]["matchLabels"] == {"dask.org/cluster-name": "mlops-dask"}
    ingress = find(rendered, "NetworkPolicy", "dask-from-retrain-and-itself")["spec"]["ingress"][0]["from"]
    assert {"app.kubernetes.io/name": "retrain"} in [p["podSelector"]["matchLabels"] for p in ingress]

    # The base config (the ConfigMap's file, as shipped) reads the engine and the address from that env.
    path = Path(__file__).resolve().parents[2] / "k8s" / "base" / "config.yaml"
    services = {"MLFLOW_TRACKING_URI": "http://mlflow:5000", "DATABASE_URI": "postgresql://app@postgres/features"}
    dask = {k: env[k] for k in ("MLOPS_TRAINING_ENGINE", "MLOPS_DASK_SCHEDULER_ADDRESS")}
    for model in load_config(path, environ={**services, **dask}).models:
        assert (model.training.engine, model.training.dask_scheduler) == ("dask", "tcp://mlops-dask-scheduler:8786")
    for model in load_config(path, environ=services).models:  # without the component
        assert (model.training.engine, model.training.dask_scheduler) == ("local", None)
