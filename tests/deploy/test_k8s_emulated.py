"""The rendered overlays run as written under the deployment emulator, on one stack per module.

Dev: PostgreSQL, MinIO and its bucket Job, the Pushgateway and MLflow (its migration
initContainer, then the server under its memory and CPU limits, probed as the kubelet would),
then each CronJob's pod as its Job would start it. The Secret holds a password with `@`, `%`,
`:` and `/`, percent-encoded in the URIs as the README says.

MLflow runs with basic-auth: anonymous requests get 401, the CronJobs' pods run as the jobs' own
user (created by the Deployment's prepare initContainer).

Prod (its external PostgreSQL and S3 played by the dev services, through the Secret): two MLflow
replicas' prepare initContainers started together on a fresh schema, and the Indexed retrain's
pods, one per completion index, over a config of more models than a pod would hold."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from mlops.jobs.selection import shard_of

from .conftest import emulator_ready, objects, render
from .emulator import Emulator, Running
from .emulator.kube import Cluster

pytestmark = pytest.mark.emulator

PASSWORD = "p@ss%w:rd/x"
SCHEDULED = "29400000"  # the CronJob's Job name suffix: minutes since the epoch of the schedule


@dataclass
class Dev:
    cluster: Cluster
    mlflow: Running
    mlflow_spec: dict
    ready_after: float
    ready_at: float
    pods: dict[str, Running]
    liveness_failures: list[str] = field(default_factory=list)


def dev_secrets(tree: Path) -> None:
    """secrets.env as an operator writes it, with a hostile password percent-encoded in the URIs."""
    encoded = quote(PASSWORD, safe="")
    text = (tree / "overlays" / "dev" / "secrets.env.example").read_text().replace("change-me-postgres@", f"{encoded}@")
    text = text.replace("postgres-password=change-me-postgres", f"postgres-password={PASSWORD}")
    (tree / "overlays" / "dev" / "secrets.env").write_text(text)


def admin_auth(cluster: Cluster) -> dict[str, str]:
    """The UI admin's Basic credential, from the Secret as an operator would read it."""
    password = cluster._data("Secret", "mlops-secrets")["mlflow-admin-password"]
    return {"Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()}


def watch_liveness(dev: Dev, stop: threading.Event) -> None:
    """The kubelet's liveness probe: failureThreshold consecutive failures would restart MLflow."""
    probe = dev.mlflow_spec["livenessProbe"]
    failures = 0
    stop.wait(max(0.0, probe.get("initialDelaySeconds", 0) - dev.ready_after))
    while not stop.is_set():
        failures = 0 if dev.cluster.probe(dev.mlflow, dev.mlflow_spec, probe) else failures + 1
        if failures >= probe.get("failureThreshold", 3):
            dev.liveness_failures.append(f"liveness failed {failures} times at {time.monotonic() - dev.ready_at:.0f} s")
        stop.wait(probe.get("periodSeconds", 10))


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, k8s_tree_copy: Path) -> Iterator[Dev]:
    emulator_ready()
    dev_secrets(k8s_tree_copy)
    docs = objects(render(k8s_tree_copy, "dev"))
    state = tmp_path_factory.mktemp("dev")
    emulator = Emulator(state, Cluster.hosts(docs))
    cluster = Cluster(docs, emulator, state)
    stop = threading.Event()
    pods = {}
    try:
        for kind, name, pod in [("StatefulSet", "postgres", "postgres-0"), ("StatefulSet", "minio", "minio-0"),
                                ("Deployment", "pushgateway", "pushgateway-5d8f9c-abcde")]:
            template = cluster.pod_template(kind, name)
            [running] = cluster.start_pod(template, pod)
            pods[name] = running
            cluster.wait_ready(running, template["spec"]["containers"][0], 120)
        bucket = cluster.start_pod(cluster.pod_template("Job", "minio-create-bucket"), "minio-create-bucket-x1")[0].wait(60)
        assert bucket.returncode == 0, bucket.output
        template = cluster.pod_template("Deployment", "mlflow")
        started = time.monotonic()
        [mlflow] = cluster.start_pod(template, "mlflow-6c9d7f-x2k4p")
        spec = template["spec"]["containers"][0]
        cluster.wait_ready(mlflow, spec, 180)
        ready_after = time.monotonic() - started
        result = Dev(cluster, mlflow, spec, ready_after, time.monotonic(), pods)
        threading.Thread(target=watch_liveness, args=(result, stop), daemon=True).start()
        yield result
    finally:
        stop.set()
        emulator.close()


def run_cronjob(dev: Dev, name: str) -> tuple[int, str]:
    job = f"{name}-{SCHEDULED}"
    template = dev.cluster.pod_template("CronJob", name)
    labels = {"batch.kubernetes.io/job-name": job, "job-name": job}
    [pod] = dev.cluster.start_pod(template, f"{job}-q7x2m", labels=labels)
    finished = pod.wait(600)
    return finished.returncode, finished.output


def test_readme_seed_step_then_each_cronjob_pod_exits_0_and_pushes(dev: Dev) -> None:
    # The README's seed step: `kubectl -n mlops exec deploy/mlflow -- mlops seed-demo --database ...`
    database_uri = dev.cluster._data("Secret", "mlops-secrets")["database-uri"]
    seeded = dev.cluster.emulator.exec(dev.mlflow, ["mlops", "seed-demo", "--database", database_uri], timeout=120)
    assert seeded.returncode == 0 and re.search(r"loaded \d+ demo rows", seeded.stdout), seeded.stderr[-2000:]
    # The demo rows drift in their last weeks, so the daily check would start a Job through the
    # Kubernetes API, the one part that cannot run here: replace them with rows that do not drift.
    reseed = ("from mlops.data.sinks import replace_table; from mlops.jobs.common import as_of_moment; "
              "from mlops.jobs.demo import make_dataset; import sys; "
              "replace_table(sys.argv[1], 'churn_features', make_dataset(as_of_moment(None), shift_days=0))")
    reseeded = dev.cluster.emulator.exec(dev.mlflow, ["python", "-c", reseed, database_uri], timeout=120)
    assert reseeded.returncode == 0, reseeded.stderr[-2000:]

    outputs = {}
    for name in ("retrain", "drift-check", "predict"):
        code, output = run_cronjob(dev, name)
        assert code == 0, f"{name}:\n{output[-4000:]}"
        assert PASSWORD not in output and quote(PASSWORD, safe="") not in output
        outputs[name] = output
    assert "churn: v1 promoted" in outputs["retrain"]
    assert "no drift" in outputs["drift-check"]
    assert "churn: v1 scored" in outputs["predict"]
    status, metrics = dev.cluster.emulator.fetch("http://pushgateway:9091/metrics")
    assert status == 200
    for job in ("mlops-retrain", "mlops-drift-check", "mlops-predict"):
        assert re.search(rf'mlops_job_last_success_timestamp_seconds{{[^}}]*job="{job}"[^}}]*model="churn"', metrics), job
    # The run key comes from the Job name the downward API gave the pod: 29,400,000 minutes.
    key = ("import os, sys; os.environ.update(MLFLOW_TRACKING_USERNAME='admin', MLFLOW_TRACKING_PASSWORD=sys.argv[1]); "
           "from mlflow import MlflowClient; c = MlflowClient('http://mlflow:5000', 'http://mlflow:5000'); "
           "print(c.get_model_version_by_alias('churn', 'production').tags['run_key'])")
    admin_password = dev.cluster._data("Secret", "mlops-secrets")["mlflow-admin-password"]
    run_key = dev.cluster.emulator.exec(dev.mlflow, ["python", "-c", key, admin_password], timeout=60)
    assert run_key.stdout.strip() == "retrain:scheduled:2025-11-24T16:00Z", run_key.stderr[-2000:]


def test_mlflow_stays_up_under_its_limits_with_probes_answering(dev: Dev) -> None:
    time.sleep(max(0.0, 90 - (time.monotonic() - dev.ready_at)))
    spec = dev.mlflow_spec
    assert dev.cluster.probe(dev.mlflow, spec, spec["readinessProbe"]) and dev.cluster.probe(dev.mlflow, spec, spec["livenessProbe"])
    assert dev.mlflow.proc.poll() is None and dev.mlflow.oom_kills() == 0 and not dev.liveness_failures, dev.liveness_failures
    limit, peak = dev.mlflow.container.memory, dev.mlflow.peak_memory()
    print(f"dev mlflow: ready after {dev.ready_after:.0f} s, peak memory {peak / 2**20:.0f} MiB of {limit / 2**20:.0f} MiB")
    assert limit is not None and peak < 0.8 * limit, f"peak {peak / 2**20:.0f} MiB leaves under 20% headroom"
    # A port-forward on another local port, the cluster FQDN and the Service name all reach the API.
    url = "http://127.0.0.1:5000/ajax-api/2.0/mlflow/experiments/search?max_results=1"
    for host in ("localhost:8080", "mlflow.mlops.svc.cluster.local:5000", "mlflow:5000"):
        assert dev.cluster.emulator.fetch(url, {"Host": host, **admin_auth(dev.cluster)})[0] == 200, host


def test_mlflow_refuses_anonymous_alias_moves(dev: Dev) -> None:
    """Basic-auth is on: moving @production without credentials is 401; the probes' /health is open."""
    move = json.dumps({"name": "churn", "alias": "production", "version": "1"}).encode()
    status, body = dev.cluster.emulator.fetch("http://mlflow:5000/api/2.0/mlflow/registered-models/alias",
                                              {"Content-Type": "application/json"}, move)
    assert status == 401, body[:300]
    assert dev.cluster.emulator.fetch("http://mlflow:5000/health")[0] == 200
    status, body = dev.cluster.emulator.fetch("http://mlflow:5000/api/2.0/mlflow/users/current", admin_auth(dev.cluster))
    assert status == 200 and json.loads(body)["user"]["is_admin"] is True, body[:300]


PROD_MODELS = ["churn", "churn-eu", "churn-us", "churn-apac"]


@pytest.fixture(scope="module")
def prod(dev: Dev, k8s_tree_copy: Path) -> Cluster:
    """The prod overlay rendered after an operator added models to config.yaml (and nothing else),
    its Secret pointing at the dev services as an external PostgreSQL would be."""
    config_path = k8s_tree_copy / "base" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["models"] = [{**config["models"][0], "name": name} for name in PROD_MODELS]
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    secret = dev.cluster.find("Secret", "mlops-secrets")
    docs = [*objects(render(k8s_tree_copy, "prod")), secret]
    return Cluster(docs, dev.cluster.emulator, dev.cluster.state)


def test_prod_mlflow_replicas_migrate_a_fresh_schema_once(dev: Dev, prod: Cluster) -> None:
    created = dev.cluster.emulator.exec(dev.pods["postgres"], ["psql", "-U", "mlflow", "-d", "mlflow", "-c", "CREATE DATABASE mlflow_prod"])
    assert created.returncode == 0, created.stderr
    template = prod.pod_template("Deployment", "mlflow")
    assert prod.find("Deployment", "mlflow")["spec"]["replicas"] == 2
    uri = dev.cluster._data("Secret", "mlops-secrets")["backend-store-uri"].rsplit("/", 1)[0] + "/mlflow_prod"
    # The operator's Secret for this fresh schema: the same keys, a database of its own.
    backend = {"name": "secrets", "secret": {"secretName": "prod-backend"}}
    pod = {**template["spec"], "volumes": [backend if v["name"] == "secrets" else v for v in template["spec"]["volumes"]]}
    prod.docs.append({"kind": "Secret", "metadata": {"name": "prod-backend"}, "stringData": {"backend-store-uri": uri}})
    [init] = pod["initContainers"]
    replicas = [prod.emulator.start(prod.container(pod, init, f"mlflow-7f9c-{r}", prod.downward(f"mlflow-7f9c-{r}", {}, {})))
                for r in ("a1b2c", "d3e4f")]
    finished = [r.wait(240) for r in replicas]
    assert [f.returncode for f in finished] == [0, 0], [f.output[-2000:] for f in finished]
    # The advisory lock lets one replica create the auth schema's users; the other finds them.
    assert sum("created MLflow user 'mlops-jobs'" in f.output for f in finished) == 1, [f.output[-2000:] for f in finished]


def test_prod_indexed_retrain_pods_each_run_their_shard(prod: Cluster) -> None:
    job = prod.find("CronJob", "retrain")["spec"]["jobTemplate"]["spec"]
    template, shards = prod.pod_template("CronJob", "retrain"), job["completions"]
    retrained: dict[int, list[str]] = {}
    for index in range(shards):
        name = f"retrain-{int(SCHEDULED) + 7 * 1440}"  # a week after the dev retrain: a new run key
        [pod] = prod.start_pod(template, f"{name}-{index}-k8x2p", labels={"batch.kubernetes.io/job-name": name},
                               annotations={"batch.kubernetes.io/job-completion-index": str(index)},
                               extra_env=prod.job_index_env(index))
        finished = pod.wait(600)
        assert finished.returncode == 0, f"index {index}:\n{finished.output[-4000:]}"
        retrained[index] = sorted(re.findall(r"^([\w-]+): v\d+ (?:promoted|rejected)", finished.output, flags=re.M))
    # Every model in exactly one pod: the one its stable name hash picks; some shards are empty.
    assert retrained == {i: sorted(m for m in PROD_MODELS if shard_of(m, shards) == i) for i in range(shards)}
    assert any(not models for models in retrained.values()) and any(len(models) > 1 for models in retrained.values())
