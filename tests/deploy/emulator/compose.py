"""A compose file as the emulator's containers: interpolation from an env file (plus overrides, as
the shell environment overrides .env), services resolved to Containers (their `secrets` as the
top-level secret's `file` bind-mounted read-only under /run/secrets, as compose does), `up` in depends_on
order with healthchecks, and `run` for the one-shot jobs (`docker compose run --rm`)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import yaml

from . import Container, Emulator, Finished, Running, container_for, quantity, role

VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)")


def env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, $$ -> $."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3)
        current = env.get(name)
        unset = current is None or (operator is not None and operator.startswith(":") and current == "")
        if operator in ("-", ":-") and unset:
            return argument or ""
        if operator in ("?", ":?") and unset:
            raise ValueError(f"required variable {name} is missing a value: {argument}")
        return current or ""

    return VARIABLE.sub(one, value)


def document(path: Path, env: dict[str, str]) -> dict[str, Any]:
    """The compose file after interpolation."""
    loaded: dict[str, Any] = interpolate(yaml.safe_load(path.read_text()), env)
    return loaded


def load(path: Path, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The compose file's services after interpolation."""
    services: dict[str, dict[str, Any]] = document(path, env)["services"]
    return services


class Compose:
    def __init__(self, path: Path, env: dict[str, str], emulator: Emulator, state: Path) -> None:
        loaded = document(path, env)
        self.services, self.secrets = loaded["services"], loaded.get("secrets", {})
        self.env = env
        self.directory, self.emulator, self.state = path.parent, emulator, state
        self.running: dict[str, Running] = {}

    def container(self, name: str) -> Container:
        service = self.services[name]
        image = role(service["image"])
        entrypoint = service.get("entrypoint", image.entrypoint)
        command = service.get("command", image.cmd if "entrypoint" not in service else [])
        environment = service.get("environment", {})
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        env = {**image.env, **{k: str(v) for k, v in environment.items()}, "HOSTNAME": name}
        mounts: list[dict[str, Any]] = [{"kind": "tmpfs", "target": path} for path in service.get("tmpfs", [])]
        for volume in service.get("volumes", []):
            source, target, *options = volume.split(":")
            if source.startswith((".", "/")):
                host = (self.directory / source).resolve()
                if host.is_file():
                    mounts.append({"kind": "file", "target": target, "content": host.read_text()})
                else:
                    mounts.append({"kind": "bind", "target": target, "source": str(host), "readonly": "ro" in options})
            else:
                mounts.append({"kind": "dir", "target": target, "source": str(self.state / "volumes" / source)})
        for entry in service.get("secrets", []):
            source = entry if isinstance(entry, str) else entry["source"]
            target = source if isinstance(entry, str) else entry.get("target", source)
            target = target if target.startswith("/") else f"/run/secrets/{target}"
            definition = self.secrets[source]
            if "file" not in definition:  # `environment:` secrets are copied into the container: a read-only root refuses
                raise ValueError(f"secret {source}: only `file:` secrets are emulated (bind-mounted read-only)")
            host = (self.directory / definition["file"]).resolve()
            mounts.append({"kind": "bind", "target": target, "source": str(host), "readonly": True})
        uid, gid = image.uid, image.gid
        if "user" in service:
            user, _, group = str(service["user"]).partition(":")
            uid, gid = int(user), int(group or user)
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        memory = limits.get("memory", service.get("mem_limit"))
        cpus = limits.get("cpus", service.get("cpus"))
        return container_for(image, name, [*entrypoint, *command], env, uid, gid, mounts=mounts,
                         read_only=bool(service.get("read_only")), workdir=service.get("working_dir", image.workdir),
                         memory=int(quantity(memory)) if memory else None, cpu=float(cpus) if cpus else None,
                         no_new_privs="no-new-privileges:true" in service.get("security_opt", []))

    def healthy(self, name: str) -> bool:
        test = self.services[name].get("healthcheck", {}).get("test")
        if test is None:
            return self.running[name].proc.poll() is None
        argv = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
        return self.emulator.exec(self.running[name], argv).returncode == 0

    def dependencies(self, name: str, timeout: float) -> None:
        """Start what NAME depends on and wait until each reached its declared condition."""
        for dependency, condition in self.services[name].get("depends_on", {}).items():
            started, state = self.up(dependency, timeout), condition["condition"]
            deadline = time.monotonic() + timeout
            while True:
                exited = started.proc.poll() is not None
                if state == "service_completed_successfully" and exited:
                    assert started.proc.returncode == 0, f"{dependency} exited {started.proc.returncode}:\n{started.output[-3000:]}"
                    break
                if exited and state != "service_completed_successfully":
                    raise AssertionError(f"{dependency} exited {started.proc.returncode}:\n{started.output[-3000:]}")
                if state == "service_started" or (state == "service_healthy" and self.healthy(dependency)):
                    break
                assert time.monotonic() < deadline, f"{dependency} not {state} after {timeout} s:\n{started.output[-3000:]}"
                time.sleep(1)

    def up(self, name: str, timeout: float = 180) -> Running:
        """`docker compose up NAME`: its dependencies first, each to its declared condition."""
        if name not in self.running:
            self.dependencies(name, timeout)
            self.running[name] = self.emulator.start(self.container(name), hostname=name)
        return self.running[name]

    def run(self, name: str, *command: str, timeout: float = 300) -> Finished:
        """`docker compose run --rm NAME [COMMAND...]`: dependencies up, then the one-shot container."""
        self.dependencies(name, 180)
        container = self.container(name)
        if command:
            container.argv = [*self.services[name].get("entrypoint", role(self.services[name]["image"]).entrypoint), *command]
        return self.emulator.run(container, timeout)
