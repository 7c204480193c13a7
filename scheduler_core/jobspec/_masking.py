"""What a secret looks like wherever it is shown: masked values, mappings and URLs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def mask_secret(value: str | None) -> str | None:
    """What a secret looks like wherever it is shown."""
    if value is None:
        return None
    return "****" if value else ""


_SECRET_KEY = re.compile(r"(?i)(token|secret|password|passwd|key|auth|credential|signature)")


def _mask_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in value.items():
        if isinstance(v, Mapping):
            out[k] = _mask_mapping(v)
        elif _SECRET_KEY.search(str(k)) and isinstance(v, str):
            out[k] = mask_secret(v)
        else:
            out[k] = v
    return out


def _mask_url(url: str) -> str:
    """Hide credentials and query strings (Slack and many webhooks carry their secret there)."""
    masked = re.sub(r"//[^/@]+@", "//****@", url)
    masked = re.sub(r"\?.*$", "?****", masked)
    if "hooks.slack.com/" in masked:
        masked = re.sub(r"(hooks\.slack\.com/services/)[^?]*", r"\1****", masked)
    return masked
