"""compact_encoder gives exactly the text of the json.JSONEncoder it stands for."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from scheduler_core.fastjson import compact_encoder

VALUES: list[Any] = [
    {"b": 1, "a": [1, 2.5, -0.0, 1e300, True, False, None], "é": 'snow ☃ \u2028 \x01 "q" \\'},
    {"z": {"y": {"x": []}}, "m": {}, 3: "int key", 1.5: "float key", None: 0, True: 1},
    ["plain", "", 0, -7, 12345678901234567890, math.inf, -math.inf],
    "top-level text ☃",
    4.0,
    {"nan": math.nan},
]


@pytest.mark.parametrize("sort_keys", [False, True])
@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_same_text_as_jsonencoder(value: Any, sort_keys: bool) -> None:
    reference = json.JSONEncoder(separators=(",", ":"), sort_keys=sort_keys)
    try:
        expected: Any = reference.encode(value)
    except TypeError as exc:  # keys of several types cannot be sorted: refused alike
        expected = type(exc)
    try:
        got: Any = compact_encoder(sort_keys=sort_keys)(value)
    except TypeError as exc:
        got = type(exc)
    assert got == expected


def test_default_is_applied_as_jsonencoder_applies_it() -> None:
    value = {"at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "n": [ValueError("x")]}
    reference = json.JSONEncoder(separators=(",", ":"), default=str)
    assert compact_encoder(default=str)(value) == reference.encode(value)


def test_what_cannot_be_encoded_is_refused() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        compact_encoder()({"x": object()})
    with pytest.raises(TypeError):
        json.JSONEncoder(separators=(",", ":")).encode({"x": object()})
    # and the encoder is still usable afterwards (nothing left behind by the failure)
    assert compact_encoder()({"x": [1]}) == '{"x":[1]}'
