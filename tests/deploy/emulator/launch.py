"""Container start-up, run as root inside the emulator's network namespace (`ip netns exec`,
which also gives this process a mount namespace of its own):

1. an overlay of the host's root with a throwaway upper layer, so the "image" can be read and
   the container's writes never reach the host;
2. /etc/hosts mapping the service names, the declared files (ConfigMap/Secret items, compose
   bind mounts) and the writable volumes (emptyDir, tmpfs, named volumes) mounted over it;
3. the root remounted read-only when the container declares it;
4. the process joins its memory and CPU cgroups, chroots, and execs the command through
   `setpriv` as the declared UID/GID (no passwd entry), no new privileges, no capabilities.

Usage: launch.py SPEC.json (written by tests/deploy/emulator/__init__.py). It joins the cgroups
first (`ip netns exec` remounts /sys, hiding them), then re-runs itself in the namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True)


def write(path: Path, content: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    path.chmod(mode)


def inside(root: Path, path: str) -> Path:
    """PATH in the container's root, following symlinks as the chrooted process would (/var/run -> /run)."""
    resolved = root
    parts = [p for p in path.split("/") if p]
    hops = 0
    while parts:
        part = parts.pop(0)
        candidate = resolved / part
        if candidate.is_symlink() and hops < 40:
            hops += 1
            link = os.readlink(candidate)
            parts = [p for p in link.split("/") if p] + parts
            resolved = root if link.startswith("/") else resolved
        elif part == "..":
            resolved = resolved.parent if resolved != root else root
        else:
            resolved = candidate
    return resolved


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    if os.environ.get("MLOPS_EMULATOR_STAGE") != "namespaced":
        for cgroup in spec["cgroups"]:
            Path(cgroup, "cgroup.procs").write_text(str(os.getpid()))
        os.environ["MLOPS_EMULATOR_STAGE"] = "namespaced"
        os.execvp("ip", ["ip", "netns", "exec", spec["netns"], sys.executable, __file__, spec_path])  # noqa: S606
    scratch = Path(spec["scratch"])
    scratch.mkdir(parents=True, exist_ok=True)
    sh("mount", "--make-rprivate", "/")
    sh("mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", str(scratch))
    for sub in ("upper", "work", "root"):
        (scratch / sub).mkdir()
    root = scratch / "root"
    sh("mount", "-t", "overlay", "overlay", "-o", f"lowerdir=/,upperdir={scratch}/upper,workdir={scratch}/work", str(root))
    for special in ("proc", "dev", "sys"):
        sh("mount", "--rbind", f"/{special}", str(root / special))
    sh("mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs", str(root / "dev" / "shm"))

    write(inside(root, "/etc/hosts"), "".join(f"127.0.0.1\t{name}\n" for name in ["localhost", *spec["hosts"]]), 0o644)
    write(root / "etc" / "hostname", spec["hostname"] + "\n", 0o644)
    for line in spec.get("passwd", []):  # the official postgres image's nss_wrapper, as a file
        with (root / "etc" / "passwd").open("a") as passwd:
            passwd.write(line + "\n")
    uid, gid = spec["uid"], spec["gid"]
    for path in spec.get("traversable", []):  # the image's interpreter is readable by any user
        for folder in Path(path).parents:
            seen = root / str(folder).lstrip("/")
            seen.chmod(seen.stat().st_mode | 0o005)
    for mount in spec["mounts"]:
        target = inside(root, mount["target"])
        kind = mount["kind"]
        if kind == "file":  # a subPath item or a single-file bind mount
            write(target, mount["content"], 0o644)
            continue
        if kind == "bind" and Path(mount["source"]).is_file():  # a host file, its owner and mode kept (compose secrets)
            write(target, "", 0o644)
            sh("mount", "--bind", mount["source"], str(target))
            if mount.get("readonly"):
                sh("mount", "-o", "remount,ro,bind", str(target))
            continue
        target.mkdir(parents=True, exist_ok=True)
        if kind == "tmpfs":  # emptyDir, compose tmpfs
            sh("mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs", str(target))
            os.chown(target, 0, spec["fs_group"] if spec["fs_group"] is not None else 0)
        elif kind == "dir":  # a persistent volume (PVC, named volume): the kubelet hands it over owned by fsGroup
            source = Path(mount["source"])
            source.mkdir(parents=True, exist_ok=True)
            if not any(source.iterdir()):
                os.chown(source, uid, spec["fs_group"] if spec["fs_group"] is not None else gid)
            sh("mount", "--bind", str(source), str(target))
        elif kind == "files":  # a ConfigMap/Secret volume: a tmpfs holding exactly its items
            sh("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(target))
            for name, content in mount["files"].items():
                write(target / name, content, 0o644)
            sh("mount", "-o", "remount,ro,bind", str(target))
        elif kind == "bind":  # a compose bind mount of a host folder
            sh("mount", "--bind", mount["source"], str(target))
            if mount.get("readonly"):
                sh("mount", "-o", "remount,ro,bind", str(target))
    # The stand-in image's own files (the Python environment, this checkout) stay visible when a
    # declared volume covers the host folder they live in (a checkout under /tmp, say).
    targets = [m["target"].rstrip("/") + "/" for m in spec["mounts"]]
    for path in spec.get("traversable", []):
        if any((path.rstrip("/") + "/").startswith(t) for t in targets):
            folder = inside(root, path)
            folder.mkdir(parents=True, exist_ok=True)
            sh("mount", "--bind", path, str(folder))
            sh("mount", "-o", "remount,ro,bind", str(folder))
    workdir = inside(root, spec["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    if spec["read_only"]:
        sh("mount", "-o", "remount,ro", str(root))

    os.chroot(root)
    os.chdir(spec["workdir"])
    setpriv = ["/usr/bin/setpriv"]
    if uid != 0:
        groups = [f"--groups={spec['fs_group']}"] if spec["fs_group"] is not None else ["--clear-groups"]
        setpriv += [f"--reuid={uid}", f"--regid={gid}", *groups, "--inh-caps=-all", "--bounding-set=-all"]
    if spec["no_new_privs"]:
        setpriv.append("--no-new-privs")
    os.execve(setpriv[0], [*setpriv, "--", *spec["argv"]], spec["env"])  # noqa: S606 - the container's argv


if __name__ == "__main__":
    main(sys.argv[1])
