from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services import need_tool

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).resolve().parent / "schemas"  # vendored, Apache-2.0 (compose-spec.LICENSE)


def emulator_ready() -> None:
    """Skip (fail under CI=true) where the kernel or user cannot run the deployment emulator."""
    from .emulator import unavailable

    for name in ("ip", "setpriv", "nsenter"):
        need_tool(name)
    reason = unavailable()
    if reason:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


def tool(name: str) -> str:
    """The validation tools live in .venv-tools (requirements-tools.txt), installed by `make test`."""
    directory = Path(os.environ.get("MLOPS_TOOLS_BIN", ROOT / ".venv-tools" / "bin"))
    path = directory / name
    return need_tool(name, str(path) if path.exists() else None)


def copy_k8s(tree: Path) -> Path:
    """A copy of k8s/ with the dev overlay's example secrets in place, as an operator prepares it."""
    shutil.copytree(ROOT / "k8s", tree, ignore=shutil.ignore_patterns("secrets.env", "aws-credentials"))
    dev = tree / "overlays" / "dev"
    shutil.copy(dev / "secrets.env.example", dev / "secrets.env")
    shutil.copy(dev / "aws-credentials.example", dev / "aws-credentials")
    return tree


def render(tree: Path, overlay: str) -> Path:
    """`kubectl kustomize` of one overlay, written beside the tree."""
    result = subprocess.run([tool("kubectl"), "kustomize", str(tree / "overlays" / overlay)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    path = tree.parent / f"{overlay}.yaml"
    path.write_text(result.stdout)
    return path


@pytest.fixture(scope="session")
def k8s_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_k8s(tmp_path_factory.mktemp("k8s") / "k8s")


@pytest.fixture(scope="module")
def k8s_tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tree of this module's own, for tests that change the operator's files (secrets, models)."""
    return copy_k8s(tmp_path_factory.mktemp("k8s-own") / "k8s")


@pytest.fixture(scope="session")
def rendered(k8s_tree: Path) -> dict[str, Path]:
    return {overlay: render(k8s_tree, overlay) for overlay in ("dev", "prod")}


def objects(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
