"""Run `mlops` with faults planted at chosen calls: the job process itself is real, and dies,
pauses or raises exactly where a test says.

    MLOPS_TEST_FAULTS='[{"at": "mlops.tracking.client:Tracking.register", "when": "after", "action": "kill"}]' \\
        python tests/faults/inject.py --config ... retrain --model churn

Each fault: `at` (module:attribute path of a function or method), `when` (before | after the
call), `action` (kill: SIGKILL this process, a crash with no cleanup; pause: create
`<dir>/<name>.paused` and wait for `<dir>/<name>.go`; raise: raise RuntimeError, a defect;
unavailable: raise ServiceUnavailable, an outage),
`call` (the n-th matching call, default 1), `match` (only calls whose arguments' text holds it).
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any


def _act(fault: dict[str, Any]) -> None:
    action = fault["action"]
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "raise":
        raise RuntimeError(f"planted defect at {fault['at']}")
    elif action == "unavailable":
        from mlops.errors import ServiceUnavailable

        raise ServiceUnavailable(f"planted outage at {fault['at']}")
    elif action == "pause":
        folder = Path(fault["dir"])
        (folder / f"{fault['name']}.paused").touch()
        deadline = time.monotonic() + 300
        while not (folder / f"{fault['name']}.go").exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"fault {fault['name']}: never released")
            time.sleep(0.05)


def _plant(fault: dict[str, Any]) -> None:
    module_name, attribute = fault["at"].split(":")
    owner: Any = importlib.import_module(module_name)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    seen = {"calls": 0}

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        hit = fault.get("match") is None or fault["match"] in repr((args, kwargs))
        if hit:
            seen["calls"] += 1
        armed = hit and seen["calls"] == fault.get("call", 1)
        if armed and fault.get("when", "before") == "before":
            _act(fault)
        result = original(*args, **kwargs)
        if armed and fault.get("when") == "after":
            _act(fault)
        return result

    setattr(owner, name, wrapper)


def main() -> None:
    for fault in json.loads(os.environ.get("MLOPS_TEST_FAULTS", "[]")):
        _plant(fault)
    from mlops.cli import main as cli

    sys.argv[0] = "mlops"
    cli()


if __name__ == "__main__":
    main()
