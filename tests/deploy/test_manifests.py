"""Offline validation of the deployment: no cluster or Docker engine runs here, so every
artifact is checked with the tools a reviewer would run, and must pass them cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from .conftest import ROOT, SCHEMAS, objects, tool

# The only checkov skips besides the inline annotations on the drift-check and retrain CronJobs (CKV_K8S_38):
# the dev overlay runs images built or loaded locally by tag (mlops:dev, postgres, minio), so
# they have no registry digest (CKV_K8S_43) and mlops:dev must not be pulled (CKV_K8S_15: pull
# policy Always); prod pins the mlops image by digest, pulls Always, and is checked with both.
DEV_SKIPS = ("CKV_K8S_43", "CKV_K8S_15")


def checkov(target: Path, framework: str, skips: tuple[str, ...] = ()) -> dict:
    command = [tool("checkov"), "-o", "json", "--framework", framework, "-f", str(target)]
    if skips:
        command += ["--skip-check", ",".join(skips)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=target.parent,
                            env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"})
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlays_build_and_validate_strictly(rendered: dict[str, Path], overlay: str) -> None:
    kinds = [o["kind"] for o in objects(rendered[overlay])]
    assert {"Namespace", "CronJob", "Deployment", "Service", "Role", "RoleBinding", "NetworkPolicy", "ConfigMap"} <= set(kinds)
    for version in ("1.33.0", "1.37.0"):
        result = subprocess.run([tool("kubernetes-validate"), "--strict", "--quiet", "-k", version, str(rendered[overlay])],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("overlay", "skips"), [("dev", DEV_SKIPS), ("prod", ())])
def test_checkov_passes_on_rendered_overlays(rendered: dict[str, Path], overlay: str, skips: tuple[str, ...]) -> None:
    summary = checkov(rendered[overlay], "kubernetes", skips)
    failed = summary["results"]["failed_checks"]
    assert not failed, [(f["check_id"], f["resource"]) for f in failed]
    assert summary["summary"]["passed"] > 250
    skipped = {s["check_id"] for s in summary["results"].get("skipped_checks", [])}
    # CKV_K8S_38 (token mounted) on the two CronJobs that call the API, each annotated with why.
    assert skipped == {"CKV_K8S_38"} and summary["summary"]["skipped"] == 2


def test_checkov_and_hadolint_pass_on_the_dockerfile() -> None:
    summary = checkov(ROOT / "Dockerfile", "dockerfile")
    assert not summary["results"]["failed_checks"] and summary["summary"]["passed"] > 30
    result = subprocess.run([tool("hadolint"), "--failure-threshold", "style", str(ROOT / "Dockerfile")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout


def test_compose_file_matches_the_compose_spec() -> None:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    document = yaml.safe_load((ROOT / "docker-compose.mlflow.yml").read_text())
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(document))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    assert {"postgres", "minio", "create-bucket", "mlflow-prepare", "mlflow", "pushgateway", "seed-demo-data", "retrain", "drift-check",
            "predict"} <= set(document["services"])
    for job in ("seed-demo-data", "retrain", "drift-check", "predict"):
        service = document["services"][job]
        assert service["profiles"] == ["jobs"]
        # The jobs' MLflow password and the webhook arrive as compose secrets (files), never as values.
        assert {"mlflow-jobs-password", "mlops-webhook-url"} <= set(service["secrets"])
        assert service["environment"]["MLFLOW_TRACKING_PASSWORD_FILE"] == "/run/secrets/mlflow-jobs-password"
        assert service["environment"]["MLOPS_WEBHOOK_URL_FILE"] == "/run/secrets/mlops-webhook-url"
    # File secrets: compose bind-mounts them; one from `environment:` is copied in, which a read-only root refuses.
    for name in ("mlflow-admin-password", "mlflow-jobs-password", "mlflow-flask-secret-key", "mlops-webhook-url"):
        assert set(document["secrets"][name]) == {"file"}
        assert (ROOT / "deploy" / "compose" / "secrets.example" / name).is_file()


def test_cronjobs_follow_the_contract(rendered: dict[str, Path]) -> None:
    docs = objects(rendered["dev"])
    namespace = next(o for o in docs if o["kind"] == "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    cronjobs = {o["metadata"]["name"]: o for o in docs if o["kind"] == "CronJob"}
    assert cronjobs["drift-check"]["spec"]["schedule"] == "0 3 * * *"
    assert cronjobs["retrain"]["spec"]["schedule"] == "0 4 * * 0"
    assert cronjobs["predict"]["spec"]["schedule"] == "0 5 * * *"
    for cron in cronjobs.values():
        spec, job = cron["spec"], cron["spec"]["jobTemplate"]["spec"]
        assert spec["timeZone"] == "Etc/UTC" and spec["concurrencyPolicy"] == "Forbid"
        rules = job["podFailurePolicy"]["rules"]
        fail_fast = {"containerName": cron["metadata"]["name"], "operator": "In", "values": [2, 3, 70]}
        assert {"action": "FailJob", "onExitCodes": fail_fast} in rules
        assert any(r["action"] == "Ignore" and r["onPodConditions"][0]["type"] == "DisruptionTarget" for r in rules)
        pod = job["template"]["spec"]
        assert pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsUser"] >= 10001
        container = pod["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert not any("secretKeyRef" in str(e.get("valueFrom", "")) for e in container["env"])
        assert {"name": "MLOPS_PUSHGATEWAY_URL", "value": "http://pushgateway:9091"} in container["env"]
        # The jobs' own MLflow user, its password and the webhook as files of the Secret.
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["MLFLOW_TRACKING_USERNAME"] == "mlops-jobs" and "MLFLOW_TRACKING_PASSWORD" not in env
        items = {i["key"]: f"/etc/mlops/secrets/{i['path']}" for v in pod["volumes"] if "secret" in v for i in v["secret"]["items"]}
        assert env["MLFLOW_TRACKING_PASSWORD_FILE"] == items["mlflow-jobs-password"]
        assert env["MLOPS_WEBHOOK_URL_FILE"] == items["webhook-url"]
        assert container["imagePullPolicy"] == "IfNotPresent"  # mlops:dev is loaded into the cluster, never pulled
    tokens = {o["metadata"]["name"]: o.get("automountServiceAccountToken") for o in docs if o["kind"] == "ServiceAccount"}
    assert tokens == {"mlflow": False, "retrain": True, "predict": False, "drift-check": True}
    roles = {o["metadata"]["name"]: o["rules"] for o in docs if o["kind"] == "Role"}
    assert roles["retrain-trigger"] == [
        {"apiGroups": ["batch"], "resources": ["cronjobs"], "resourceNames": ["retrain"], "verbs": ["get"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]},
    ]
    assert roles["promotion-lock"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
    ]
    bindings = {o["metadata"]["name"]: {s["name"] for s in o["subjects"]} for o in docs if o["kind"] == "RoleBinding"}
    assert bindings["promotion-lock"] == {"retrain", "drift-check"}
    prod = {o["metadata"]["name"]: o for o in objects(rendered["prod"]) if o["kind"] == "CronJob"}
    # Every prod job fans out over a fixed shard count, the same in completions and in --shard I/N,
    # with the base CronJob's other args kept; exits 2, 3, 70 fail only their index.
    base_args = {"retrain": ["retrain"], "drift-check": ["drift-check", "--trigger-retrain", "k8s"], "predict": ["predict"]}
    assert prod.keys() == base_args.keys()
    for name, cronjob in prod.items():
        job = cronjob["spec"]["jobTemplate"]["spec"]
        assert job["completionMode"] == "Indexed" and "backoffLimit" not in job and job["backoffLimitPerIndex"] >= 1, name
        shards, args = job["completions"], job["template"]["spec"]["containers"][0]["args"]
        assert args[1:3] == ["--shard", f"$(JOB_COMPLETION_INDEX)/{shards}"], name
        assert [args[0], *args[3:]] == base_args[name]
        assert job["podFailurePolicy"]["rules"][0]["action"] == "FailIndex"
        assert job["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [2, 3, 70]
        assert "@sha256:" in job["template"]["spec"]["containers"][0]["image"]


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_mlflow_server_settings(rendered: dict[str, Path], overlay: str) -> None:
    """Job execution off (else ~2 GiB against the limit), the migrations and users in a guarded
    initContainer (not by every replica's server command), basic-auth on with its secrets as
    files (the users' passwords in the initContainer only), --allowed-hosts keeping MLflow's defaults."""
    deployment = next(o for o in objects(rendered[overlay]) if o["kind"] == "Deployment" and o["metadata"]["name"] == "mlflow")
    pod = deployment["spec"]["template"]["spec"]
    [server], [prepare] = pod["containers"], pod["initContainers"]
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert prepare["command"] == ["python", "/opt/mlops/mlflow/prepare.py"]
    assert server["command"] == ["python", "/opt/mlops/mlflow/serve.py"]
    assert "pg_advisory_lock" in (ROOT / "deploy" / "mlflow" / "prepare.py").read_text()
    assert env["BACKEND_STORE_URI_FILE"].startswith("/etc/mlops/secrets/") and env["MLFLOW_FLASK_SERVER_SECRET_KEY_FILE"]
    assert server["args"][server["args"].index("--allowed-hosts") + 1] == "mlflow,mlflow:*,mlflow.*"
    assert not any("password" in str(m) for m in server["volumeMounts"]) and any(m["name"] == "auth" for m in prepare["volumeMounts"])
    # serve.py adds the hosts to MLflow's defaults and turns the auth app on.
    sys.path.insert(0, str(ROOT / "deploy" / "mlflow"))
    try:
        from serve import server_argv
    finally:
        sys.path.pop(0)
    argv = server_argv(server["args"])
    hosts = argv[argv.index("--allowed-hosts") + 1].split(",")
    assert argv[:4] == ["mlflow", "server", "--app-name", "basic-auth"] and "localhost:*" in hosts and "mlflow.*" in hosts


def test_dev_pushgateway_accepts_prometheus(rendered: dict[str, Path]) -> None:
    policy = next(o for o in objects(rendered["dev"]) if o["kind"] == "NetworkPolicy" and "pushgateway" in o["metadata"]["name"])
    sources = policy["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}} in sources
