"""``${VAR}`` expansion, shared by DSL files, the TOML config and delivery settings."""

from __future__ import annotations

__all__ = ["expand_vars"]

import re
from collections.abc import Mapping

_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_vars(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """``text`` with ``${VAR}`` and ``${VAR:-default}`` expanded and ``$${`` made ``${``;
    also the names of unset variables without a default (they expand to nothing)."""
    if "$" not in text:
        return text, []
    missing: list[str] = []

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$${":
            return "${"
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    return _VAR.sub(repl, text), missing
