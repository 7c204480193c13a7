"""The compact JWS of an AgentPin credential: parsing, the ES256 key and the signature.

JSON is read refusing duplicate keys (two parsers must never read one token differently).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwt.algorithms import ECAlgorithm
from jwt.exceptions import InvalidKeyError

from ..errors import AgentPinError

CREDENTIAL_TYP = "agentpin-credential+jwt"
_ALG = "ES256"
_MAX_TOKEN_CHARS = 16 * 1024
_B64URL = re.compile(r"[A-Za-z0-9_-]*")

Json = dict[str, Any]


def _loads(text: str | bytes) -> Any:
    """json.loads refusing duplicate keys (two parsers must never read one token differently)."""

    def pairs(items: list[tuple[str, Any]]) -> Json:
        out: Json = {}
        for key, value in items:
            if key in out:
                raise ValueError(f"duplicate key {key!r}")
            out[key] = value
        return out

    return json.loads(text, object_pairs_hook=pairs)


def _b64url_decode(part: str, what: str) -> bytes:
    if not _B64URL.fullmatch(part) or len(part) % 4 == 1:
        raise AgentPinError(f"the {what} is not base64url", check="token")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _parse_token(token: object) -> tuple[Json, Json, bytes, bytes]:
    """(header, payload, signing input, signature) of a compact JWS, without verifying it."""
    if not isinstance(token, str) or not token.strip():
        raise AgentPinError("no credential token was given", check="token")
    token = token.strip()
    if len(token) > _MAX_TOKEN_CHARS:
        raise AgentPinError(
            f"the token is longer than {_MAX_TOKEN_CHARS} characters", check="token"
        )
    parts = token.split(".")
    if len(parts) != 3:
        raise AgentPinError(
            f"the token has {len(parts)} dot-separated parts, not 3 (header.payload.signature)",
            check="token",
        )
    decoded: list[Json] = []
    for part, what in ((parts[0], "header"), (parts[1], "payload")):
        raw = _b64url_decode(part, what)
        try:
            value = _loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise AgentPinError(f"the {what} is not valid JSON: {exc}", check="token") from exc
        if not isinstance(value, dict):
            raise AgentPinError(f"the {what} is not a JSON object", check="token")
        decoded.append(value)
    signature = _b64url_decode(parts[2], "signature")
    return decoded[0], decoded[1], f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def _load_key(jwk: Json, kid: str) -> EllipticCurvePublicKey:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise AgentPinError(
            f"key {kid!r} is {jwk.get('kty')!r}/{jwk.get('crv')!r}, not an EC P-256 key",
            check="key",
        )
    use = jwk.get("use")
    ops = jwk.get("key_ops")
    if (use is not None and use != "sig") or (
        ops is not None and (not isinstance(ops, list) or "verify" not in ops)
    ):
        raise AgentPinError(
            f"key {kid!r} is not for verifying signatures (use {use!r}, key_ops {ops!r})",
            check="key",
        )
    public = {name: jwk.get(name) for name in ("kty", "crv", "x", "y")}
    try:
        key = ECAlgorithm.from_jwk(public)
    except (InvalidKeyError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise AgentPinError(f"key {kid!r} is not a valid P-256 key: {exc}", check="key") from exc
    if not isinstance(key, EllipticCurvePublicKey) or not isinstance(key.curve, SECP256R1):
        raise AgentPinError(f"key {kid!r} is not a P-256 public key", check="key")
    return key


def _signature_valid(key: EllipticCurvePublicKey, signing_input: bytes, signature: bytes) -> bool:
    """ES256 over ``signing_input``; the signature may be raw r||s (64 bytes) or DER."""
    candidates: list[bytes] = []
    if len(signature) == 64:
        candidates.append(signature)
    try:
        r, s = decode_dss_signature(signature)
    except ValueError:
        pass
    else:
        if 0 < r < 2**256 and 0 < s < 2**256:
            candidates.append(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    es256 = ECAlgorithm(ECAlgorithm.SHA256)
    return any(es256.verify(signing_input, key, raw) for raw in candidates)
