"""The `mlops` command: parse, load the config, call a job, turn its outcome into an exit code."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import yaml

from mlops import __version__
from mlops.errors import GATE_REJECTED, INTERNAL_ERROR, MlopsError, Terminated
from mlops.logs import configure_logging, log_fields, printed_lines

if TYPE_CHECKING:  # --help and click's usage errors import no pydantic models and no prometheus client
    from mlops.config import Config, ModelConfig
    from mlops.metrics import JobMetrics
    from mlops.notify import Notice
    from mlops.tracking import Tracking
    from mlops.tracking.reader import Reader

log = logging.getLogger("mlops")
DATE = click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"])


class State:
    def __init__(self, config_path: str | None, verbose: bool, log_format: str = "text") -> None:
        self.config_path = config_path
        self.verbose = verbose
        self.json_logs = log_format == "json"
        self._config: Config | None = None
        self._tracking: Tracking | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from mlops.config import load_config, resolve_path

            self._config = load_config(resolve_path(self.config_path))
        return self._config

    @property
    def tracking(self) -> Tracking:
        """The process's one MLflow client, its HTTP waits bounded by the config's timeouts."""
        if self._tracking is None:
            from mlops.tracking import Tracking, configure_http

            configure_http(self.config.timeouts)
            self._tracking = Tracking(self.config.tracking)
        return self._tracking

    @property
    def reader(self) -> Reader:
        """For the read-only views: MLflow's tables read directly where that is safe (no mlflow
        import, see mlops.tracking.reader), else the one MLflow client."""
        from mlops.tracking.reader import open_reader

        if self._tracking is not None:
            return self._tracking
        from mlops.tracking import configure_http

        configure_http(self.config.timeouts)  # credentials from their files, as for MLflow's client
        return open_reader(self.config.tracking, self.config.timeouts) or self.tracking

    def notify(self, notice: Notice | None) -> None:
        """Tell the webhook, if one is configured; never fails (mlops.notify)."""
        if notice is None or self._config is None:
            return
        from mlops.notify import send

        send(self._config.notifications, notice)


class MlopsGroup(click.Group):
    """Every command's failure becomes one line on stderr and the exit code SPEC §3 names."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Terminated:
            log.error("stopped by SIGTERM")
            sys.exit(Terminated.exit_code)
        except MlopsError as exc:
            _fail(ctx, exc, str(exc), exc.exit_code)
        except Exception as exc:  # a defect in mlops: exit 70, which Kubernetes does not retry
            _fail(ctx, exc, internal_error(exc), INTERNAL_ERROR)


def internal_error(exc: BaseException) -> str:
    first = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"internal error (a defect in mlops, please report it with --verbose output): {type(exc).__name__}: {first}"


def _fail(ctx: click.Context, exc: BaseException, message: str, code: int) -> None:
    _error_line(ctx.find_object(State), f"error: {message}", exc)
    sys.exit(code)


def _error_line(state: State | None, line: str, exc: BaseException | None) -> None:
    """One line on stderr (one JSON object in JSON mode); `--verbose` adds the traceback."""
    verbose = state is not None and state.verbose
    if state is not None and state.json_logs:
        log.error("%s", line, exc_info=exc if verbose and exc is not None else None, extra={"outcome": "failed"})
        return
    if verbose and exc is not None:
        traceback.print_exception(exc, file=sys.stderr)
    click.echo(line, err=True)


@click.group(cls=MlopsGroup)
@click.option("--config", "config_path", metavar="PATH", help="Config file (else $MLOPS_CONFIG, ./mlops.yaml, /etc/mlops/config.yaml).")
@click.option("--verbose", is_flag=True, help="Debug logging and tracebacks on errors.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
              help="Log format (default: json inside Kubernetes, else text).")
@click.version_option(__version__, prog_name="mlops")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: bool, log_format: str | None) -> None:
    """Keep tabular classification models healthy in production, on MLflow."""
    fmt = log_format or ("json" if os.environ.get("KUBERNETES_SERVICE_HOST") else "text")
    configure_logging(fmt, verbose)
    ctx.obj = State(config_path, verbose, fmt)


class _Shard(click.ParamType[tuple[int, int]]):
    """`I/N`; `I` left out (`/N`) takes $JOB_COMPLETION_INDEX, as in an Indexed Job's pod."""

    name = "I/N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        index, _, count = str(value).partition("/")
        index = index or os.environ.get("JOB_COMPLETION_INDEX", "")
        if not (index.isdigit() and count.isdigit()) or not int(index) < int(count):
            self.fail(f"{value!r} is not a shard I/N with 0 <= I < N (I defaults to $JOB_COMPLETION_INDEX)", param, ctx)
        return int(index), int(count)


def _job_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--as-of", type=DATE, default=None, help="End of the data windows (default: today, UTC).")(func)
    func = click.option("--shard", type=_Shard(), default=None,
                        help="The models whose name hashes into shard I of N (an Indexed Job of N completions).")(func)
    func = click.option("--all", "all_models", is_flag=True, help="Every configured model.")(func)
    func = click.option("--model", "name", metavar="NAME", help="One configured model.")(func)
    return func


# Severity of a model's exit code when several models fail in one run: the highest wins.
_SEVERITY = {0: 0, 1: 1, 2: 2, INTERNAL_ERROR: 3}


def _each_model(state: State, job: str, name: str | None, all_models: bool, shard: tuple[int, int] | None,
                run_one: Callable[[ModelConfig, JobMetrics], tuple[str, Exception | None]]) -> None:
    """Run a job for each selected model: every model is attempted even when one fails, each
    pushes its metrics, each failure line names its model, and the exit code is the most
    severe of theirs. Stdout carries only the results: anything a library prints goes to stderr."""
    from mlops.jobs.selection import install_sigterm_handler, select_models
    from mlops.metrics import observed

    install_sigterm_handler()
    models = select_models(state.config, name, all_models, shard)
    if not models:
        click.echo(f"no configured model falls in shard {shard[0]}/{shard[1]}" if shard else "no models")
    worst = 0
    for model in models:
        code, message = 0, ""
        failure: BaseException | None = None
        with log_fields(job=job, model=model.name):
            try:
                with contextlib.redirect_stdout(printed_lines()), observed(job, model.name) as metrics:
                    line, failure = run_one(model, metrics)
                click.echo(line)
            except MlopsError as exc:
                failure = exc
            except Exception as exc:
                code, message, failure = INTERNAL_ERROR, internal_error(exc), exc
            if failure is not None:
                code = code or getattr(failure, "exit_code", INTERNAL_ERROR)
                message = message or (str(failure) if isinstance(failure, MlopsError) else internal_error(failure))
                _error_line(state, f"error: {model.name}: {message}", failure)
                from mlops.notify import failure as failure_notice

                state.notify(failure_notice(job, model.name, message, code))
                worst = max(worst, code, key=lambda c: _SEVERITY.get(c, 3))
    if worst:
        sys.exit(worst)


@main.command()
@_job_options
@click.option("--run-key", default=None, help="Idempotency key (default: the CronJob's scheduled time, else the as-of).")
@click.option("--dry-run", is_flag=True, help="Train, evaluate and log, but register and promote nothing.")
@click.pass_obj
def retrain(state: State, name: str | None, all_models: bool, shard: tuple[int, int] | None, as_of: datetime | None,
            run_key: str | None, dry_run: bool) -> None:
    """Train on the window, gate, register, promote (the weekly job)."""
    from mlops.jobs.selection import as_of_moment

    moment = as_of_moment(as_of)

    def run_one(model: ModelConfig, metrics: JobMetrics) -> tuple[str, Exception | None]:
        from mlops.jobs.observe import retrain_metrics, retrain_notice
        from mlops.jobs.retrain import retrain as run_retrain

        result = run_retrain(state.config, model, moment, run_key, dry_run, state.tracking)
        retrain_metrics(metrics, result)
        state.notify(retrain_notice(result))
        return _describe_retrain(result.summary()), None

    _each_model(state, "retrain", name, all_models, shard, run_one)


@main.command("drift-check")
@_job_options
@click.option("--trigger-retrain", type=click.Choice(["none", "inline", "k8s"]), default="none", show_default=True,
              help="When retraining is needed: nothing, retrain in this process, or start a Job from the retrain CronJob.")
@click.option("--fail-on-drift", is_flag=True, help="Exit 3 when any model needs retraining.")
@click.option("--json", "as_json", is_flag=True, help="One JSON summary per model on stdout.")
@click.pass_obj
def drift_check(state: State, name: str | None, all_models: bool, shard: tuple[int, int] | None, as_of: datetime | None,
                trigger_retrain: str, fail_on_drift: bool, as_json: bool) -> None:
    """Compare the current window with the production model's baseline (the daily job)."""
    from mlops.jobs.selection import as_of_moment

    moment = as_of_moment(as_of)
    needed: list[bool] = []

    def inline_retrain(model: ModelConfig, when: datetime, key: str) -> str:
        from mlops.jobs.retrain import retrain as run_retrain

        result = run_retrain(state.config, model, when, key, False, state.tracking)
        return f"inline retrain: v{result.version} {result.outcome}" if result.version else f"inline retrain: {result.outcome}"

    def run_one(model: ModelConfig, metrics: JobMetrics) -> tuple[str, Exception | None]:
        from mlops.jobs.drift_check import drift_check as run_drift_check
        from mlops.jobs.observe import drift_metrics, drift_notice

        result = run_drift_check(state.config, model, moment, trigger_retrain, state.tracking, inline_retrain)
        drift_metrics(metrics, result)
        state.notify(drift_notice(result))
        summary = result.summary()
        needed.append(bool(summary["retrain_needed"]))
        return (json.dumps(summary) if as_json else _describe_drift(summary)), getattr(result, "trigger_error", None)

    _each_model(state, "drift-check", name, all_models, shard, run_one)
    if any(needed) and fail_on_drift:
        sys.exit(3)


@main.command()
@_job_options
@click.pass_obj
def predict(state: State, name: str | None, all_models: bool, shard: tuple[int, int] | None, as_of: datetime | None) -> None:
    """Score the window's rows with the production model and write the predictions (the daily job)."""
    from mlops.jobs.selection import as_of_moment

    moment = as_of_moment(as_of)

    def run_one(model: ModelConfig, metrics: JobMetrics) -> tuple[str, Exception | None]:
        from mlops.jobs.observe import predict_metrics, predict_notice
        from mlops.jobs.predict import predict as run_predict

        result = run_predict(state.config, model, moment, state.tracking)
        predict_metrics(metrics, result)
        state.notify(predict_notice(result))
        if result.version is None:
            return f"{result.model}: no production model yet; nothing scored (run retrain first)", None
        where = f" into {result.written_to}" if result.written_to else " (no rows in the window)"
        return f"{result.model}: v{result.version} scored {result.rows} rows{where}", None

    _each_model(state, "predict", name, all_models, shard, run_one)


def _describe_drift(summary: dict[str, Any]) -> str:
    if summary["version"] is None:
        return f"{summary['model']}: {summary['outcome']} yet; nothing to check (run retrain first)"
    verdict = "retrain needed" if summary["retrain_needed"] else summary["outcome"]
    lines = [f"{summary['model']} v{summary['version']}: {verdict} (drift share {summary['drift_share']:.0%}, run {summary['run_id']})"]
    lines += [f"  - {r}" for r in summary["reasons"]]
    lines += [f"  quality: {q}" for q in summary["quality"]]
    lines += [f"  data: {f}" for f in (summary.get("freshness") or {}).get("findings", [])]
    if summary["triggered"]:
        lines.append(f"  triggered: {summary['triggered']}")
    return "\n".join(lines)


def _describe_retrain(summary: dict[str, Any]) -> str:
    outcome, name = summary["outcome"], summary["model"]
    if summary.get("resumed"):
        notes = "".join(f"\n  - {r}" for r in summary["reasons"])
        return f"{name}: v{summary['version']} {outcome} (resumed: its run key registered it before){notes}"
    metrics = summary.get("metrics") or {}
    figures = ", ".join(f"{k} {metrics[k]:.4f}" for k in ("accuracy", "f1", "roc_auc") if k in metrics)
    if outcome == "dry-run":
        verdict = f", the gate would say: {summary['would_be']}" if summary.get("would_be") else ""
        reasons = "".join(f"\n  - {r}" for r in summary["reasons"])
        return f"{name}: dry run (nothing registered), run {summary['run_id']}: {figures}{verdict}{reasons}"
    reasons = "".join(f"\n  - {r}" for r in summary["reasons"])
    return f"{name}: v{summary['version']} {outcome} ({figures}){reasons}"


@main.command()
@click.option("--model", "name", metavar="NAME", default=None, help="Only this model.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(state: State, name: str | None, as_json: bool) -> None:
    """Production and previous versions, metrics, age, last drift result."""
    from mlops.jobs.views import status as run_status

    entries = run_status(state.config, state.reader, name)
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    for entry in entries:
        click.echo(_status_text(entry))


def _status_text(entry: dict[str, Any]) -> str:
    lines = [f"{entry['model']}"]
    for alias in ("production", "previous"):
        info = entry.get(alias)
        if info is None:
            lines.append(f"  {alias:<10} -")
            continue
        metrics = " ".join(f"{k}={v}" for k, v in sorted(info.get("metrics", {}).items()))
        age = f", {info['age_days']} days in production" if alias == "production" and "age_days" in info else ""
        lines.append(f"  {alias:<10} v{info['version']}{age}  trained as of {info.get('trained_as_of') or '?'}")
        lines.append(f"  {'':<10} {metrics}")
        if alias == "production" and "last_predict_at" in info:
            lines.append(f"  {'':<10} last predict {info['last_predict_at']}: {info.get('last_predict_rows')} rows")
        if alias == "production" and "last_drift_check_at" in info:
            lines.append(f"  {'':<10} last drift check {info['last_drift_check_at']}: {info.get('last_drift_outcome', '?')}, "
                         f"drift share {info.get('last_drift_share')}")
    return "\n".join(lines)


@main.command()
@click.option("--model", "name", required=True, metavar="NAME")
@click.option("--version", "version", required=True, type=click.IntRange(min=1), help="Registered version to promote.")
@click.option("--as-of", type=DATE, default=None, help="Judge on the holdout of this date's window (default: today).")
@click.option("--force", is_flag=True, help="Skip the gate (recorded on the version).")
@click.option("--reason", default=None, help="Why; recorded on the version.")
@click.option("--dry-run", is_flag=True, help="Print the gate's decision; change nothing.")
@click.pass_obj
def promote(state: State, name: str, version: int, as_of: datetime | None, force: bool, reason: str | None,
            dry_run: bool) -> None:
    """Promote a version through the same gate retrain uses."""
    from mlops.jobs.operate import promote as run_promote
    from mlops.jobs.selection import as_of_moment

    if dry_run and force:
        raise click.UsageError("--dry-run shows the gate's decision; --force skips the gate. Give one of them.")
    with contextlib.redirect_stdout(printed_lines()), log_fields(job="promote", model=name, version=version):
        decision = run_promote(state.config, state.tracking, name, str(version), as_of_moment(as_of), force, reason, dry_run)
    if dry_run:
        verdict = ("would be promoted (dry run; nothing changed)" if decision.promote
                   else "would be rejected by the gate (dry run; nothing changed)")
    else:
        verdict = "promoted to production" if decision.promote else "rejected by the gate; nothing changed"
    click.echo(f"{name}: v{version} {verdict}" + "".join(f"\n  - {r}" for r in decision.reasons))
    if not decision.promote:
        sys.exit(GATE_REJECTED)


@main.command()
@click.option("--model", "name", required=True, metavar="NAME")
@click.option("--reason", default=None, help="Why; recorded on both versions.")
@click.option("--force", is_flag=True, help="Return to the previous version even if the gate rejected it.")
@click.pass_obj
def rollback(state: State, name: str, reason: str | None, force: bool) -> None:
    """Production back to the previous production version."""
    from mlops.jobs.operate import rollback as run_rollback

    state.config.model(name)
    new, old = run_rollback(state.config, state.tracking, name, reason, force)
    click.echo(f"{name}: production is v{new} again; v{old} is now previous")


@main.command()
@click.option("--model", "name", required=True, metavar="NAME")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event, oldest first.")
@click.pass_obj
def history(state: State, name: str, as_json: bool) -> None:
    """The model's promotions, rejections and rollbacks, oldest first (append-only)."""
    from dataclasses import asdict

    from mlops.jobs.views import history as run_history
    from mlops.promotion.card import row_checks

    events = run_history(state.config, state.reader, name)
    if as_json:
        for event in events:
            click.echo(json.dumps(asdict(event)))
        return
    if not events:
        click.echo(f"{name}: no promotion, rejection or rollback recorded yet")
        return
    for event in events:
        click.echo(event.describe())
        if event.gate:
            click.echo(f"    {'metric':<9} {'candidate':>9} {'champion':>9} {'minimum':>9}  {'>= minimum':<10}  beats champion")
        for row in event.gate:
            cleared, beats = row_checks(row)
            click.echo(f"    {row['metric']:<9} {_num(row['candidate']):>9} {_num(row['champion']):>9} {_num(row['minimum']):>9}  "
                       f"{_check(cleared):<10}  {_check(beats)}")


def _check(ok: bool | None) -> str:
    return {True: "pass", False: "FAIL", None: "-"}[ok]


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@main.command("drift-history")
@click.option("--model", "name", required=True, metavar="NAME")
@click.option("--days", default=30, show_default=True, type=click.IntRange(min=1, max=3660), help="Checks of the last N days.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per check, oldest first.")
@click.pass_obj
def drift_history(state: State, name: str, days: int, as_json: bool) -> None:
    """Per-feature effect sizes and verdicts of the daily drift checks, over time."""
    from mlops.jobs.drift_history import drift_history as run_drift_history
    from mlops.jobs.drift_history import table

    points = run_drift_history(state.config, state.reader, name, days)
    if as_json:
        for point in points:
            click.echo(json.dumps(point.as_dict()))
        return
    if not points:
        click.echo(f"{name}: no drift check in the last {days} days")
        return
    click.echo(f"{name}: {len(points)} drift checks in the last {days} days, by the day checked (as-of)")
    for line in table(points):
        click.echo(line)


@main.command()
@click.option("--model", "name", required=True, metavar="NAME")
@click.option("--metric", default="f1", show_default=True)
@click.option("--limit", default=10, show_default=True, type=click.IntRange(min=1, max=1000))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def leaderboard(state: State, name: str, metric: str, limit: int, as_json: bool) -> None:
    """Training runs ranked by a holdout metric."""
    from mlops.jobs.views import leaderboard as run_leaderboard

    rows = run_leaderboard(state.config, state.reader, name, metric, limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{name}: training runs by {metric} on each run's own holdout (dry runs excluded). The holdouts differ, "
               f"so the ranks are not a comparison: for that, `mlops compare --model {name} --versions ...` scores "
               "versions on the same rows.")
    click.echo(f"{'#':>3}  {metric:>8}  {'version':>7}  {'alias':<10}  {'decision':<9}  {'holdout':<28}  run")
    for row in rows:
        value = row["metrics"].get(metric)
        shown = f"{value:.4f}" if value is not None else "-"
        click.echo(f"{row['rank']:>3}  {shown:>8}  {row['version'] or '-':>7}  {row['alias']:<10}  "
                   f"{row['decision']:<9}  {row['holdout']:<28}  {row['run_id']}")


@main.command()
@click.option("--model", "name", required=True, metavar="NAME")
@click.option("--versions", required=True, metavar="3,4,5", help="Comma-separated registered versions.")
@click.option("--as-of", type=DATE, default=None, help="End of the labelled window (default: today).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def compare(state: State, name: str, versions: str, as_of: datetime | None, as_json: bool) -> None:
    """Registered versions evaluated side by side on the same fresh labelled window."""
    from mlops.jobs.operate import compare as run_compare
    from mlops.jobs.selection import as_of_moment

    chosen = [v.strip() for v in versions.split(",") if v.strip()]
    if not all(v.isdigit() for v in chosen):
        raise click.BadParameter("versions are positive integers, e.g. 3,4,5", param_hint="--versions")
    with contextlib.redirect_stdout(printed_lines()), log_fields(job="compare", model=name):
        rows = run_compare(state.config, state.tracking, name, chosen, as_of_moment(as_of))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    metrics = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
    click.echo(f"{name} on {rows[0]['window']}, {rows[0]['rows']} labelled rows")
    click.echo(f"{'version':>7}  {'alias':<10}  " + "  ".join(f"{m:>9}" for m in metrics))
    for row in rows:
        values = "  ".join(f"{row['metrics'][m]:>9.4f}" if m in row["metrics"] else f"{'-':>9}" for m in metrics)
        click.echo(f"{row['version']:>7}  {row['alias']:<10}  {values}")


@main.group()
def config() -> None:
    """Configuration commands."""


@config.command("check")
@click.option("--connect", is_flag=True, help="Also reach the tracking server, each source and sink, and the Pushgateway, "
              "and check the configured columns and the production model's features against each source's schema.")
@click.pass_obj
def config_check(state: State, connect: bool) -> None:
    """Validate the config and print its normalised form (passwords redacted)."""
    from mlops.config import redacted_dump

    click.echo(yaml.safe_dump(redacted_dump(state.config), sort_keys=False), nl=False)
    if not connect:
        return
    from mlops.jobs.connect import run_checks

    with contextlib.redirect_stdout(printed_lines()):
        checks = run_checks(state.config, lambda: state.tracking)
    click.echo("---")
    for check in checks:
        click.echo(check.line())
    worst = max((c.exit_code for c in checks), default=0, key=lambda c: _SEVERITY.get(c, 3))
    if worst:
        sys.exit(worst)


@main.command("seed-demo")
@click.option("--database", envvar="DATABASE_URI", required=True, metavar="URI",
              help="postgresql://user:pass@host/db to load the demo rows into (default: $DATABASE_URI).")
@click.option("--table", default="churn_features", show_default=True, help="Table to create or replace.")
def seed_demo(database: str, table: str) -> None:
    """Load the demo churn dataset into PostgreSQL (for the compose and dev-cluster stacks)."""
    from mlops.data.sinks import replace_table
    from mlops.jobs.demo import make_dataset
    from mlops.jobs.selection import as_of_moment

    rows = make_dataset(as_of_moment(None))
    replace_table(database, table, rows)
    click.echo(f"loaded {rows.num_rows} demo rows into {table}")


@main.command()
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("mlops-demo"),
              show_default=True, help="Where the demo writes its data, config and MLflow store.")
@click.pass_obj
def demo(state: State, workdir: Path) -> None:
    """Generate data and config, retrain, retrain later, check drift, show status, on the embedded store."""
    from mlops.jobs.demo import run_demo

    run_demo(workdir, click.echo)
