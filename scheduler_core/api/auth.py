"""API keys: where they come from, their names and roles, how they are checked, and the key
file local clients read.

Keys come from ``[api.keys.NAME]`` (``key`` and ``role``), ``[api] api_keys`` and
``SYMBI_API_KEY`` (which the config loader appends to ``api_keys``): the listed keys are admin
keys named ``key-1``, ``key-2``... With none at all, the daemon generates one (admin, named
``local``) on first start and keeps it in ``<data dir>/api-key`` (mode 0600); the CLI and the
console on the same machine read it from there (:func:`local_api_key`). A key shorter than
:data:`~scheduler_core.settings.MIN_API_KEY_CHARS` is refused. Keys are never logged nor shown:
a request's audit actor is its key's name (:class:`~scheduler_core.access.Principal`).
"""

from __future__ import annotations

__all__ = [
    "API_KEY_FILE",
    "GENERATED_KEY_NAME",
    "ApiKeys",
    "api_key_path",
    "is_loopback",
    "local_api_key",
    "new_api_key",
    "resolve_api_keys",
]

import hashlib
import hmac
import ipaddress
import os
import secrets
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..access import Principal, Role
from ..errors import ConfigError
from ..records import record
from ..settings import MIN_API_KEY_CHARS, ApiKeySpec, SchedulerConfig

#: the generated key's file name, in the data directory
API_KEY_FILE = "api-key"
#: the generated key's name in the audit log
GENERATED_KEY_NAME = "local"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


@record
class ApiKeys:
    """The accepted keys, kept only as SHA-256 digests, each with its name and role."""

    entries: tuple[tuple[bytes, Principal], ...]  #: (sha256 of the key, who it stands for)
    generated: Path | None = None  #: the key file, when the key came from there

    @classmethod
    def of(
        cls,
        keys: Iterable[str] = (),
        *,
        named: Mapping[str, ApiKeySpec] | None = None,
        generated: Path | None = None,
    ) -> ApiKeys:
        """``keys``: admin keys, named ``key-1``... (the generated key: ``local``);
        ``named``: keys by name, each with its role."""
        entries: list[tuple[bytes, Principal]] = []
        seen: set[bytes] = set()
        for index, key in enumerate(k for k in keys if k):
            digest = _digest(key)
            if digest in seen:
                continue
            seen.add(digest)
            name = GENERATED_KEY_NAME if generated is not None else f"key-{index + 1}"
            entries.append((digest, Principal(name, Role.ADMIN)))
        for name, spec in (named or {}).items():
            digest = _digest(spec.key)
            if spec.key and digest not in seen:
                seen.add(digest)
                entries.append((digest, Principal(name, spec.role)))
        return cls(tuple(entries), generated)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def check(self, authorization: str | None) -> Principal | None:
        """Who an ``Authorization: Bearer KEY`` header stands for, or None if no key matches.

        Every key is compared, in constant time, whether or not an earlier one matched.
        """
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        offered = _digest(token)
        found: Principal | None = None
        for digest, principal in self.entries:
            if hmac.compare_digest(offered, digest):
                found = principal
        return found


def api_key_path(config: SchedulerConfig) -> Path:
    """Where the generated key lives: ``<data dir>/api-key``."""
    return config.resolved_data_dir() / API_KEY_FILE


def local_api_key(config: SchedulerConfig) -> str | None:
    """The key a client on this machine should send: ``SYMBI_API_KEY``, else the first of
    ``api_keys``, else the named key of the highest role (the first such), else the key file
    the daemon wrote."""
    env = os.environ.get("SYMBI_API_KEY")
    if env:
        return env
    if config.api.api_keys:
        return config.api.api_keys[0]
    if config.api.keys:
        best = max(config.api.keys.values(), key=lambda spec: spec.role.rank)
        return best.key
    try:
        return api_key_path(config).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_api_keys(config: SchedulerConfig, *, generate: bool = True) -> ApiKeys:
    """The keys the API accepts; with none configured, the key file's (created if missing).

    A non-loopback bind with no configured key is refused: a generated key on this machine
    protects nothing a remote client could be given safely by accident.
    """
    _check_lengths(config)
    if config.api.api_keys or config.api.keys:
        return ApiKeys.of(config.api.api_keys, named=config.api.keys)
    if not is_loopback(config.api.host):
        raise ConfigError(
            f"the API would listen on {config.api.host}, which is not a loopback address, "
            "with no API key configured: set [api.keys.NAME], api.api_keys or SYMBI_API_KEY "
            '(or bind api.host = "127.0.0.1")',
            key="api.api_keys",
            path=config.path,
        )
    path = api_key_path(config)
    key = _read_key_file(path)
    if key is None:
        if not generate:
            return ApiKeys.of(())
        key = _create_key_file(path)
    return ApiKeys.of([key], generated=path)


def _check_lengths(config: SchedulerConfig) -> None:
    """The loader refuses short keys with the file's line; a configuration built another way
    (a test, a program embedding the API) meets the same rule here."""
    named = [(f"api.keys.{n}.key", s.key) for n, s in config.api.keys.items()]
    listed = [(f"api.api_keys item {i}", k) for i, k in enumerate(config.api.api_keys)]
    for where, key in [*listed, *named]:
        if len(key) < MIN_API_KEY_CHARS:
            raise ConfigError(
                f"{where}: an API key needs at least {MIN_API_KEY_CHARS} characters "
                f"(this one has {len(key)})",
                key=where.split(" ")[0],
                path=config.path,
            )


def new_api_key() -> str:
    """A random key (256 bits), named for what it is: ``symbi_`` and 43 URL-safe characters.

    The prefix keeps a key from starting with ``-`` (one bare token in 64 did, which
    ``--api-key KEY`` then read as an option) and lets secret scanners recognise one.
    """
    return f"symbi_{secrets.token_urlsafe(32)}"


def _read_key_file(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read the API key file: {exc}", path=str(path)) from None
    if not text:
        return None
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # a key file others can read is a key others have
    return text


def _create_key_file(path: Path) -> str:
    """Create the key file whole (written aside, then linked into place), or take the key
    another process has just put there."""
    key = new_api_key()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".api-key-", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(key + "\n")
            try:
                os.link(tmp, path)
            except FileExistsError:
                existing = _read_key_file(path)
                if existing is None:  # an empty file left behind: replace it
                    os.replace(tmp, path)
                    return key
                return existing
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the API key file: {exc}", path=str(path)) from None
    return key
