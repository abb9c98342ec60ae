"""Rendered Kubernetes objects (`kubectl kustomize` output) as the emulator's containers: what the
kubelet and the Job controller would give each pod (env with `$(VAR)` expansion, downward-API
values, service-link variables, JOB_COMPLETION_INDEX, ConfigMap/Secret/emptyDir/PVC mounts,
security context, limits) and its probes."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path
from typing import Any

from . import Container, Emulator, Running, container_for, quantity, role

REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined names are replaced, others kept, $$ escapes."""
    return REFERENCE.sub(lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


class Cluster:
    def __init__(self, docs: list[dict[str, Any]], emulator: Emulator, state: Path, namespace: str = "mlops") -> None:
        self.docs, self.emulator, self.state, self.namespace = docs, emulator, state, namespace
        self.services = [d for d in docs if d["kind"] == "Service"]

    @staticmethod
    def hosts(docs: list[dict[str, Any]], namespace: str = "mlops") -> list[str]:
        names = [d["metadata"]["name"] for d in docs if d["kind"] == "Service"]
        suffixes = ("", f".{namespace}", f".{namespace}.svc", f".{namespace}.svc.cluster.local")
        return [name + suffix for name in names for suffix in suffixes]

    def find(self, kind: str, name: str) -> dict[str, Any]:
        return next(d for d in self.docs if d["kind"] == kind and d["metadata"]["name"] == name)

    def pod_template(self, kind: str, name: str) -> dict[str, Any]:
        workload = self.find(kind, name)
        if kind == "CronJob":
            return dict(workload["spec"]["jobTemplate"]["spec"]["template"])
        return dict(workload["spec"]["template"])

    def _data(self, kind: str, name: str) -> dict[str, str]:
        obj = self.find(kind, name)
        data = {k: base64.b64decode(v).decode() for k, v in obj.get("data", {}).items()} if kind == "Secret" else dict(obj.get("data", {}))
        return {**data, **obj.get("stringData", {})}

    def _service_links(self) -> dict[str, str]:
        """What enableServiceLinks (default true) puts in every pod's environment."""
        env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
        for number, service in enumerate(self.services, start=10):
            prefix, ip = service["metadata"]["name"].upper().replace("-", "_"), f"10.96.0.{number}"
            first = service["spec"]["ports"][0]
            env.update({f"{prefix}_SERVICE_HOST": ip, f"{prefix}_SERVICE_PORT": str(first["port"]),
                        f"{prefix}_PORT": f"tcp://{ip}:{first['port']}"})
            for port in service["spec"]["ports"]:
                key = f"{prefix}_PORT_{port['port']}_TCP"
                env.update({key: f"tcp://{ip}:{port['port']}", f"{key}_PROTO": "TCP", f"{key}_PORT": str(port["port"]), f"{key}_ADDR": ip})
        return env

    def _mounts(self, pod: dict[str, Any], container: dict[str, Any], pod_name: str) -> list[dict[str, Any]]:
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        mounts = []
        for mount in container.get("volumeMounts", []):
            volume = volumes.get(mount["name"], {"persistentVolumeClaim": {}})  # else a volumeClaimTemplate
            if "configMap" in volume or "secret" in volume:
                kind, source = ("ConfigMap", volume["configMap"]) if "configMap" in volume else ("Secret", volume["secret"])
                data = self._data(kind, source.get("name") or source["secretName"])
                items = {i["path"]: data[i["key"]] for i in source["items"]} if "items" in source else data
                if "subPath" in mount:
                    mounts.append({"kind": "file", "target": mount["mountPath"], "content": items[mount["subPath"]]})
                else:
                    mounts.append({"kind": "files", "target": mount["mountPath"], "files": items})
            elif "emptyDir" in volume:
                mounts.append({"kind": "tmpfs", "target": mount["mountPath"]})
            else:
                claim = self.state / "pvc" / f"{mount['name']}-{pod_name}"
                mounts.append({"kind": "dir", "target": mount["mountPath"], "source": str(claim)})
        return mounts

    def container(self, pod: dict[str, Any], spec: dict[str, Any], pod_name: str, downward: dict[str, str]) -> Container:
        image = role(spec["image"])
        env = {**image.env, **self._service_links(), "HOSTNAME": pod_name}
        for entry in spec.get("env", []):
            if "value" in entry:
                env[entry["name"]] = expand(str(entry["value"]), env)
            elif "fieldRef" in entry.get("valueFrom", {}):
                env[entry["name"]] = downward[entry["valueFrom"]["fieldRef"]["fieldPath"]]
            else:
                ref = entry["valueFrom"].get("secretKeyRef") or entry["valueFrom"]["configMapKeyRef"]
                env[entry["name"]] = self._data("Secret" if "secretKeyRef" in entry["valueFrom"] else "ConfigMap", ref["name"])[ref["key"]]
        if "command" in spec:
            argv = [*spec["command"], *spec.get("args", [])]
        else:
            argv = [*image.entrypoint, *spec.get("args", image.cmd)]
        argv = [expand(a, env) for a in argv]
        security = {**pod.get("securityContext", {}), **spec.get("securityContext", {})}
        uid = security.get("runAsUser", image.uid)
        limits = spec.get("resources", {}).get("limits", {})
        return container_for(
            image, spec["name"], argv, env, uid, security.get("runAsGroup", image.gid),
            mounts=self._mounts(pod, spec, pod_name), read_only=bool(security.get("readOnlyRootFilesystem")),
            fs_group=pod.get("securityContext", {}).get("fsGroup"), workdir=spec.get("workingDir", image.workdir),
            memory=int(quantity(limits["memory"])) if "memory" in limits else None,
            cpu=quantity(limits["cpu"]) if "cpu" in limits else None,
            no_new_privs=security.get("allowPrivilegeEscalation") is False,
        )

    def downward(self, pod_name: str, labels: dict[str, str], annotations: dict[str, str]) -> dict[str, str]:
        values = {"metadata.name": pod_name, "metadata.namespace": self.namespace}
        values.update({f"metadata.labels['{k}']": v for k, v in labels.items()})
        values.update({f"metadata.annotations['{k}']": v for k, v in annotations.items()})
        return values

    def start_pod(self, template: dict[str, Any], pod_name: str, labels: dict[str, str] | None = None,
                  annotations: dict[str, str] | None = None, extra_env: list[dict[str, Any]] | None = None,
                  init_timeout: float = 180) -> list[Running]:
        """Init containers in turn (each must exit 0), then the containers; returns the latter running."""
        pod = template["spec"]
        downward = self.downward(pod_name, {**template["metadata"].get("labels", {}), **(labels or {})}, annotations or {})
        for spec in pod.get("initContainers", []):
            spec = {**spec, "env": [*(extra_env or []), *spec.get("env", [])]}
            finished = self.emulator.run(self.container(pod, spec, pod_name, downward), init_timeout)
            assert finished.returncode == 0, f"{pod_name} init {spec['name']} exited {finished.returncode}:\n{finished.output[-3000:]}"
        running = []
        for spec in pod["containers"]:
            spec = {**spec, "env": [*(extra_env or []), *spec.get("env", [])]}
            running.append(self.emulator.start(self.container(pod, spec, pod_name, downward), hostname=pod_name))
        return running

    def probe(self, running: Running, spec: dict[str, Any], probe: dict[str, Any]) -> bool:
        if "httpGet" in probe:
            port = probe["httpGet"]["port"]
            if isinstance(port, str):
                port = next(p["containerPort"] for p in spec["ports"] if p["name"] == port)
            status, _ = self.emulator.fetch(f"http://127.0.0.1:{port}{probe['httpGet'].get('path', '/')}")
            return 200 <= status < 400
        return self.emulator.exec(running, probe["exec"]["command"]).returncode == 0

    def wait_ready(self, running: Running, spec: dict[str, Any], seconds: float) -> float:
        """Seconds until the readiness probe passed; fails if the container exits first."""
        started = time.monotonic()
        while not self.probe(running, spec, spec["readinessProbe"]):
            if running.proc.poll() is not None or time.monotonic() - started > seconds:
                raise AssertionError(f"{running.container.name} never ready (exit {running.proc.poll()}):\n{running.output[-3000:]}")
            time.sleep(1)
        return time.monotonic() - started

    def job_index_env(self, index: int) -> list[dict[str, Any]]:
        """What the Job controller adds to each container of an Indexed Job's pod."""
        annotation = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        return [{"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {"fieldPath": annotation}}}] if index >= 0 else []
