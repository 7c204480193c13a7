"""Configuration: the guide's [scheduler] and [scheduler.delivery] tables and what the design adds.

The dataclasses in :mod:`scheduler_core.settings` are the contract the engine reads; loading
them from TOML (tomlkit) with ``SYMBI_*`` environment overrides is this package's: ``_schema``
(the keys), ``_lines`` (where a key is in the text), ``_load`` (:func:`load_config`) and
``_write`` (``symbi config show`` and ``set``).

Loading rules (why: a typo in a config file must never silently fall back to a default):

* every key is checked against these dataclasses; an unknown key or a wrong type is a
  :class:`~scheduler_core.errors.ConfigError` naming the dotted key and its line, with the
  nearest valid key suggested; all problems are collected (:class:`ConfigErrors`);
* ``${VAR}`` (``${VAR:-default}``; ``$${`` for a literal) is expanded in every string. An unset
  variable is an error naming the key and the variable, except in an optional string setting
  (one whose default is "not set", such as the guide's ``slack_api_token = "${SLACK_API_TOKEN}"``
  or ``smtp_password = "${SMTP_PASS}"``): that setting stays unset and a warning is recorded in
  :attr:`SchedulerConfig.warnings`, so the guide's example loads on a machine without Slack or
  SMTP credentials and the channel fails, when used, with a message naming the setting;
* the guide's environment variables then override the file (:data:`ENV_OVERRIDES`);
* ``[agents.NAME]`` tables take the same keys as DSL ``agent NAME { ... }`` blocks and go through
  the same validator (:func:`scheduler_core.dsl.agents.agent_from_mapping`);
* relative ``dsl_paths`` are taken relative to the config file's directory.
"""

from __future__ import annotations

__all__ = [
    "ENV_OVERRIDES",
    "SECRET_KEYS",
    "AgentPinConfig",
    "ApiConfig",
    "ConfigErrors",
    "DeliveryConfig",
    "SchedulerConfig",
    "SchedulerSettings",
    "StoreConfig",
    "TuiConfig",
    "config_keys",
    "config_to_toml",
    "default_config_path",
    "default_data_dir",
    "find_config_path",
    "load_config",
    "load_config_text",
    "set_config_value",
    "validate_config_file",
]

from ..settings import (
    AgentPinConfig,
    ApiConfig,
    DeliveryConfig,
    SchedulerConfig,
    SchedulerSettings,
    StoreConfig,
    TuiConfig,
    default_data_dir,
)
from ._load import (
    default_config_path,
    find_config_path,
    load_config,
    load_config_text,
    validate_config_file,
)
from ._schema import ENV_OVERRIDES, SECRET_KEYS, ConfigErrors, config_keys
from ._write import config_to_toml, set_config_value
