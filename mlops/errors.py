"""The exceptions mlops raises, each carrying the exit code the CLI turns it into.

    MlopsError                  exit 2 unless a subclass says otherwise
    ├── ConfigError             bad YAML, unknown key, failed validation
    ├── UsageError              a command line that cannot work (unknown model, bad version)
    ├── DataError               missing file/table/column, bad credentials, empty window
    ├── RegistryError           registry state that forbids the action (no production model)
    ├── TriggerError            the retrain Job cannot be started (RBAC, missing CronJob)
    └── ServiceUnavailable      exit 1: a server unreachable or timing out; a retry may help

`Terminated` is not an `MlopsError`: it derives from `BaseException` so that no
`except Exception` swallows it, and it ends the process with 143.
"""

from __future__ import annotations


class MlopsError(Exception):
    exit_code = 2


class ConfigError(MlopsError):
    pass


class UsageError(MlopsError):
    pass


class DataError(MlopsError):
    pass


class RegistryError(MlopsError):
    pass


class TriggerError(MlopsError):
    pass


class ServiceUnavailable(MlopsError):
    exit_code = 1


class Terminated(BaseException):
    """Raised in the main thread by the SIGTERM handler."""

    exit_code = 143
