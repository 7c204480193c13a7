"""AgentPin credential verification: is a job's ``agent_pin_jwt`` a valid credential for its agent?

An AgentPin credential is a compact JWS (``alg`` ES256, ``typ`` ``agentpin-credential+jwt``,
``kid`` naming the signing key) whose payload carries ``iss`` (the issuing domain), ``sub`` (the
agent id), ``iat``/``exp`` (and maybe ``nbf``), ``jti`` and ``capabilities``. The issuer publishes
its keys and agents in a *discovery document* (``https://DOMAIN/.well-known/agent-identity.json``)
and revoked credentials, agents and keys in a *revocation document*; a *trust bundle* is a local
file holding copies of both (``{agentpin_bundle_version, created_at, documents, revocations}``).

The checks, in the order :meth:`AgentPinVerifier.verify` runs them; the first that fails raises
:class:`~scheduler_core.errors.AgentPinError` whose ``check`` attribute is the name given here:

* ``config``: ``[agentpin] domain`` is set (without it the issuer cannot be checked, so every
  credential is refused) and is a bare host name, and there is a key source (a trust bundle or
  discovery);
* ``token``: the token is a compact JWS (three base64url parts; header and payload JSON objects
  without duplicate keys; at most 16 KiB);
* ``alg``: the header's ``alg`` is ES256 (``none``, HS256 and every other value are refused);
* ``typ``: the header's ``typ`` is ``agentpin-credential+jwt``;
* ``header``: the header has no ``crit`` extensions (none are understood);
* ``kid``: the header names a key (and, later, the issuer's document lists it);
* ``iss``: ``iss`` is exactly the configured domain. This is checked before any document is
  read or fetched, so a token cannot make the verifier contact a host of its choosing;
* ``trust_bundle``: the configured trust bundle can be read and is well formed (fail closed);
* ``discovery``: the issuer's discovery document is found (in the bundle, else fetched when
  discovery is on: HTTP 200, no redirect, within the timeout, valid JSON) and is for the issuer;
* ``key_expiry``: the key's ``exp`` (ISO 8601, as agentpin writes it, or epoch seconds) has not
  passed; an unreadable expiry fails;
* ``key``: the key is an EC P-256 verification key;
* ``signature``: the ES256 signature verifies. DER-encoded signatures (what the agentpin tools
  write) and raw ``r||s`` (RFC 7518, what PyJWT writes) are both accepted;
* ``exp``, ``iat``, ``nbf``: the credential is within its validity window, give or take
  ``clock_skew_seconds``;
* ``lifetime``: ``exp - iat`` is positive and at most ``max_lifetime_seconds`` (and at most the
  agent's ``credential_ttl_max`` when its declaration sets one);
* ``sub``: ``sub`` is ``urn:agentpin:<domain>:<agent name>`` for the job's agent;
* ``agent``: the discovery document lists that agent id, with status ``active``;
* ``capabilities``: the credential claims no capability the agent's declaration does not cover
  (agentpin's matching: same action; resource equal, ``*`` or a dotted sub-resource);
* ``revocation``: neither the ``jti``, the agent id nor the ``kid`` is revoked by the trust
  bundle's revocation documents for the issuer or by the discovery document's
  ``revocation_endpoint``; a revocation source that cannot be read fails closed.

Subject mapping. The agentpin package puts the agent id in ``sub`` and looks agents up in the
discovery document by ``agent_id``; its convention (README, ``derive_discovery_from_card``) is
``urn:agentpin:<domain>:<agent>``. A job's agent name maps to exactly that string, with the job's
agent name used verbatim (no slugging, so two names never map to one id).

Sources. A document for the issuer in the trust bundle wins; otherwise, when ``discovery`` is on,
the document is fetched. Revocations in the bundle always apply; a ``revocation_endpoint`` is only
fetched for a fetched discovery document (a bundle is an offline snapshot, so its documents'
endpoints are not contacted). Fetched documents are cached for ``cache_ttl`` seconds of the
injected clock's monotonic time. Not checked: ``aud`` (the scheduler has no audience identity),
``constraints`` and ``delegation_chain`` (they bind the agent's behaviour, not its identity).

Every time check uses the injected :class:`~scheduler_core.clock.Clock`.
"""

from __future__ import annotations

__all__ = [
    "CREDENTIAL_TYP",
    "AgentPinVerifier",
    "VerifiedCredential",
    "default_discovery_url",
    "expected_subject",
]

import asyncio
import base64
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwt.algorithms import ECAlgorithm
from jwt.exceptions import InvalidKeyError

from .clock import Clock
from .errors import AgentPinError
from .settings import AgentPinConfig

if TYPE_CHECKING:  # httpx is imported on first use: importing it pulls in rich (its CLI)
    import httpx

CREDENTIAL_TYP = "agentpin-credential+jwt"
_ALG = "ES256"
_MAX_TOKEN_CHARS = 16 * 1024
_MAX_DOCUMENT_BYTES = 1024 * 1024
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?")

Json = dict[str, Any]


def default_discovery_url(domain: str) -> str:
    """Where ``domain`` publishes its AgentPin discovery document."""
    return f"https://{domain}/.well-known/agent-identity.json"


def expected_subject(domain: str, agent_name: str) -> str:
    """The ``sub`` (agentpin ``agent_id``) a credential for ``agent_name`` must carry."""
    return f"urn:agentpin:{domain}:{agent_name}"


@dataclass(frozen=True, slots=True)
class VerifiedCredential:
    """What a credential that passed every check says."""

    issuer: str
    subject: str
    agent: str
    kid: str
    jti: str | None
    expires_at: datetime
    capabilities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Documents:
    discovery: Json
    origin: str  #: "trust bundle PATH" or the discovery URL
    fetched: bool  #: fetched over HTTP (so its revocation_endpoint is used)
    revocations: tuple[Json, ...]  #: the trust bundle's revocation documents for the issuer


class AgentPinVerifier:
    """Verifies AgentPin credentials against ``[agentpin]`` settings.

    ``http`` (default: a client of this verifier's own, closed by :meth:`aclose`) fetches the
    discovery and revocation documents; ``discovery_url`` maps a domain to its discovery
    document's URL (tests point it at a local server).
    """

    def __init__(
        self,
        config: AgentPinConfig,
        *,
        clock: Clock,
        http: httpx.AsyncClient | None = None,
        discovery_url: Callable[[str], str] | None = None,
        cache_ttl: float = 300,
        timeout: float = 10,
    ) -> None:
        self._config = config
        self._clock = clock
        self._http = http
        self._own_http: httpx.AsyncClient | None = None  #: made on first fetch when http is None
        self._discovery_url = discovery_url or default_discovery_url
        self._cache_ttl = cache_ttl
        self._timeout = timeout
        self._domain = (config.domain or "").strip().lower().rstrip(".") or None
        self._bundle_path = Path(config.trust_bundle).expanduser() if config.trust_bundle else None
        self._bundle: tuple[tuple[int, int], Json] | None = None  #: ((mtime_ns, size), bundle)
        self._cache: dict[str, tuple[float, Json]] = {}  #: url -> (expires, document)
        self._locks: dict[str, asyncio.Lock] = {}

    async def __aenter__(self) -> AgentPinVerifier:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this verifier made it."""
        if self._own_http is not None:
            client, self._own_http = self._own_http, None
            await client.aclose()

    def clear_cache(self) -> None:
        """Forget fetched documents and the loaded trust bundle."""
        self._cache.clear()
        self._bundle = None

    async def verify(self, token: str, agent_name: str) -> VerifiedCredential:
        """Check ``token`` is a valid credential for ``agent_name``; raise AgentPinError if not."""
        domain = self._anchor()
        header, payload, signing_input, signature = _parse_token(token)

        alg = header.get("alg")
        if alg != _ALG:
            raise AgentPinError(
                f"algorithm {_show(alg)} is not accepted (only {_ALG})", check="alg"
            )
        typ = header.get("typ")
        if typ != CREDENTIAL_TYP:
            raise AgentPinError(f"token type {_show(typ)} is not {CREDENTIAL_TYP!r}", check="typ")
        if "crit" in header:
            raise AgentPinError(
                f"critical header extensions {_show(header['crit'])} are not supported",
                check="header",
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AgentPinError("the header names no key (kid)", check="kid")

        iss = payload.get("iss")
        if not isinstance(iss, str) or not iss:
            raise AgentPinError("the credential has no issuer (iss)", check="iss")
        if iss != domain:
            raise AgentPinError(
                f"issuer {_show(iss)} is not the configured domain {domain!r}", check="iss"
            )

        docs = await self._documents(domain)
        jwk = _find(docs.discovery.get("public_keys"), "kid", kid)
        if jwk is None:
            raise AgentPinError(
                f"key {_show(kid)} is not listed in the discovery document of {domain!r} "
                f"({docs.origin})",
                check="kid",
            )
        self._check_key_expiry(jwk, kid)
        key = _load_key(jwk, kid)
        if not _signature_valid(key, signing_input, signature):
            raise AgentPinError(
                f"the ES256 signature does not verify with key {kid!r}", check="signature"
            )

        expires_at, lifetime = self._check_times(payload)

        sub = payload.get("sub")
        want = expected_subject(domain, agent_name)
        if not agent_name or sub != want:
            raise AgentPinError(
                f"subject {_show(sub)} is not {want!r} (the credential is not for agent "
                f"{agent_name!r})",
                check="sub",
            )
        agent = _find(docs.discovery.get("agents"), "agent_id", want)
        if agent is None:
            raise AgentPinError(
                f"agent {want!r} is not listed in the discovery document of {domain!r}",
                check="agent",
            )
        status = agent.get("status")
        if status != "active":
            raise AgentPinError(f"agent {want!r} is {status!r}, not 'active'", check="agent")
        ttl_max = agent.get("credential_ttl_max")
        if _is_number(ttl_max) and lifetime > ttl_max:
            raise AgentPinError(
                f"credential lifetime {_secs(lifetime)} exceeds agent {want!r}'s "
                f"credential_ttl_max of {_secs(ttl_max)}",
                check="lifetime",
            )
        capabilities = _check_capabilities(payload.get("capabilities"), agent, want)

        jti = payload.get("jti")
        if jti is not None and not isinstance(jti, str):
            raise AgentPinError(f"credential id (jti) {_show(jti)} is not a string", check="token")
        await self._check_revocation(docs, domain, jti, want, kid)

        return VerifiedCredential(
            issuer=iss,
            subject=want,
            agent=agent_name,
            kid=kid,
            jti=jti,
            expires_at=expires_at,
            capabilities=capabilities,
        )

    # --- configuration --------------------------------------------------------------------

    def _anchor(self) -> str:
        domain = self._domain
        if domain is None:
            raise AgentPinError(
                "no [agentpin] domain is configured (SYMBI_AGENTPIN_DOMAIN), so the "
                "credential's issuer cannot be checked",
                check="config",
            )
        if not _HOST.fullmatch(domain):
            raise AgentPinError(
                f"[agentpin] domain {self._config.domain!r} is not a bare host name",
                check="config",
            )
        if self._bundle_path is None and not self._config.discovery:
            raise AgentPinError(
                "no key source: set [agentpin] trust_bundle or turn discovery on",
                check="config",
            )
        return domain

    # --- documents --------------------------------------------------------------------------

    async def _documents(self, domain: str) -> _Documents:
        revocations: tuple[Json, ...] = ()
        if self._bundle_path is not None:
            bundle = await self._load_bundle(self._bundle_path)
            revocations = tuple(
                d for d in bundle.get("revocations", ()) if d.get("entity") == domain
            )
            doc = _find(bundle["documents"], "entity", domain)
            if doc is not None:
                origin = f"trust bundle {self._bundle_path}"
                _validate_discovery(doc, domain, origin, check="trust_bundle")
                return _Documents(doc, origin, fetched=False, revocations=revocations)
            if not self._config.discovery:
                raise AgentPinError(
                    f"the trust bundle {self._bundle_path} has no document for {domain!r} "
                    "and discovery is off",
                    check="discovery",
                )
        url = self._discovery_url(domain)

        def validate(doc: Json) -> None:
            _validate_discovery(doc, domain, url, check="discovery")

        doc = await self._fetch_json(url, "discovery document", "discovery", validate)
        return _Documents(doc, url, fetched=True, revocations=revocations)

    async def _load_bundle(self, path: Path) -> Json:
        try:
            stat = await asyncio.to_thread(path.stat)
            stamp = (stat.st_mtime_ns, stat.st_size)
            if self._bundle is not None and self._bundle[0] == stamp:
                return self._bundle[1]
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise AgentPinError(
                f"cannot read the trust bundle {path}: {reason}", check="trust_bundle"
            ) from exc
        try:
            bundle: dict[str, Any] = _loads(text)
        except ValueError as exc:
            raise AgentPinError(
                f"the trust bundle {path} is not valid JSON: {exc}", check="trust_bundle"
            ) from exc
        problem = _bundle_problem(bundle)
        if problem:
            raise AgentPinError(f"the trust bundle {path} {problem}", check="trust_bundle")
        self._bundle = (stamp, bundle)
        return bundle

    async def _fetch_json(
        self, url: str, what: str, check: str, validate: Callable[[Json], None]
    ) -> Json:
        """GET a JSON object (cached for ``cache_ttl``); ``validate`` runs before caching."""
        hit = self._cache.get(url)
        if hit is not None and hit[0] > self._clock.monotonic():
            return hit[1]
        lock = self._locks.setdefault(url, asyncio.Lock())
        async with lock:
            hit = self._cache.get(url)
            if hit is not None and hit[0] > self._clock.monotonic():
                return hit[1]
            doc = await self._get_json(url, what, check)
            validate(doc)
            self._cache[url] = (self._clock.monotonic() + self._cache_ttl, doc)
            return doc

    def _client(self) -> httpx.AsyncClient:
        if self._http is not None:
            return self._http
        if self._own_http is None:
            import httpx

            self._own_http = httpx.AsyncClient(follow_redirects=False)
        return self._own_http

    async def _get_json(self, url: str, what: str, check: str) -> Json:
        import httpx

        if urlsplit(url).scheme not in ("http", "https"):
            raise AgentPinError(f"{what} URL {url!r} is not http(s)", check=check)
        try:
            async with self._client().stream(
                "GET",
                url,
                headers={"Accept": "application/json"},
                follow_redirects=False,
                timeout=httpx.Timeout(self._timeout),
            ) as resp:
                if resp.is_redirect or 300 <= resp.status_code < 400:
                    where = resp.headers.get("location", "?")
                    raise AgentPinError(
                        f"{what} at {url} answered HTTP {resp.status_code} redirecting to "
                        f"{where}; redirects are refused",
                        check=check,
                    )
                if resp.status_code != 200:
                    raise AgentPinError(
                        f"{what} at {url} answered HTTP {resp.status_code}", check=check
                    )
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_DOCUMENT_BYTES:
                        raise AgentPinError(
                            f"{what} at {url} is larger than {_MAX_DOCUMENT_BYTES} bytes",
                            check=check,
                        )
        except httpx.TimeoutException as exc:
            raise AgentPinError(f"timed out fetching the {what} from {url}", check=check) from exc
        except httpx.HTTPError as exc:
            raise AgentPinError(
                f"cannot fetch the {what} from {url}: {type(exc).__name__}: {exc}", check=check
            ) from exc
        try:
            doc = _loads(bytes(body))
        except ValueError as exc:
            raise AgentPinError(f"{what} at {url} is not valid JSON: {exc}", check=check) from exc
        if not isinstance(doc, dict):
            raise AgentPinError(f"{what} at {url} is not a JSON object", check=check)
        return doc

    # --- checks ------------------------------------------------------------------------------

    def _check_key_expiry(self, jwk: Json, kid: str) -> None:
        raw = jwk.get("exp")
        if raw is None:
            return
        try:
            if _is_number(raw):
                expires = datetime.fromtimestamp(raw, UTC)
            elif isinstance(raw, str):
                expires = datetime.fromisoformat(raw.strip())
                if expires.tzinfo is None:
                    expires = expires.replace(tzinfo=UTC)
            else:
                raise TypeError(type(raw).__name__)
        except (ValueError, TypeError, OverflowError, OSError) as exc:
            raise AgentPinError(
                f"key {kid!r} has an unreadable expiry {raw!r}", check="key_expiry"
            ) from exc
        now = self._clock.now()
        if (now - expires).total_seconds() > self._config.clock_skew_seconds:
            raise AgentPinError(
                f"key {kid!r} expired at {_iso(expires)} (now {_iso(now)})", check="key_expiry"
            )

    def _check_times(self, payload: Json) -> tuple[datetime, float]:
        """Check exp, iat, nbf and the lifetime; return (expires at, lifetime in seconds)."""
        now = self._clock.now()
        skew = self._config.clock_skew_seconds
        exp = _instant(payload, "exp", required=True)
        iat = _instant(payload, "iat", required=True)
        nbf = _instant(payload, "nbf", required=False)
        assert exp is not None and iat is not None
        if (now - exp[1]).total_seconds() >= skew:
            raise AgentPinError(
                f"credential expired at {_iso(exp[1])} (now {_iso(now)}, skew {_secs(skew)})",
                check="exp",
            )
        if (iat[1] - now).total_seconds() > skew:
            raise AgentPinError(
                f"credential issued in the future, at {_iso(iat[1])} (now {_iso(now)}, "
                f"skew {_secs(skew)})",
                check="iat",
            )
        if nbf is not None and (nbf[1] - now).total_seconds() > skew:
            raise AgentPinError(
                f"credential not valid before {_iso(nbf[1])} (now {_iso(now)}, skew {_secs(skew)})",
                check="nbf",
            )
        lifetime = exp[0] - iat[0]
        if lifetime <= 0:
            raise AgentPinError(
                f"credential expires ({_iso(exp[1])}) before it is issued ({_iso(iat[1])})",
                check="lifetime",
            )
        if lifetime > self._config.max_lifetime_seconds:
            raise AgentPinError(
                f"credential lifetime {_secs(lifetime)} (exp - iat) exceeds the maximum of "
                f"{_secs(self._config.max_lifetime_seconds)}",
                check="lifetime",
            )
        return exp[1], lifetime

    async def _check_revocation(
        self, docs: _Documents, domain: str, jti: str | None, agent_id: str, kid: str
    ) -> None:
        sources: list[tuple[Json, str]] = [
            (doc, f"trust bundle {self._bundle_path}") for doc in docs.revocations
        ]
        endpoint = docs.discovery.get("revocation_endpoint")
        if docs.fetched and endpoint is not None:
            url = self._revocation_url(endpoint, docs.origin)

            def validate(doc: Json) -> None:
                problem = _revocation_problem(doc, domain)
                if problem:
                    raise AgentPinError(
                        f"revocation document at {url} {problem}", check="revocation"
                    )

            sources.append(
                (await self._fetch_json(url, "revocation document", "revocation", validate), url)
            )
        for doc, origin in sources:
            for entry in doc.get("revoked_credentials") or ():
                if jti is not None and entry.get("jti") == jti:
                    raise _revoked(f"credential {jti!r}", entry, origin)
            for entry in doc.get("revoked_agents") or ():
                if entry.get("agent_id") == agent_id:
                    raise _revoked(f"agent {agent_id!r}", entry, origin)
            for entry in doc.get("revoked_keys") or ():
                if entry.get("kid") == kid:
                    raise _revoked(f"key {kid!r}", entry, origin)

    @staticmethod
    def _revocation_url(endpoint: object, discovery_url: str) -> str:
        if not isinstance(endpoint, str) or urlsplit(endpoint).scheme not in ("http", "https"):
            raise AgentPinError(
                f"the discovery document's revocation_endpoint {endpoint!r} is not an http(s) "
                "URL, so revocation cannot be checked",
                check="revocation",
            )
        if urlsplit(discovery_url).scheme == "https" and urlsplit(endpoint).scheme != "https":
            raise AgentPinError(
                f"the revocation_endpoint {endpoint!r} is not https, unlike the discovery document",
                check="revocation",
            )
        return endpoint


# --- helpers -------------------------------------------------------------------------------


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


def _find(items: object, field: str, value: str) -> Json | None:
    if not isinstance(items, list):
        return None
    for item in items:
        if isinstance(item, dict) and item.get(field) == value:
            return item
    return None


def _validate_discovery(doc: Json, domain: str, origin: str, *, check: str) -> None:
    entity = doc.get("entity")
    if entity != domain:
        raise AgentPinError(
            f"the discovery document at {origin} is for {entity!r}, not {domain!r}", check=check
        )
    for name in ("public_keys", "agents"):
        items = doc.get(name)
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise AgentPinError(
                f"the discovery document at {origin} has no {name} list", check=check
            )


def _bundle_problem(bundle: object) -> str | None:
    if not isinstance(bundle, dict):
        return "is not a JSON object"
    if "agentpin_bundle_version" not in bundle:
        return "has no agentpin_bundle_version (is it an AgentPin trust bundle?)"
    documents = bundle.get("documents")
    if not isinstance(documents, list) or not all(isinstance(d, dict) for d in documents):
        return "has no documents list"
    revocations = bundle.get("revocations", [])
    if not isinstance(revocations, list) or not all(isinstance(d, dict) for d in revocations):
        return "has a revocations value that is not a list of documents"
    for doc in revocations:
        problem = _revocation_problem(doc, doc.get("entity"))
        if problem:
            return f"has a revocation document that {problem}"
    return None


def _revocation_problem(doc: Json, domain: object) -> str | None:
    if not isinstance(domain, str) or doc.get("entity") != domain:
        return f"is for {doc.get('entity')!r}, not {domain!r}"
    for name in ("revoked_credentials", "revoked_agents", "revoked_keys"):
        items = doc.get(name, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return f"has a {name} value that is not a list of entries"
    return None


def _revoked(what: str, entry: Json, origin: str) -> AgentPinError:
    when = entry.get("revoked_at")
    reason = entry.get("reason")
    detail = ", ".join(
        p for p in (f"at {when}" if when else "", f"reason {reason}" if reason else "") if p
    )
    suffix = f" ({detail})" if detail else ""
    return AgentPinError(f"{what} is revoked{suffix} by {origin}", check="revocation")


def _check_capabilities(claimed: object, agent: Json, agent_id: str) -> tuple[str, ...]:
    if claimed is None:
        return ()
    if not isinstance(claimed, list) or not all(isinstance(c, str) for c in claimed):
        raise AgentPinError("capabilities is not a list of strings", check="capabilities")
    declared = agent.get("capabilities")
    declared_caps = (
        [c for c in declared if isinstance(c, str)] if isinstance(declared, list) else []
    )
    extra = [c for c in claimed if not any(_covers(d, c) for d in declared_caps)]
    if extra:
        raise AgentPinError(
            f"capabilities {', '.join(extra)} are not declared for agent {agent_id!r}",
            check="capabilities",
        )
    return tuple(claimed)


def _covers(declared: str, requested: str) -> bool:
    """agentpin's matching: same action; resource equal, ``*``, or a dotted sub-resource."""
    d_action, sep1, d_resource = declared.partition(":")
    r_action, sep2, r_resource = requested.partition(":")
    if not sep1 or not sep2 or d_action != r_action:
        return False
    return d_resource == "*" or d_resource == r_resource or r_resource.startswith(d_resource + ".")


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _instant(
    payload: Mapping[str, Any], claim: str, *, required: bool
) -> tuple[float, datetime] | None:
    value = payload.get(claim)
    if value is None:
        if required:
            raise AgentPinError(f"the credential has no {claim} claim", check=claim)
        return None
    if not _is_number(value):
        raise AgentPinError(f"{claim} {_show(value)} is not a number of seconds", check=claim)
    try:
        return float(value), datetime.fromtimestamp(value, UTC)
    except (OverflowError, ValueError, OSError) as exc:
        raise AgentPinError(f"{claim} {_show(value)} is out of range", check=claim) from exc


def _show(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (token values end up in logs and the TUI)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _secs(seconds: float) -> str:
    return f"{seconds:g}s"
