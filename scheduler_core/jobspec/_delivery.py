"""Delivery fields checked when a job is made, so that nothing fails only at delivery.

Why here: a header with a line break, a recipient list with CR/LF in it or a ``file://`` URL
would otherwise be stored and fail (or worse, inject a header or read a file) at the first run.
Which channels exist depends on the installation, so that check is the service's
(:mod:`scheduler_core.delivery.checks`); these need nothing but the value.
"""

from __future__ import annotations

__all__ = [
    "check_delivery_config",
    "check_email",
    "check_header_name",
    "check_header_value",
    "check_url",
]

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..errors import ValidationError
from ..secrets import references, url_template_error

#: RFC 7230's token: what a header name may be
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
#: a bare address: no spaces, quotes, brackets, separators or control characters
_ATOM = r"[^\s@<>()\[\],;:\"\\\x00-\x1f\x7f]+"
_EMAIL = re.compile(rf"^{_ATOM}@{_ATOM}(\.{_ATOM})*\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _shown(text: str) -> str:
    shown = text if len(text) <= 60 else text[:57] + "..."
    return ascii(shown)[1:-1] if not shown.isprintable() else shown


def check_url(value: str, field: str) -> str:
    """An http(s) URL with a host; a ``${VAR}`` only in its path or query."""
    if why := url_template_error(value):
        raise ValidationError(why, field=field)
    if _CONTROL.search(value) or any(ch.isspace() for ch in value.strip()):
        raise ValidationError(
            "must not contain spaces, line breaks or control characters", field=field
        )
    text = value.strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as exc:
        raise ValidationError(f"not a valid URL: {exc}", field=field) from None
    if parts.scheme.lower() not in ("http", "https"):
        scheme = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise ValidationError(
            f"must be an http:// or https:// URL, got {scheme} ({_shown(text)})", field=field
        )
    if not host:
        raise ValidationError(f"has no host ({_shown(text)})", field=field)
    return value


def check_header_name(name: str, field: str) -> None:
    if not _TOKEN.match(name):
        raise ValidationError(
            f"{_shown(name)!r} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~, "
            "no spaces or colons)",
            field=field,
        )


def check_header_value(value: str, field: str) -> None:
    if _CONTROL.search(value):
        raise ValidationError(
            "must not contain line breaks or control characters (a header must stay one header)",
            field=field,
        )


def check_email(value: str, field: str) -> str:
    """A bare address (``ops@example.com``): no display name, no CR/LF, one address."""
    text = value.strip()
    if not _EMAIL.match(text) or references(text):
        raise ValidationError(
            f"{_shown(text)!r} is not an email address (write one bare address per item, "
            "like ops@example.com)",
            field=field,
        )
    return text


def check_delivery_config(value: Mapping[str, Any], field: str) -> list[ValidationError]:
    """The URLs a channel's own settings name (``slack.webhook_url``)."""
    errors: list[ValidationError] = []
    slack = value.get("slack")
    if isinstance(slack, Mapping):
        url = slack.get("webhook_url")
        if url is not None:
            where = f"{field}.slack.webhook_url"
            if not isinstance(url, str):
                errors.append(ValidationError("expected a string", field=where))
            else:
                try:
                    check_url(url, where)
                except ValidationError as exc:
                    errors.append(exc)
    return errors
