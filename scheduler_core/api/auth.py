"""API keys: where they come from, how they are checked, and the key file local clients read.

Keys come from ``[api] api_keys`` and ``SYMBI_API_KEY`` (which the config loader appends). With
none, the daemon generates one on first start and keeps it in ``<data dir>/api-key`` (mode 0600);
the CLI and the console on the same machine read it from there (:func:`local_api_key`). Keys are
never logged: an audit actor names a key by its id, the first hex digits of its SHA-256.
"""

from __future__ import annotations

__all__ = [
    "API_KEY_FILE",
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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..settings import SchedulerConfig

#: the generated key's file name, in the data directory
API_KEY_FILE = "api-key"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def key_id(key: str) -> str:
    """How a key is named in the audit log and the daemon's log: never the key itself."""
    return _digest(key).hex()[:8]


@dataclass(frozen=True, slots=True)
class ApiKeys:
    """The accepted keys, kept only as SHA-256 digests."""

    digests: tuple[tuple[bytes, str], ...]  #: (sha256 of the key, key id)
    generated: Path | None = None  #: the key file, when the key came from there

    @classmethod
    def of(cls, keys: Iterable[str], *, generated: Path | None = None) -> ApiKeys:
        unique = dict.fromkeys(k for k in keys if k)
        return cls(tuple((_digest(k), key_id(k)) for k in unique), generated)

    def __bool__(self) -> bool:
        return bool(self.digests)

    def check(self, authorization: str | None) -> str | None:
        """The key id for an ``Authorization: Bearer KEY`` header, or None if it is not valid.

        Every key is compared, in constant time, whether or not an earlier one matched.
        """
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        offered = _digest(token)
        found: str | None = None
        for digest, ident in self.digests:
            if hmac.compare_digest(offered, digest):
                found = ident
        return found


def api_key_path(config: SchedulerConfig) -> Path:
    """Where the generated key lives: ``<data dir>/api-key``."""
    return config.resolved_data_dir() / API_KEY_FILE


def local_api_key(config: SchedulerConfig) -> str | None:
    """The key a client on this machine should send: ``SYMBI_API_KEY``, else the first
    configured key, else the key file the daemon wrote."""
    env = os.environ.get("SYMBI_API_KEY")
    if env:
        return env
    if config.api.api_keys:
        return config.api.api_keys[0]
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
    if config.api.api_keys:
        return ApiKeys.of(config.api.api_keys)
    if not is_loopback(config.api.host):
        raise ConfigError(
            f"the API would listen on {config.api.host}, which is not a loopback address, "
            "with no API key configured: set api.api_keys or SYMBI_API_KEY "
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
