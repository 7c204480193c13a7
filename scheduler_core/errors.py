"""The scheduler's exception tree.

Every error the engine raises on purpose derives from :class:`SchedulerError`, so front ends can
catch one type and show its message. Subclasses carry what went wrong and where::

    SchedulerError
     +-- ValidationError          a field of a job, config or request is invalid (``field``)
     |    +-- CronError           a cron expression is invalid (``field`` names the cron field)
     +-- DslError                 a DSL file is invalid (``path``, ``line``, ``col``); may hold many
     +-- ConfigError              a TOML config is invalid (``key``, ``line``)
     +-- NotFoundError            (also LookupError) no job/run by that id or name
     |    +-- JobNotFound
     |    +-- RunNotFound
     +-- ConflictError            the request does not fit the current state
 +-- Forbidden                the caller's key may not do this (its role, or a job's approvers)
     +-- LeaseError               another scheduler holds the store lease
     +-- StoreError               the store cannot be opened or migrated
     |    +-- StoreUnavailable    it cannot be read or written now (``cause``: disk full, ...)
     +-- ExecutionError           an agent run failed (``exit_code`` etc. in details)
     +-- DeliveryError            a delivery channel failed
     +-- PolicyError              a policy cannot be evaluated
     +-- AgentPinError            AgentPin verification failed (``check`` names the failed check)
"""

from __future__ import annotations

__all__ = [
    "STORE_CAUSES",
    "AgentPinError",
    "ConfigError",
    "ConflictError",
    "CronError",
    "DeliveryError",
    "DslError",
    "DslIssue",
    "ExecutionError",
    "Forbidden",
    "JobNotFound",
    "LeaseError",
    "NotFoundError",
    "PolicyError",
    "RunNotFound",
    "SchedulerError",
    "StoreError",
    "StoreUnavailable",
    "ValidationError",
]

from collections.abc import Mapping

from .records import record


class SchedulerError(Exception):
    """Root of every error the scheduler raises on purpose."""

    code: str = "scheduler_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description, used by the API and the CLI's JSON output."""
        return {"error": self.message, "code": self.code, "details": self.details()}

    def details(self) -> dict[str, object]:
        return {}


class ValidationError(SchedulerError, ValueError):
    """A value is invalid; ``field`` names it (dotted path, e.g. ``policy.max_runtime``)."""

    code = "validation_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: list[ValidationError] | None = None,
    ) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message
        #: every problem found, when several were collected (this error stands for all of them)
        self.errors: list[ValidationError] = errors or [self]

    @classmethod
    def collect(cls, errors: list[ValidationError]) -> ValidationError:
        """One error standing for several, so a caller can report all of them at once."""
        if len(errors) == 1:
            return errors[0]
        return cls("; ".join(str(e) for e in errors), errors=errors)

    def details(self) -> dict[str, object]:
        if len(self.errors) > 1:
            return {
                "errors": [{"field": e.field, "message": e.reason} for e in self.errors],
            }
        return {"field": self.field} if self.field else {}


class CronError(ValidationError):
    """An invalid cron expression; ``cron_field`` names the cron field (minute, hour, ...)."""

    code = "invalid_cron"

    def __init__(
        self,
        message: str,
        *,
        expression: str,
        cron_field: str | None = None,
        value: str | None = None,
    ) -> None:
        super().__init__(message, field=None)
        self.expression = expression
        self.cron_field = cron_field
        self.value = value

    def details(self) -> dict[str, object]:
        return {"expression": self.expression, "cron_field": self.cron_field, "value": self.value}


@record
class DslIssue:
    """One problem in a DSL file, located at ``path:line:col``."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


class DslError(SchedulerError):
    """One or more problems in DSL source; ``issues`` lists them all, in file order."""

    code = "invalid_dsl"

    def __init__(self, issues: list[DslIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues) or "invalid DSL")

    @property
    def first(self) -> DslIssue | None:
        return self.issues[0] if self.issues else None

    def details(self) -> dict[str, object]:
        return {
            "issues": [
                {"path": i.path, "line": i.line, "col": i.col, "message": i.message}
                for i in self.issues
            ]
        }


class ConfigError(SchedulerError):
    """An invalid configuration value; ``key`` is the dotted TOML key."""

    code = "invalid_config"

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        path: str | None = None,
        line: int | None = None,
    ) -> None:
        where = ":".join(str(p) for p in (path, line) if p is not None)
        prefix = " ".join(p for p in (where, key) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.key = key
        self.path = path
        self.line = line

    def details(self) -> dict[str, object]:
        return {"key": self.key, "path": self.path, "line": self.line}


class NotFoundError(SchedulerError, LookupError):
    code = "not_found"


class JobNotFound(NotFoundError):
    """No job matches ``ref`` (an id, an id prefix or a name)."""

    def __init__(self, ref: str, *, suggestion: str | None = None) -> None:
        hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
        super().__init__(f"No job by the id or name of {ref!r} was found{hint}")
        self.ref = ref
        self.suggestion = suggestion

    def details(self) -> dict[str, object]:
        return {"job": self.ref, "suggestion": self.suggestion}


class RunNotFound(NotFoundError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"No run by the id of {run_id!r} was found")
        self.run_id = run_id

    def details(self) -> dict[str, object]:
        return {"run": self.run_id}


class ConflictError(SchedulerError):
    """The request does not fit the current state (e.g. resuming an active job)."""

    code = "conflict"


class Forbidden(SchedulerError):
    """The caller is known but may not do this: its key's role is below what the action needs
    (``required_role``), or a job's ``approvers`` do not name it (``approvers``)."""

    code = "forbidden"

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        role: str | None = None,
        required_role: str | None = None,
        approvers: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(message)
        self.key = key
        self.role = role
        self.required_role = required_role
        self.approvers = approvers

    def details(self) -> dict[str, object]:
        out: dict[str, object] = {"key": self.key, "role": self.role}
        if self.required_role is not None:
            out["required_role"] = self.required_role
        if self.approvers is not None:
            out["approvers"] = list(self.approvers)
        return out


class LeaseError(SchedulerError):
    """Another live scheduler holds the store lease."""

    code = "lease_held"


class StoreError(SchedulerError):
    code = "store_error"


#: what each cause of a store fault means, and what to do about it
STORE_CAUSES: Mapping[str, tuple[str, str]] = {
    "disk_full": ("is full", "free space on its disk"),
    "read_only": (
        "is read-only",
        "make the file and its directory writable by the daemon's user, or remount its file "
        "system read-write",
    ),
    "io_error": ("cannot be read or written (I/O error)", "check the disk and the kernel log"),
    "locked": (
        "is locked by another process",
        "end what holds it (a sqlite3 shell inside a transaction, a backup) and try again",
    ),
    "corrupt": (
        "is corrupt",
        "stop every process using it and restore it from a backup, or move it aside to start "
        "with an empty store",
    ),
    "cannot_open": ("cannot be opened", "check the path and its permissions"),
    "unreachable": (
        "cannot be reached",
        "check that the database server is up and reachable from this host",
    ),
    "out_of_memory": ("ran out of memory", "give the database more memory"),
}


class StoreUnavailable(StoreError):
    """The store cannot be read or written now: its disk is full, it is read-only, locked,
    corrupt, or out of reach. ``cause`` names which (a key of :data:`STORE_CAUSES`), ``store``
    the file or URL, ``reason`` what the database said. Most pass by themselves: the scheduler
    backs off and tries again; the API answers 503."""

    code = "store_unavailable"

    def __init__(self, cause: str, *, store: str, reason: str, message: str | None = None) -> None:
        """``message``: the whole message, as a client got it (else made of the rest)."""
        what = STORE_CAUSES.get(cause, ("failed", ""))[0]
        super().__init__(message or f"the store {store} {what}: {reason}")
        self.cause = cause
        self.store = store
        self.reason = reason

    @property
    def hint(self) -> str:
        """What an operator can do about it."""
        return STORE_CAUSES.get(self.cause, ("", "see the daemon's log"))[1]

    def details(self) -> dict[str, object]:
        return {"cause": self.cause, "store": self.store, "hint": self.hint}


class ExecutionError(SchedulerError):
    """An agent's run failed; ``details`` (e.g. a command's exit code) go on the run's record."""

    code = "execution_failed"

    def __init__(self, message: str, *, details: Mapping[str, object] | None = None) -> None:
        super().__init__(message)
        self._details = dict(details or {})

    def details(self) -> dict[str, object]:
        return dict(self._details)


class DeliveryError(SchedulerError):
    code = "delivery_failed"


class PolicyError(SchedulerError):
    code = "policy_error"


class AgentPinError(SchedulerError):
    """AgentPin verification failed; ``check`` names the check (signature, exp, iss, ...)."""

    code = "agentpin_failed"

    def __init__(self, message: str, *, check: str) -> None:
        super().__init__(f"AgentPin {check} check failed: {message}")
        self.check = check

    def details(self) -> dict[str, object]:
        return {"check": self.check}
