"""The deployment emulator: compose services and rendered Kubernetes pods run as local processes
under the constraints their files declare, read from those files, never restated here.

What a container gets (see launch.py for how): its command line resolved from the file and the
image's ENTRYPOINT/CMD, its environment (downward-API values as the kubelet fills them), its
declared files at their mount paths, a read-only root with only the declared writable volumes,
the declared UID/GID with no passwd entry, memory and CPU limits enforced by a cgroup (v1),
and one private network namespace per stack whose /etc/hosts maps the service names.

Images stand in by role: the mlops image is this checkout on the test run's Python environment
(ENV, WORKDIR, USER, ENTRYPOINT read from the Dockerfile); postgres is the machine's PostgreSQL
binaries behind the official image's init semantics (roles/postgres-entrypoint.sh); MinIO is
moto's S3 server (roles/minio.py), `mc` a small S3 client (roles/bin/mc); the Pushgateway is
Debian's binary with the official image's in-memory default."""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
ROLES = Path(__file__).resolve().parent / "roles"
LAUNCH = Path(__file__).resolve().parent / "launch.py"
CGROUP_V1 = Path("/sys/fs/cgroup")
STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def unavailable() -> str | None:
    """Why this kernel or user cannot run the emulator, or None."""
    if os.geteuid() != 0:
        return "the deployment emulator needs root (mount and network namespaces, cgroups)"
    if not (CGROUP_V1 / "memory" / "memory.limit_in_bytes").exists() or not (CGROUP_V1 / "cpu" / "cpu.cfs_quota_us").exists():
        return "the deployment emulator needs cgroup v1 memory and cpu controllers at /sys/fs/cgroup"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the deployment emulator needs overlayfs"
    return None


@dataclass(frozen=True)
class Image:
    """What a container inherits from its image."""

    entrypoint: list[str]
    cmd: list[str]
    env: dict[str, str]
    workdir: str = "/"
    uid: int = 0
    gid: int = 0
    nss_wrapper: bool = False  # the image gives an arbitrary UID a passwd entry (official postgres)
    copied: tuple[tuple[str, str], ...] = ()  # (host path, image path) of the final stage's COPY lines


PYTHON_PATHS = [sys.base_prefix, sys.prefix, str(ROOT)]


def dockerfile_image(dockerfile: Path) -> Image:
    """ENV, WORKDIR, USER, ENTRYPOINT, CMD and COPY (from the build context, not --from another
    stage) of the Dockerfile's final stage (ARG defaults applied)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    stages = re.split(r"^FROM .*$", text, flags=re.M)
    args: dict[str, str] = {}
    env: dict[str, str] = {}
    image: dict[str, Any] = {"entrypoint": [], "cmd": [], "workdir": "/", "user": "0:0"}
    copied: list[tuple[str, str]] = []
    for line in stages[-1].splitlines():
        keyword, _, rest = line.strip().partition(" ")
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif keyword == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), value)
        elif keyword in ("ENTRYPOINT", "CMD"):
            image[keyword.lower()] = json.loads(rest)
        elif keyword == "WORKDIR":
            image["workdir"] = rest.strip()
        elif keyword == "USER":
            image["user"] = rest.strip()
        elif keyword == "COPY" and not rest.startswith("--from"):
            source, target = rest.split()
            copied.append((str(dockerfile.parent / source), target))
    uid, _, gid = image["user"].partition(":")
    return Image(image["entrypoint"], image["cmd"], env, image["workdir"], int(uid), int(gid or uid), copied=tuple(copied))


def pg_bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return str(Path(found[-1]).parent) if found else "/usr/lib/postgresql/15/bin"


def role(image_ref: str) -> Image:
    """The stand-in for an image reference, by the last component of its repository name."""
    repository = image_ref.split("@")[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository.rsplit(":", 1)[0]
    name = repository.rsplit("/", 1)[-1]
    python = sys.executable
    if name == "mlops":
        image = dockerfile_image(ROOT / "Dockerfile")
        # The image installs this checkout; here it is the test run's environment plus the checkout.
        env = {**image.env, "PATH": f"{Path(python).parent}:{STANDARD_PATH}", "PYTHONPATH": str(ROOT)}
        return replace(image, env=env)
    if name == "postgres":  # official image: runs as the postgres user, PGDATA under /var/lib/postgresql
        import pwd

        user = pwd.getpwnam("postgres")
        return Image([str(ROLES / "postgres-entrypoint.sh")], ["postgres"],
                     {"PATH": f"{pg_bindir()}:{STANDARD_PATH}", "PGDATA": "/var/lib/postgresql/data", "LANG": "C.UTF-8"},
                     "/", user.pw_uid, user.pw_gid, nss_wrapper=True)
    if name == "minio":
        return Image([python, str(ROLES / "minio.py")], [], {"PATH": f"{ROLES / 'bin'}:{STANDARD_PATH}"}, "/")
    if name == "mc":
        return Image(["mc"], [], {"PATH": f"{ROLES / 'bin'}:{STANDARD_PATH}"}, "/")
    if name == "pushgateway":  # the official image keeps series in memory only
        binary = shutil.which("prometheus-pushgateway") or "prometheus-pushgateway"
        return Image([binary, "--persistence.file="], [], {"PATH": STANDARD_PATH}, "/", 65534, 65534)
    raise ValueError(f"no stand-in for image {image_ref}")


def container_for(image: Image, name: str, argv: list[str], env: dict[str, str], uid: int, gid: int, **rest: Any) -> Container:
    """A container of this image: its interpreter readable by the UID, its passwd entry if the image adds one."""
    import pwd

    passwd = []
    if image.nss_wrapper and uid not in {u.pw_uid for u in pwd.getpwall()}:
        passwd.append(f"postgres:x:{uid}:{gid}:PostgreSQL:/var/lib/postgresql:/bin/sh")
    # The image's own files (COPY) come first: the declared volumes are mounted over them.
    baked = [{"kind": "bind", "target": target, "source": source, "readonly": True} for source, target in image.copied]
    rest["mounts"] = [*baked, *rest.get("mounts", [])]
    return Container(name=name, argv=argv, env=env, uid=uid, gid=gid, passwd=passwd, traversable=PYTHON_PATHS, **rest)


@dataclass
class Container:
    name: str
    argv: list[str]
    env: dict[str, str]
    mounts: list[dict[str, Any]] = field(default_factory=list)
    read_only: bool = False
    uid: int = 0
    gid: int = 0
    fs_group: int | None = None
    memory: int | None = None  # bytes
    cpu: float | None = None  # cores
    workdir: str = "/"
    no_new_privs: bool = False
    passwd: list[str] = field(default_factory=list)
    # Host folders the stand-in image needs readable by any UID (a Python under /root, say).
    traversable: list[str] = field(default_factory=list)


def quantity(value: str | int | float) -> float:
    """A Kubernetes/compose resource quantity (512Mi, 1Gi, 2g, 500m, 1.5) as a number."""
    text = str(value)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
             "m": 1e-3, "b": 1, "kb": 2**10, "mb": 2**20, "gb": 2**30, "g": 2**30}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", text)
    if not match:
        raise ValueError(f"bad quantity {value!r}")
    number, unit = match.groups()
    return float(number) * (units[unit] if unit else 1)


class Finished:
    def __init__(self, returncode: int, output: str, peak_memory: int, oom_kills: int) -> None:
        self.returncode, self.output, self.peak_memory, self.oom_kills = returncode, output, peak_memory, oom_kills


class Running:
    def __init__(self, container: Container, proc: subprocess.Popen[bytes], log: Path, cgroups: list[Path]) -> None:
        self.container, self.proc, self.log, self.cgroups = container, proc, log, cgroups

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def peak_memory(self) -> int:
        return int((self.cgroups[0] / "memory.max_usage_in_bytes").read_text())

    def oom_kills(self) -> int:
        stats = dict(line.split() for line in (self.cgroups[0] / "memory.oom_control").read_text().splitlines())
        return int(stats.get("oom_kill", 0))

    def pids(self) -> list[int]:
        return [int(p) for p in (self.cgroups[0] / "cgroup.procs").read_text().split()]

    def stop(self, grace: float = 10) -> None:
        """SIGTERM to the main process, as the kubelet/docker do, then SIGKILL to what is left."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for _ in range(50):
            left = self.pids()
            if not left:
                return
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)

    def wait(self, timeout: float) -> Finished:
        try:
            returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(grace=5)
            raise AssertionError(f"{self.container.name} still running after {timeout} s:\n{self.output[-3000:]}") from None
        self.stop()
        return Finished(returncode, self.output, self.peak_memory(), self.oom_kills())


class Emulator:
    """One stack: a network namespace whose /etc/hosts maps `hosts`, a cgroup parent, a state dir."""

    def __init__(self, state: Path, hosts: list[str]) -> None:
        self.state, self.hosts = state, hosts
        self.tag = f"mlops-emu-{os.getpid()}-{state.name}"[:60]
        self.running: list[Running] = []
        self._count = 0
        subprocess.run(["ip", "netns", "add", self.tag], check=True, capture_output=True)
        subprocess.run(["ip", "-n", self.tag, "link", "set", "lo", "up"], check=True, capture_output=True)
        # `ip netns exec` (the test's own requests) mounts this over /etc/hosts; containers get their own copy.
        self.etc = Path("/etc/netns") / self.tag
        self.etc.mkdir(parents=True)
        (self.etc / "hosts").write_text("".join(f"127.0.0.1\t{name}\n" for name in ["localhost", *hosts]))
        for controller in ("memory", "cpu"):
            (CGROUP_V1 / controller / self.tag).mkdir()

    def _cgroups(self, container: Container) -> list[Path]:
        self._count += 1
        name = f"{container.name}-{self._count}"
        memory, cpu = CGROUP_V1 / "memory" / self.tag / name, CGROUP_V1 / "cpu" / self.tag / name
        memory.mkdir()
        cpu.mkdir()
        if container.memory:
            (memory / "memory.limit_in_bytes").write_text(str(container.memory))
        if container.cpu:
            (cpu / "cpu.cfs_period_us").write_text("100000")
            (cpu / "cpu.cfs_quota_us").write_text(str(int(container.cpu * 100000)))
        return [memory, cpu]

    def start(self, container: Container, hostname: str | None = None) -> Running:
        cgroups = self._cgroups(container)
        box = self.state / f"{container.name}-{self._count}"
        box.mkdir(parents=True)
        spec = {"netns": self.tag, "scratch": str(box / "fs"), "hosts": self.hosts, "hostname": hostname or container.name,
                "argv": container.argv, "env": container.env, "mounts": container.mounts, "read_only": container.read_only,
                "uid": container.uid, "gid": container.gid, "fs_group": container.fs_group, "workdir": container.workdir,
                "no_new_privs": container.no_new_privs, "passwd": container.passwd, "traversable": container.traversable,
                "cgroups": [str(c) for c in cgroups]}
        (box / "spec.json").write_text(json.dumps(spec))
        log = box / "output.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, str(LAUNCH), str(box / "spec.json")],
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        running = Running(container, proc, log, cgroups)
        self.running.append(running)
        return running

    def run(self, container: Container, timeout: float = 300) -> Finished:
        return self.start(container).wait(timeout)

    def exec(self, running: Running, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """`docker exec` / an exec probe: the container's namespaces, root, user and environment."""
        c = running.container
        user = [] if c.uid == 0 else [f"--reuid={c.uid}", f"--regid={c.gid}", "--clear-groups"]
        command = ["nsenter", "-t", str(running.proc.pid), "-m", "-n", "-r", "-w", "/usr/bin/setpriv", *user, "--", *argv]
        return subprocess.run(command, env=c.env, capture_output=True, text=True, timeout=timeout, check=False)

    def fetch(self, url: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> tuple[int, str]:
        """An HTTP request from inside the stack's network (status, body); status 0 when unreachable."""
        script = ("import sys,json,urllib.request,urllib.error\n"
                  "a=json.loads(sys.argv[1])\n"
                  "r=urllib.request.Request(a['url'],headers=a['headers'],data=a['data'].encode() if a['data'] is not None else None)\n"
                  "try:\n  resp=urllib.request.urlopen(r,timeout=5); print(resp.status); print(resp.read().decode())\n"
                  "except urllib.error.HTTPError as e: print(e.code); print(e.read().decode())\n"
                  "except OSError as e: print(0); print(e)\n")
        payload = json.dumps({"url": url, "headers": headers or {}, "data": data.decode() if data is not None else None})
        result = subprocess.run(["ip", "netns", "exec", self.tag, sys.executable, "-c", script, payload],
                                capture_output=True, text=True, timeout=30, check=False)
        status, _, body = result.stdout.partition("\n")
        return int(status or 0), body

    def wait_for(self, url: str, running: Running, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.fetch(url)[0] != 200:
            if running.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{running.container.name} not answering {url}:\n{running.output[-3000:]}")
            time.sleep(1)

    def close(self) -> None:
        for running in reversed(self.running):
            running.stop(grace=5)
        subprocess.run(["ip", "netns", "delete", self.tag], capture_output=True, check=False)
        shutil.rmtree(self.etc, ignore_errors=True)
        for controller in ("memory", "cpu"):
            parent = CGROUP_V1 / controller / self.tag
            for child in parent.glob("*/"):
                child.rmdir()
            parent.rmdir()
