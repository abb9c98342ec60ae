"""Latency of the operator commands as a person types them: a fresh `python -m mlops` process per
run, against the embedded SQLite store holding a trained model and a few drift checks.

Target (issue 11): `--help`, a usage error, `status`, `leaderboard`, `history`, `config check`
and `drift-history` answer within 1.5 s on this machine. Printed per command: the median of
`--runs` runs, the bare interpreter's start (`python -c pass`) measured in the same run as the
baseline, and the ratio. `--connect` is left out: it waits on the network by design.
Run: `.venv/bin/python bench/cli_latency.py [--runs 5] [--workdir DIR]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

TARGET_SECONDS = 1.5
ROOT = Path(__file__).resolve().parent.parent


def commands(config: Path) -> dict[str, tuple[list[str], int]]:
    """name -> (arguments after `python -m mlops`, the exit code it must end with)."""
    given = ["--config", str(config)]
    return {
        "--help": (["--help"], 0),
        "usage error": ([*given, "retrain", "--model", "nope"], 2),
        "status": ([*given, "status"], 0),
        "leaderboard": ([*given, "leaderboard", "--model", "churn"], 0),
        "history": ([*given, "history", "--model", "churn"], 0),
        "config check": ([*given, "config", "check"], 0),
        "drift-history": ([*given, "drift-history", "--model", "churn"], 0),
    }


def environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLOPS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONWARNINGS"] = "ignore"
    return env


def timed(argv: list[str], cwd: Path, env: dict[str, str], expect: int | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if expect is not None and done.returncode != expect:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}, expected {expect}:\n{done.stderr[-2000:]}")
    return elapsed


def prepare(workdir: Path, env: dict[str, str], checks: int) -> Path:
    """A demo dataset, one promoted model and `checks` daily drift checks (done once, not timed)."""
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    config = workdir / "mlops.yaml"
    if not config.exists():
        sys.path.insert(0, str(ROOT))
        from mlops.jobs.demo import write_demo

        write_demo(workdir, end)
        mlops = [sys.executable, "-m", "mlops", "--config", str(config)]
        timed([*mlops, "retrain", "--model", "churn", "--as-of", f"{end - timedelta(days=30):%Y-%m-%d}"], workdir, env, 0)
        for day in range(checks):
            as_of = end - timedelta(days=checks - 1 - day)
            timed([*mlops, "drift-check", "--model", "churn", "--as-of", f"{as_of:%Y-%m-%d}"], workdir, env, 0)
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per command (the median is printed)")
    parser.add_argument("--checks", type=int, default=5, help="daily drift checks made before timing")
    parser.add_argument("--workdir", type=Path, default=None, help="reuse a prepared folder (made when missing)")
    parser.add_argument("--only", default=None, help="comma-separated command names to time")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the mlops source tree to time (another checkout gives the 'before' figures)")
    args = parser.parse_args()
    env = environment(args.root.resolve())
    with tempfile.TemporaryDirectory() as tmp:
        workdir = (args.workdir or Path(tmp)).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        config = prepare(workdir, environment(ROOT), args.checks)
        bare = statistics.median(timed([sys.executable, "-c", "pass"], workdir, env) for _ in range(args.runs))
        chosen = commands(config)
        if args.only:
            chosen = {k: v for k, v in chosen.items() if k in args.only.split(",")}
        if args.root.resolve() != ROOT:
            chosen.pop("drift-history", None)  # an older tree may not have it
        print(f"code: {args.root.resolve()}")
        print(f"median of {args.runs} runs; target {TARGET_SECONDS:.1f} s; bare interpreter start {bare:.3f} s")
        print(f"{'command':<14} {'seconds':>8} {'x bare':>7}  target")
        worst = 0.0
        for name, (argv, expect) in chosen.items():
            seconds = statistics.median(timed([sys.executable, "-m", "mlops", *argv], workdir, env, expect)
                                        for _ in range(args.runs))
            worst = max(worst, seconds)
            verdict = "ok" if seconds <= TARGET_SECONDS else "SLOW"
            print(f"{name:<14} {seconds:>8.3f} {seconds / bare:>7.1f}  {verdict}")
        print(f"slowest {worst:.3f} s against the {TARGET_SECONDS:.1f} s target")


if __name__ == "__main__":
    main()
