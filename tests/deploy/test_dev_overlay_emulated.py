"""The rendered dev overlay run as written under the deployment emulator: PostgreSQL, MinIO and its
bucket Job, the Pushgateway and MLflow (its migration initContainer, then the server under its
memory and CPU limits, probed as the kubelet would), then each CronJob's pod as its Job would
start it. The Secret holds a password with `@`, `%`, `:` and `/`, percent-encoded in the URIs
as the README says."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

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
    liveness_failures: list[str] = field(default_factory=list)


def dev_secrets(tree: Path) -> None:
    """secrets.env as an operator writes it, with a hostile password percent-encoded in the URIs."""
    encoded = quote(PASSWORD, safe="")
    text = (tree / "overlays" / "dev" / "secrets.env.example").read_text().replace("change-me-postgres@", f"{encoded}@")
    text = text.replace("postgres-password=change-me-postgres", f"postgres-password={PASSWORD}")
    (tree / "overlays" / "dev" / "secrets.env").write_text(text)


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
    try:
        for kind, name, pod in [("StatefulSet", "postgres", "postgres-0"), ("StatefulSet", "minio", "minio-0"),
                                ("Deployment", "pushgateway", "pushgateway-5d8f9c-abcde")]:
            template = cluster.pod_template(kind, name)
            [running] = cluster.start_pod(template, pod)
            cluster.wait_ready(running, template["spec"]["containers"][0], 120)
        bucket = cluster.start_pod(cluster.pod_template("Job", "minio-create-bucket"), "minio-create-bucket-x1")[0].wait(60)
        assert bucket.returncode == 0, bucket.output
        template = cluster.pod_template("Deployment", "mlflow")
        started = time.monotonic()
        [mlflow] = cluster.start_pod(template, "mlflow-6c9d7f-x2k4p")
        spec = template["spec"]["containers"][0]
        cluster.wait_ready(mlflow, spec, 180)
        ready_after = time.monotonic() - started
        result = Dev(cluster, mlflow, spec, ready_after, time.monotonic())
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
        assert dev.cluster.emulator.fetch(url, {"Host": host})[0] == 200, host
