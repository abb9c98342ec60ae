"""The image's own entrypoint, as `docker run` starts it: WORKDIR, USER and ENTRYPOINT read from
the Dockerfile, under the deployment emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import emulator_ready
from .emulator import Emulator, container_for, role

pytestmark = pytest.mark.emulator


def test_docker_run_image_demo_on_a_read_only_root(tmp_path: Path) -> None:
    """`docker run --read-only --tmpfs /tmp IMAGE demo`: the WORKDIR cannot be written, the demo
    says so and writes under /tmp instead of failing with an internal error."""
    emulator_ready()
    image = role("mlops:dev")
    container = container_for(image, "demo", [*image.entrypoint, "demo"], dict(image.env), image.uid, image.gid,
                              mounts=[{"kind": "tmpfs", "target": "/tmp"}], read_only=True, workdir=image.workdir)
    emulator = Emulator(tmp_path, hosts=[])
    try:
        finished = emulator.run(container, timeout=240)
    finally:
        emulator.close()
    assert finished.returncode == 0, finished.output[-3000:]
    assert f"{image.workdir} is not writable: writing the demo to /tmp/mlops-demo" in finished.output
    assert image.uid == 10001 and image.workdir == "/work"
