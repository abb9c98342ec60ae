"""Pipeline configuration: YAML with `${VAR}` substitution, validated in full at load time.

Every problem is reported at once, each with its YAML path (`models[0].promotion.min_metrics`),
so a CronJob that cannot run says everything wrong with its ConfigMap in one log line set.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlops.errors import ConfigError

DEFAULT_TRACKING_URI = "sqlite:///.mlops/mlflow.db"
DEFAULT_ARTIFACT_LOCATION = ".mlops/artifacts"
CONFIG_SEARCH_PATH = ("mlops.yaml", "/etc/mlops/config.yaml")

# Higher is better for all of these; log_loss is the one lower-is-better metric we log.
GATE_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
COMPARE_METRICS = (*GATE_METRICS, "log_loss")
LOWER_IS_BETTER = frozenset({"log_loss"})
# XGBoost parameters the trainer derives from the data; setting them by hand breaks labels.
RESERVED_PARAMS = ("objective", "num_class", "enable_categorical", "eval_metric")

# Tracking stores MLflow can open from a job: a server (http/https) or a database directly.
TRACKING_SCHEMES = frozenset({"http", "https", "sqlite", "postgresql", "mysql", "mssql", "file", "databricks"})

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrackingConfig(_Strict):
    uri: str = DEFAULT_TRACKING_URI
    artifact_location: str = DEFAULT_ARTIFACT_LOCATION
    experiment_prefix: str = "mlops"

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        scheme = urlsplit(value).scheme.split("+", 1)[0].lower() if "://" in value else ""
        if scheme and scheme not in TRACKING_SCHEMES:
            raise ValueError(f"unknown scheme {scheme!r} in {redact_uri(value)!r}; use one of {', '.join(sorted(TRACKING_SCHEMES))}")
        return value

    @field_validator("experiment_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value or value.startswith("/") or value.endswith("/"):
            raise ValueError("must be a non-empty name without leading or trailing '/'")
        return value

    @property
    def embedded(self) -> bool:
        return self.uri.startswith("sqlite:") or "://" not in self.uri


class TimeoutsConfig(_Strict):
    """Bounded waits: a hung dependency fails the job with exit 1 in about a minute, not hours."""

    connect_seconds: float = Field(default=10.0, gt=0, le=600)
    request_seconds: float = Field(default=20.0, gt=0, le=3600)  # one MLflow request or S3 read
    request_retries: int = Field(default=2, ge=0, le=10)  # MLflow's retries of a failed request
    statement_seconds: float = Field(default=120.0, gt=0, le=86400)  # one PostgreSQL statement


NoticeKind = Literal["promoted", "rejected", "retrain_needed", "no_production", "failed"]
NOTICE_KINDS: tuple[NoticeKind, ...] = ("promoted", "rejected", "retrain_needed", "no_production", "failed")


class NotificationsConfig(_Strict):
    """An optional Slack-compatible webhook (see mlops.notify). The URL is a secret: give it as
    `${MLOPS_WEBHOOK_URL:-}`, which also reads MLOPS_WEBHOOK_URL_FILE; empty means off."""

    webhook_url: str | None = None
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    retries: int = Field(default=2, ge=0, le=5)
    events: list[NoticeKind] = Field(default_factory=lambda: list(NOTICE_KINDS))

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
            raise ValueError("must be an http(s) URL")
        return value


class LocksConfig(_Strict):
    """How promotions of one model are serialised (see mlops.locking)."""

    kind: Literal["auto", "file", "kubernetes"] = "auto"
    directory: str = Field(default_factory=lambda: str(Path(tempfile.gettempdir()) / "mlops-locks"))
    lease_seconds: int = Field(default=60, ge=15, le=3600)
    wait_seconds: float = Field(default=1800.0, ge=0, le=86400)


class SourceConfig(_Strict):
    uri: str
    table: str | None = None
    query: str | None = None
    timestamp_column: str | None = None
    id_columns: list[str] = Field(default_factory=list)

    @property
    def kind(self) -> Literal["postgres", "s3", "file"]:
        scheme = urlsplit(self.uri).scheme
        if scheme in ("postgresql", "postgres"):
            return "postgres"
        if scheme == "s3":
            return "s3"
        return "file"

    @model_validator(mode="after")
    def _table_or_query(self) -> SourceConfig:
        if self.kind == "postgres":
            if (self.table is None) == (self.query is None):
                raise ValueError("a postgresql source needs exactly one of 'table' or 'query'")
        elif self.table is not None or self.query is not None:
            raise ValueError("'table' and 'query' apply to postgresql sources only")
        else:
            suffix = Path(urlsplit(self.uri).path).suffix.lower()
            if suffix not in (".csv", ".parquet", ".pq", ""):  # no suffix: a folder or S3 prefix of Parquet files
                raise ValueError(f"file sources must end in .csv or .parquet (or name a folder of Parquet files), got {suffix!r}")
        return self


class XGBoostParams(BaseModel):
    """Types and ranges of the common XGBoost parameters (its documented bounds)."""

    model_config = ConfigDict(extra="allow", strict=False)

    n_estimators: int | None = Field(default=None, ge=1, le=100_000)
    num_boost_round: int | None = Field(default=None, ge=1, le=100_000)
    max_depth: int | None = Field(default=None, ge=0, le=64)
    max_leaves: int | None = Field(default=None, ge=0)
    max_bin: int | None = Field(default=None, ge=2)
    learning_rate: float | None = Field(default=None, gt=0.0, le=1.0)
    eta: float | None = Field(default=None, gt=0.0, le=1.0)
    subsample: float | None = Field(default=None, gt=0.0, le=1.0)
    colsample_bytree: float | None = Field(default=None, gt=0.0, le=1.0)
    colsample_bylevel: float | None = Field(default=None, gt=0.0, le=1.0)
    colsample_bynode: float | None = Field(default=None, gt=0.0, le=1.0)
    min_child_weight: float | None = Field(default=None, ge=0.0)
    gamma: float | None = Field(default=None, ge=0.0)
    reg_alpha: float | None = Field(default=None, ge=0.0)
    reg_lambda: float | None = Field(default=None, ge=0.0)
    alpha: float | None = Field(default=None, ge=0.0)
    scale_pos_weight: float | None = Field(default=None, gt=0.0)
    max_delta_step: float | None = Field(default=None, ge=0.0)
    tree_method: Literal["hist", "approx", "exact", "auto"] | None = None
    grow_policy: Literal["depthwise", "lossguide"] | None = None
    nthread: int | None = Field(default=None, ge=0)

    @field_validator("n_estimators", "num_boost_round", "max_depth", "max_leaves", "max_bin", "nthread", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("must be a whole number")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> XGBoostParams:
        given = self.as_dict()
        reserved = sorted(set(given) & set(RESERVED_PARAMS))
        if reserved:
            raise ValueError(f"{', '.join(reserved)} are set by the trainer from the labels; remove them")
        if "n_estimators" in given and "num_boost_round" in given:
            raise ValueError("give n_estimators or num_boost_round, not both")
        return self

    def as_dict(self) -> dict[str, Any]:
        """The parameters as given (known ones checked, unknown ones passed to XGBoost as they are)."""
        return {**self.model_dump(exclude_none=True), **(self.model_extra or {})}


class TrainingConfig(_Strict):
    """`memory_budget_mb` bounds the Arrow size (MiB) of the window trained in memory (in-memory
    training peaks near 3.5x that, see README); a larger window trains from disk through XGBoost's
    external memory. `engine: dask` trains on the dask.distributed cluster at `dask_scheduler`.
    Write both as k8s/base/config.yaml does, `engine: ${MLOPS_TRAINING_ENGINE:-local}` and
    `dask_scheduler: ${MLOPS_DASK_SCHEDULER_ADDRESS:-}`: the ConfigMap is shared by every CronJob,
    and only retrain gets the variables (from k8s/components/dask)."""

    window_days: int | None = Field(default=None, gt=0)
    test_fraction: float = Field(default=0.2, gt=0.0, lt=0.9)
    split: Literal["time", "random"] | None = None
    seed: int = 42
    params: XGBoostParams = Field(default_factory=lambda: XGBoostParams(max_depth=6, learning_rate=0.1, n_estimators=300))
    memory_budget_mb: float = Field(default=512.0, gt=0, le=1_048_576)
    engine: Literal["local", "dask"] = "local"
    dask_scheduler: str | None = None

    @field_validator("dask_scheduler")
    @classmethod
    def _scheduler(cls, value: str | None) -> str | None:
        if not value:  # `${MLOPS_DASK_SCHEDULER_ADDRESS:-}` left empty
            return None
        if urlsplit(value).scheme not in ("tcp", "tls", "inproc", "ws", "wss") or not urlsplit(value).netloc:
            raise ValueError(f"must be a scheduler address like tcp://host:8786, got {value!r}")
        return value

    @model_validator(mode="after")
    def _engine(self) -> TrainingConfig:
        if self.engine == "dask" and self.dask_scheduler is None:
            raise ValueError("engine 'dask' needs dask_scheduler (e.g. ${MLOPS_DASK_SCHEDULER_ADDRESS})")
        if self.engine == "local" and self.dask_scheduler is not None:
            raise ValueError("dask_scheduler is used by engine 'dask' only; set engine: dask or remove it")
        return self


class PromotionConfig(_Strict):
    min_metrics: dict[str, float] = Field(default_factory=dict)
    compare_metric: str = "f1"
    min_improvement: float = Field(default=0.0, ge=-1.0, le=1.0)

    @field_validator("min_metrics")
    @classmethod
    def _min_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        for name, threshold in value.items():
            if name not in GATE_METRICS:
                raise ValueError(f"unknown metric {name!r}; choose from {', '.join(GATE_METRICS)}")
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"threshold for {name} must be within [0, 1], got {threshold}")
        return value

    @field_validator("compare_metric")
    @classmethod
    def _compare_metric(cls, value: str) -> str:
        if value not in COMPARE_METRICS:
            raise ValueError(f"unknown metric {value!r}; choose from {', '.join(COMPARE_METRICS)}")
        return value


class DriftConfig(_Strict):
    """A feature drifts when its Benjamini-Hochberg-corrected p-value is below `p_value` AND its
    scale-free effect size reaches the floor: normalised Wasserstein (in reference standard
    deviations) for numerics, Jensen-Shannon distance (base 2) for categoricals. The floors were
    chosen with `bench/drift_calibration.py`."""

    current_window_days: int = Field(default=7, gt=0)
    min_rows: int = Field(default=200, ge=1)
    p_value: float = Field(default=0.05, gt=0.0, lt=1.0)
    numeric_effect: float = Field(default=0.1, ge=0.0)
    categorical_effect: float = Field(default=0.1, ge=0.0, le=1.0)
    max_drift_share: float = Field(default=0.3, gt=0.0, le=1.0)
    max_missing_increase: float | None = Field(default=0.1, gt=0.0, le=1.0)
    max_metric_drop: float = Field(default=0.05, ge=0.0, le=1.0)
    min_labelled_rows: int = Field(default=200, ge=1)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    # Findings beside drift, never a reason to retrain (mlops.drift.freshness); null turns one off.
    max_staleness_hours: float | None = Field(default=48.0, gt=0.0)
    max_volume_factor: float | None = Field(default=3.0, gt=1.0)

    @model_validator(mode="before")
    @classmethod
    def _replaced_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "psi_threshold" in data:
            raise ValueError("psi_threshold was replaced by numeric_effect (normalised Wasserstein, default 0.1) and "
                             "categorical_effect (Jensen-Shannon distance, default 0.1); PSI is still reported")
        return data


class PredictionsConfig(_Strict):
    table: str | None = None
    uri: str | None = None
    window_days: int = Field(default=1, gt=0)

    @model_validator(mode="after")
    def _one_target(self) -> PredictionsConfig:
        if (self.table is None) == (self.uri is None):
            raise ValueError("give exactly one of 'table' or 'uri'")
        return self


class ModelConfig(_Strict):
    name: str
    source: SourceConfig
    target: str
    features: list[str] | None = None
    categorical_features: list[str] | None = None
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    promotion: PromotionConfig = Field(default_factory=PromotionConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    predictions: PredictionsConfig | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must start with a letter or digit and hold only letters, digits, '_', '.', '-'")
        return value

    @model_validator(mode="after")
    def _columns(self) -> ModelConfig:
        reserved = {self.target, *self.source.id_columns}
        if self.source.timestamp_column:
            reserved.add(self.source.timestamp_column)
        if self.features is not None:
            if not self.features:
                raise ValueError("features: must not be empty (omit it to use every column)")
            clash = sorted(set(self.features) & reserved)
            if clash:
                raise ValueError(f"features: {', '.join(clash)} is the target, timestamp or an id column")
            if len(set(self.features)) != len(self.features):
                raise ValueError("features: lists a column twice")
        if self.categorical_features is not None:
            if self.features is not None:
                unknown = sorted(set(self.categorical_features) - set(self.features))
                if unknown:
                    raise ValueError(f"categorical_features: {', '.join(unknown)} not in features")
            clash = sorted(set(self.categorical_features) & reserved)
            if clash:
                raise ValueError(f"categorical_features: {', '.join(clash)} is the target, timestamp or an id column")
        if self.predictions is not None and self.predictions.table is not None and self.source.kind != "postgres":
            raise ValueError("predictions.table is written to the source's database, so it needs a postgresql source; use predictions.uri")
        split = self.training.split
        if split == "time" and not self.source.timestamp_column:
            raise ValueError("training.split: 'time' needs source.timestamp_column")
        if self.training.window_days is not None and not self.source.timestamp_column:
            raise ValueError("training.window_days needs source.timestamp_column")
        return self

    @property
    def split(self) -> Literal["time", "random"]:
        if self.training.split is not None:
            return self.training.split
        return "time" if self.source.timestamp_column else "random"


class Config(_Strict):
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    timeouts: TimeoutsConfig = Field(default_factory=TimeoutsConfig)
    locks: LocksConfig = Field(default_factory=LocksConfig)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    models: list[ModelConfig]

    @model_validator(mode="after")
    def _unique_models(self) -> Config:
        if not self.models:
            raise ValueError("models: at least one model is required")
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"models: duplicate name {', '.join(dupes)}")
        return self

    def model(self, name: str) -> ModelConfig:
        for model in self.models:
            if model.name == name:
                return model
        raise ConfigError(f"model {name!r} is not configured; configured: {', '.join(m.name for m in self.models)}")


def substitute_env(value: Any, environ: dict[str, str] | os._Environ[str], path: str = "") -> Any:
    """Replace `${VAR}` / `${VAR:-default}` in every string scalar, after YAML parsing so that
    a secret holding `:` or `#` cannot change the document's structure. When VAR is unset and
    VAR_FILE names a file, the file's content (stripped) is used."""
    if isinstance(value, dict):
        return {k: substitute_env(v, environ, _join(path, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_env(v, environ, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = environ.get(name)
        if found:
            return found
        if environ.get(f"{name}_FILE"):  # a secret mounted as a file (Kubernetes, Docker secrets)
            try:
                return Path(environ[f"{name}_FILE"]).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{path or '<root>'}: cannot read {name}_FILE ({exc.strerror})") from exc
        if default is not None:
            return default
        raise ConfigError(f"{path or '<root>'}: environment variable {name} is not set and has no default")

    return _VAR.sub(replace, value)


def resolve_path(explicit: str | None, environ: dict[str, str] | os._Environ[str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if env.get("MLOPS_CONFIG"):
        return Path(env["MLOPS_CONFIG"])
    for candidate in CONFIG_SEARCH_PATH:
        if Path(candidate).is_file():
            return Path(candidate)
    raise ConfigError(
        "no config file: pass --config, set MLOPS_CONFIG, or create ./mlops.yaml or /etc/mlops/config.yaml"
    )


def load_config(path: Path, environ: dict[str, str] | os._Environ[str] | None = None) -> Config:
    env = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where} invalid YAML: {problem}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a mapping with a 'models' list")
    raw = substitute_env(raw, env)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: " + "; ".join(format_validation_errors(exc))) from exc
    return anchor_paths(config, path.parent)


def format_validation_errors(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors():
        where = ""
        for part in error["loc"]:
            where = f"{where}[{part}]" if isinstance(part, int) else _join(where, str(part))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(f"{where or '<root>'}: {message}")
    return problems


def anchor_paths(config: Config, base: Path) -> Config:
    """Relative file paths in the config are relative to the config file, not to the cwd."""
    tracking = config.tracking
    updates: dict[str, Any] = {}
    if tracking.uri.startswith("sqlite:///") and not tracking.uri.startswith("sqlite:////"):
        updates["uri"] = "sqlite:///" + str((base / tracking.uri.removeprefix("sqlite:///")).resolve())
    if "://" not in tracking.artifact_location and not Path(tracking.artifact_location).is_absolute():
        updates["artifact_location"] = str((base / tracking.artifact_location).resolve())
    models = []
    for model in config.models:
        source = model.source
        if source.kind == "file" and not source.uri.startswith("file:") and not Path(source.uri).is_absolute():
            source = source.model_copy(update={"uri": str((base / source.uri).resolve())})
        update: dict[str, Any] = {"source": source}
        sink = model.predictions
        if sink is not None and sink.uri is not None and "://" not in sink.uri and not sink.uri.startswith("file:") \
                and not Path(sink.uri).is_absolute():
            update["predictions"] = sink.model_copy(update={"uri": str((base / sink.uri).resolve())})
        models.append(model.model_copy(update=update))
    return config.model_copy(update={"tracking": tracking.model_copy(update=updates), "models": models})


def _userinfo(uri: str) -> tuple[str, str, str | None, str] | None:
    """(scheme, user, password, rest) split by hand: an unencoded password may hold '#', '/' or '@'."""
    if "://" not in uri:
        return None
    scheme, rest = uri.split("://", 1)
    if "@" not in rest:
        return None
    userinfo, host = rest.rsplit("@", 1)
    user, sep, password = userinfo.partition(":")
    return scheme, user, password if sep else None, host


def uri_password(uri: str) -> str | None:
    parts = _userinfo(uri)
    return parts[2] if parts else None


def redact_uri(uri: str) -> str:
    """The URI with any password replaced, safe for logs, tags and error messages."""
    parts = _userinfo(uri)
    if parts is None or parts[2] is None:
        return uri
    scheme, user, _, host = parts
    return f"{scheme}://{user}:***@{host}"


def redacted_dump(config: Config) -> dict[str, Any]:
    data = config.model_dump(mode="json")
    data["tracking"]["uri"] = redact_uri(data["tracking"]["uri"])
    if data["notifications"]["webhook_url"]:  # the path of a chat webhook is its credential
        parts = urlsplit(data["notifications"]["webhook_url"])
        data["notifications"]["webhook_url"] = f"{parts.scheme}://{parts.netloc}/***"
    for model, configured in zip(data["models"], config.models, strict=True):
        model["training"]["params"] = configured.training.params.as_dict()
        model["source"]["uri"] = redact_uri(model["source"]["uri"])
        if model.get("predictions") and model["predictions"].get("uri"):
            model["predictions"]["uri"] = redact_uri(model["predictions"]["uri"])
    return data


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
