"""``${VAR}`` in job definitions: one meaning, whatever the job's source.

A job keeps ``${VAR}`` as written (DSL file, ``symbi cron add``, the API alike); it is expanded
only when used (a delivery, an AgentPin check), only in the fields that are templates, and only
for the names the operator allows in ``[secrets]`` (environment names or globs, or named values).
Why: whoever may create a job (an API key holder) must not be able to read the daemon's
environment by naming a variable in a webhook. A URL may hold ``${VAR}`` in its path or query,
never in its scheme or host, so a secret can only go where the operator's own URL points.

The template fields: ``webhook_url``, the values of ``webhook_headers``, the strings of
``delivery_config`` and ``agent_pin_jwt``.
"""

from __future__ import annotations

__all__ = [
    "AllowedEnvironment",
    "SecretPolicy",
    "WrittenOut",
    "check_job_secrets",
    "check_secrets_config",
    "is_template_field",
    "references",
    "scan_store",
    "unescape_literal",
    "url_template_error",
    "written_out_secrets",
]

import fnmatch
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import field
from typing import TYPE_CHECKING, Any

from .errors import ValidationError
from .model import JobDefinition
from .records import record
from .settings import SecretsConfig

if TYPE_CHECKING:
    from .store.base import JobStore

_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_PATTERN = re.compile(r"^[A-Za-z0-9_*?]+\Z")
#: the variables a glob never covers: a key to the scheduler itself is named exactly, or not at all
_NEVER_BY_GLOB = ("SYMBI_API_KEY",)
#: top-level job fields whose strings are templates (``delivery_config`` strings too)
_TEMPLATE_FIELDS = (
    "webhook_url",
    "webhook_headers",
    "delivery_config",
    "agent_pin_jwt",
    "agentpin_jwt",
)


def references(text: str) -> list[str]:
    """The variable names ``text`` refers to (``$${`` is a literal, not a reference)."""
    if "${" not in text:
        return []
    return [m.group(1) for m in _REF.finditer(text) if m.group(1)]


def unescape_literal(text: str) -> str:
    """A template's text read as plain text: ``$${`` is ``${``; references stay as written."""
    return text.replace("$${", "${") if "$${" in text else text


def is_template_field(path: str) -> bool:
    """Whether the dotted job field ``path`` (``webhook_headers.X``) is expanded when used."""
    if "." not in path and "[" not in path:  # a top-level field (most often)
        return path in _TEMPLATE_FIELDS
    head = re.split(r"[.\[]", path, maxsplit=1)[0]
    return head in _TEMPLATE_FIELDS


@record
class SecretPolicy:
    """The operator's allow-list, and what its names hold when a job is delivered."""

    env: tuple[str, ...] = ()
    values: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, config: SecretsConfig) -> SecretPolicy:
        return cls(env=tuple(config.env), values=dict(config.values))

    def allows(self, name: str) -> bool:
        if name in self.values or name in self.env:
            return True
        if name in _NEVER_BY_GLOB:
            return False
        return any(fnmatch.fnmatchcase(name, p) for p in self.env)

    def environment(self, base: Mapping[str, str] | None = None) -> AllowedEnvironment:
        """What a delivery may read: the allowed names only (``base``: default the process
        environment, read when a value is looked up)."""
        return AllowedEnvironment(self, os.environ if base is None else base)

    def describe(self) -> str:
        """The list as a message shows it."""
        names = [*self.env, *(f"{n} (a named value)" for n in self.values)]
        return ", ".join(names) if names else "none"


class AllowedEnvironment(Mapping[str, str]):
    """A read-only view of an environment holding only what a :class:`SecretPolicy` allows
    (named values win over the environment)."""

    def __init__(self, policy: SecretPolicy, base: Mapping[str, str]) -> None:
        self._policy = policy
        self._base = base

    def __getitem__(self, name: str) -> str:
        if name in self._policy.values:
            return self._policy.values[name]
        if self._policy.allows(name):
            return self._base[name]
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        seen = set(self._policy.values)
        yield from self._policy.values
        for name in list(self._base):
            if name not in seen and self._policy.allows(name):
                yield name

    def __len__(self) -> int:
        return sum(1 for _ in self)


def url_template_error(text: str) -> str | None:
    """Why ``text`` (a URL template) puts a reference where it must not be, or None."""
    if "${" not in text or not references(text):
        return None
    scheme, sep, rest = text.partition("://")
    if not sep:
        return "a ${VAR} may stand only in a URL's path or query: write the scheme and host out"
    end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=-1)
    authority = rest if end < 0 else rest[:end]
    if references(scheme + "://" + authority) or "${" in scheme:
        return (
            "a ${VAR} may stand only in a URL's path or query, not in its scheme or host "
            "(the host says where a secret goes: write it out)"
        )
    return None


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def _template_strings(job: JobDefinition) -> Iterator[tuple[str, str]]:
    if job.webhook_url:
        yield "webhook_url", job.webhook_url
    for name, value in job.webhook_headers.items():
        yield f"webhook_headers.{name}", str(value)
    yield from _strings(dict(job.delivery_config), "delivery_config")
    if job.agent_pin_jwt:
        yield "agent_pin_jwt", job.agent_pin_jwt


def _is_url_field(path: str) -> bool:
    return path == "webhook_url" or path.endswith(".webhook_url") or path.endswith(".url")


def check_job_secrets(job: JobDefinition, policy: SecretPolicy) -> list[ValidationError]:
    """Every reference of ``job`` the policy does not allow, and every one in a URL's scheme
    or host, each naming its field."""
    errors: list[ValidationError] = []
    for path, text in _template_strings(job):
        names = references(text)
        if not names:
            continue
        if _is_url_field(path) and (why := url_template_error(text)):
            errors.append(ValidationError(why, field=path))
            continue
        refused = [n for n in dict.fromkeys(names) if not policy.allows(n)]
        if refused:
            shown = ", ".join(f"${{{n}}}" for n in refused)
            errors.append(
                ValidationError(
                    f"{shown} is not an allowed secret (allowed: {policy.describe()}); the "
                    "operator allows names in the config's [secrets] env or [secrets.values]",
                    field=path,
                )
            )
    return errors


def check_secrets_config(config: SecretsConfig) -> list[tuple[str, str]]:
    """Problems in ``[secrets]``, as (dotted key, message)."""
    problems: list[tuple[str, str]] = []
    for i, pattern in enumerate(config.env):
        if not _PATTERN.match(pattern) or pattern[0].isdigit():
            problems.append(
                (
                    "secrets.env",
                    f"item {i}: {pattern!r} is not a variable name or glob "
                    "(letters, digits, _ and the wildcards * and ?)",
                )
            )
        elif not _NAME.match(pattern):
            covered = [n for n in _NEVER_BY_GLOB if fnmatch.fnmatchcase(n, pattern)]
            if covered:
                problems.append(
                    (
                        "secrets.env",
                        f"item {i}: the glob {pattern!r} would cover {covered[0]} (the API key): "
                        "a glob never does; name it exactly if a job must send it",
                    )
                )
    for name in config.values:
        if not _NAME.match(name):
            problems.append(
                (f"secrets.values.{name}", f"{name!r} is not a variable name (A-Z, 0-9, _)")
            )
    return problems


_SECRET_NAME = re.compile(r"(?i)(token|secret|pass|key|auth|credential|jwt|webhook|hook)")
#: a value shorter than this is not taken for a secret written out (too many false alarms)
_MIN_WRITTEN_OUT = 8


def written_out_secrets(
    job: JobDefinition, policy: SecretPolicy, env: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """(field, variable) for each template field of ``job`` that holds the value of an
    environment variable or named value written out: what an older version stored when it
    expanded ``${VAR}`` as a DSL file loaded. The values themselves are never returned."""
    env = os.environ if env is None else env
    candidates: dict[str, str] = {}
    for name, value in env.items():
        if len(value) >= _MIN_WRITTEN_OUT and (_SECRET_NAME.search(name) or policy.allows(name)):
            candidates.setdefault(value, name)
    for name, value in policy.values.items():
        if len(value) >= _MIN_WRITTEN_OUT:
            candidates[value] = name
    found: list[tuple[str, str]] = []
    if not candidates:
        return found
    for path, text in _template_strings(job):
        for value, name in candidates.items():
            if value in text and f"${{{name}" not in text:
                found.append((path, name))
                break
    return found


@record
class WrittenOut:
    """A stored job field holding a secret written out (never the value itself), or, with
    ``allowed=False``, naming a variable ``[secrets]`` does not allow (stored before the list
    existed: its deliveries fail until the name is allowed or the job changed)."""

    job: str
    field: str
    variable: str
    allowed: bool = True

    @property
    def event(self) -> str:
        return "secrets.written_out" if self.allowed else "secrets.not_allowed"

    def __str__(self) -> str:
        if not self.allowed:
            return (
                f"job {self.job!r}: {self.field} names ${{{self.variable}}}, which [secrets] "
                "does not allow: its deliveries fail until the name is allowed or the job "
                "changed"
            )
        return (
            f"job {self.job!r}: {self.field} holds the value of {self.variable} written out "
            f"(stored by a version that expanded ${{VAR}} when a DSL file loaded); write "
            f"${{{self.variable}}} in its definition, allow {self.variable} in [secrets], "
            "and load it again"
        )


async def scan_store(
    store: JobStore, policy: SecretPolicy, env: Mapping[str, str] | None = None
) -> list[WrittenOut]:
    """Every job field of the store that holds a secret written out (see
    :func:`written_out_secrets`) or names a variable the policy does not allow; nothing is
    changed."""
    found: list[WrittenOut] = []
    after = ""
    while True:  # only the jobs with such fields: a scan of 1,000,000 plain jobs reads none
        jobs = await store.jobs_with_templates(after, 500)
        for job in jobs:
            for path, name in written_out_secrets(job, policy, env):
                found.append(WrittenOut(job.name, path, name))
            for path, text in _template_strings(job):
                for ref in dict.fromkeys(references(text)):
                    if not policy.allows(ref):
                        found.append(WrittenOut(job.name, path, ref, allowed=False))
        if len(jobs) < 500:
            found.sort(key=lambda item: item.job)  # by name, as they are listed (stable)
            return found
        after = jobs[-1].id
