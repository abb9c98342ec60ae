"""The exceptions mlops raises, each carrying the exit code the CLI turns it into.

    MlopsError                  exit 2 unless a subclass says otherwise
    ├── ConfigError             bad YAML, unknown key, failed validation
    ├── UsageError              a command line that cannot work (unknown model, bad version)
    ├── DataError               missing file/table/column, bad credentials, empty window
    ├── RegistryError           registry state that forbids the action (no such version)
    │   └── ProductionMoved     the production alias changed under a promotion
    ├── TriggerError            the retrain Job cannot be started (RBAC, missing CronJob)
    └── ServiceUnavailable      exit 1: a server unreachable, refusing or timing out; a retry may help
        └── LockTimeout         another job held the model's promotion lock too long

Anything else that escapes a job is a defect in mlops: the CLI exits 70 (`INTERNAL_ERROR`),
which the CronJobs' `podFailurePolicy` does not retry. A manual promote that the gate rejects
is an outcome, not an error: the CLI exits 4 (`GATE_REJECTED`).

`Terminated` is not an `MlopsError`: it derives from `BaseException` so that no
`except Exception` swallows it, and it ends the process with 143.
"""

from __future__ import annotations

INTERNAL_ERROR = 70
GATE_REJECTED = 4


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


class ProductionMoved(RegistryError):
    """The production alias changed between evaluation and promotion."""

    def __init__(self, now: str | None) -> None:
        super().__init__(f"production moved to v{now} during evaluation")
        self.now = now


class TriggerError(MlopsError):
    pass


class ServiceUnavailable(MlopsError):
    exit_code = 1


class LockTimeout(ServiceUnavailable):
    pass


class Terminated(BaseException):
    """Raised in the main thread by the SIGTERM handler."""

    exit_code = 143
