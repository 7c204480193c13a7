"""Job definitions from and to plain mappings (JSON bodies, CLI ``--json``, DSL blocks, the store).

``job_from_mapping`` is the one place that turns user data into a :class:`JobDefinition`. It accepts
the guide's spellings (``agent_id``, ``cron_expr``) and the upstream SDK's (``agent_name``,
``cron_expression``, ``agentpin_jwt``), checks every field, and reports every problem at once with
the field named. Semantic checks that need the clock or the config (``at`` in the past, known
agents) happen in the service.

The pieces: ``_fields`` (which fields a job has, their spellings and defaults), ``_values`` (one
value checked: names, durations, strings, numbers, zones, cron), ``_parse``
(:func:`job_from_mapping` and its policy and heartbeat sections), ``_serial`` (the stored
definition JSON and the guide's JSON view) and ``_masking`` (what a secret looks like when shown).
"""

from __future__ import annotations

__all__ = [
    "JOB_FIELDS",
    "MAX_DURATION_SECONDS",
    "MAX_INPUT_BYTES",
    "MAX_STRING_CHARS",
    "NAME_PATTERN",
    "STATE_FIELDS",
    "check_input",
    "job_from_mapping",
    "job_to_dict",
    "mask_secret",
    "parse_duration",
    "policy_from_mapping",
    "policy_to_mapping",
    "spec_from_json",
    "spec_to_json",
    "validate_name",
]

from ._fields import JOB_FIELDS, STATE_FIELDS
from ._masking import _mask_mapping as _mask_mapping
from ._masking import mask_secret
from ._parse import job_from_mapping, policy_from_mapping
from ._serial import _policy_dict as policy_to_mapping
from ._serial import job_to_dict, spec_from_json, spec_to_json
from ._values import (
    MAX_DURATION_SECONDS,
    MAX_INPUT_BYTES,
    MAX_STRING_CHARS,
    NAME_PATTERN,
    check_input,
    parse_duration,
    validate_name,
)
from ._values import _shown as _shown
