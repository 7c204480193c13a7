"""The schedule DSL: ``schedule { ... }`` and ``agent NAME { ... }`` blocks in ``.symbi`` files.

Users keep their jobs in version-controlled text; this package turns that text into validated
:class:`~scheduler_core.model.JobDefinition` and :class:`~scheduler_core.model.AgentDefinition`
records, or into a :class:`~scheduler_core.errors.DslError` that lists every problem at
``file:line:col``. Nothing is loaded from a file (or a set of files) that has any error.

Syntax, in brief::

    agent reporter-agent {             # '#' and '//' comments
      command: ["python", "report.py"] # runner inferred: command, handler -> python, model -> llm
    }
    schedule {                         # or: schedule daily-report { ... }
      name: "daily-report"
      agent: "reporter-agent"
      cron: "0 9 * * *"
      delivery: ["stdout", "log_file"]
      policy { max_runtime: "5m" }     # nested block; `heartbeat: { ... }` works too
      webhook_headers: { "Authorization": "Bearer ${TOKEN}" }   # ${VAR} from the environment
    }

Strings are double-quoted with escapes (``\\n``, ``\\"``, ``\\$``, ``\\uXXXX``) or triple-quoted
(raw, several lines, common indentation removed); numbers, ``true``/``false``/``null``,
durations (``30s``, ``5m``, ``2h``, ``1d``, quoted or not), lists ``[...]`` and maps ``{...}``
with optional commas; ``:`` or ``=`` between key and value. ``${VAR:-default}`` gives a default
and ``$${`` a literal ``${``.
"""

from __future__ import annotations

__all__ = [
    "AGENT_FIELDS",
    "DslBundle",
    "DslDocument",
    "ValidationReport",
    "agent_from_mapping",
    "expand_paths",
    "load_dsl_files",
    "parse_dsl",
    "validate_paths",
]

from typing import TYPE_CHECKING, Any

from .agents import AGENT_FIELDS, agent_from_mapping

if TYPE_CHECKING:
    from ._loader import (
        DslBundle,
        DslDocument,
        ValidationReport,
        expand_paths,
        load_dsl_files,
        parse_dsl,
        validate_paths,
    )

#: the parser and loader, imported at first use: the scheduler reads its jobs from the store and
#: imports ``dsl.agents`` (stored agent definitions) without the parser
_LOADER_NAMES = frozenset(
    {
        "DslBundle",
        "DslDocument",
        "ValidationReport",
        "expand_paths",
        "load_dsl_files",
        "parse_dsl",
        "validate_paths",
    }
)


def __getattr__(name: str) -> Any:
    if name not in _LOADER_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import _loader

    value = getattr(_loader, name)
    globals()[name] = value
    return value
