"""What an agent's process inherits from the scheduler's environment: little, by name.

Why: the scheduler's environment holds its API keys (``SYMBI_API_KEY``), delivery secrets
(SMTP passwords, Slack tokens) and LLM keys. An agent (or whatever an LLM tells it to run) given
all of that has admin access to the scheduler. So an agent starts from a clean environment:

* the basics a program needs: ``PATH``, ``HOME``, ``LANG``, ``LC_*``, ``TZ``, ``TMPDIR``;
* what its definition's ``inherit_env`` names (names or globs such as ``AWS_*``; a glob never
  covers ``SYMBI_API_KEY``, and no other ``SYMBI_`` setting is passed unless named exactly);
* its own ``env``;
* the run's ``SYMBI_*`` variables (set by the executor, they win).
"""

from __future__ import annotations

__all__ = ["BASE_VARIABLES", "agent_environment", "inherited"]

import fnmatch
import os
from collections.abc import Iterable, Mapping

#: variables every agent gets when the scheduler has them
BASE_VARIABLES: tuple[str, ...] = ("PATH", "HOME", "LANG", "TZ", "TMPDIR")
_BASE_PREFIXES: tuple[str, ...] = ("LC_",)


def _named(name: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        if pattern == name:
            return True
        if name.startswith("SYMBI_"):  # the scheduler's own settings and keys: exact names only
            continue
        if fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def inherited(
    inherit_env: Iterable[str] = (), base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The part of ``base`` (default ``os.environ``) an agent inherits."""
    base = os.environ if base is None else base
    patterns = tuple(inherit_env)
    out: dict[str, str] = {}
    for name, value in base.items():
        if (
            name in BASE_VARIABLES
            or name.startswith(_BASE_PREFIXES)
            or (patterns and _named(name, patterns))
        ):
            out[name] = value
    return out


def agent_environment(
    own: Mapping[str, str],
    *,
    inherit_env: Iterable[str] = (),
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The whole environment of an agent's process: what it inherits, then ``own`` (its
    ``env`` and the run's ``SYMBI_*``, in the order the caller merged them)."""
    return {**inherited(inherit_env, base), **own}
