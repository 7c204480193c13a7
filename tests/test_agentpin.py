"""AgentPin verification against credentials and documents made by the real agentpin package.

Discovery and revocation documents are served by a real HTTP server on 127.0.0.1; time is a
FakeClock started at the real "now" (agentpin.issue_credential stamps iat with time.time()).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import agentpin
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from scheduler_core.agentpin import (
    AgentPinVerifier,
    VerifiedCredential,
    default_discovery_url,
    expected_subject,
)
from scheduler_core.clock import FakeClock
from scheduler_core.config import AgentPinConfig
from scheduler_core.errors import AgentPinError, SchedulerError
from tests.agentpin_fixtures import (
    AGENT,
    CAPS,
    DOMAIN,
    SUB,
    DocServer,
    Issuer,
    b64url,
    b64url_json,
    doc_server,
    hs256,
    split,
    unsigned,
)

DISCOVERY_PATH = f"/{DOMAIN}/.well-known/agent-identity.json"
REVOCATION_PATH = f"/{DOMAIN}/.well-known/agent-identity-revocations.json"
DUPLICATE_ALG = b64url(b'{"alg":"ES256","typ":"agentpin-credential+jwt","alg":"none"}')


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.fromtimestamp(math.floor(time.time()), UTC))


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer.create()


@pytest.fixture
def server() -> Iterator[DocServer]:
    with doc_server() as srv:
        yield srv


class LoopbackOnly(httpx.AsyncHTTPTransport):
    """Fails any request to a host other than 127.0.0.1 (these tests never leave the machine)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert request.url.host == "127.0.0.1", f"test tried to reach {request.url}"
        return await super().handle_async_request(request)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=LoopbackOnly(), trust_env=False) as client:
        yield client


def local(doc: dict[str, Any], server: DocServer) -> dict[str, Any]:
    """``doc`` with its revocation_endpoint on ``server``."""
    doc["revocation_endpoint"] = server.url(REVOCATION_PATH)
    return doc


def write_bundle(
    path: Path, documents: list[dict[str, Any]], revocations: list[dict[str, Any]] | None = None
) -> str:
    bundle = agentpin.create_trust_bundle()
    bundle["documents"].extend(documents)
    bundle["revocations"].extend(revocations or [])
    agentpin.save_trust_bundle(bundle, str(path))
    return str(path)


@pytest.fixture
def bundle_verifier(
    tmp_path: Path, clock: FakeClock, issuer: Issuer, http: httpx.AsyncClient
) -> Callable[..., AgentPinVerifier]:
    """A verifier reading a trust bundle (discovery off) holding ``documents``/``revocations``."""

    def make(
        documents: list[dict[str, Any]] | None = None,
        revocations: list[dict[str, Any]] | None = None,
        **config: Any,
    ) -> AgentPinVerifier:
        docs = documents if documents is not None else [issuer.discovery()]
        path = write_bundle(tmp_path / "bundle.json", docs, revocations)
        settings = {"domain": DOMAIN, "trust_bundle": path, "discovery": False, **config}
        return AgentPinVerifier(AgentPinConfig(**settings), clock=clock, http=http)

    return make


@pytest.fixture
def web_verifier(
    server: DocServer, clock: FakeClock, issuer: Issuer, http: httpx.AsyncClient
) -> Callable[..., AgentPinVerifier]:
    """A verifier fetching discovery from ``server`` (serving ``issuer``'s document by default)."""

    def make(discovery: dict[str, Any] | None = None, **kwargs: Any) -> AgentPinVerifier:
        doc = local(discovery if discovery is not None else issuer.discovery(), server)
        server.json(DISCOVERY_PATH, doc)
        server.json(REVOCATION_PATH, agentpin.build_revocation_document(DOMAIN))
        kwargs.setdefault("timeout", 2)
        return AgentPinVerifier(
            AgentPinConfig(domain=DOMAIN),
            clock=clock,
            http=http,
            discovery_url=lambda d: server.url(f"/{d}/.well-known/agent-identity.json"),
            **kwargs,
        )

    return make


async def refused(verifier: AgentPinVerifier, token: str, check: str, agent: str = AGENT) -> str:
    """Verify, expecting failure of ``check``; return the message."""
    with pytest.raises(AgentPinError) as info:
        await verifier.verify(token, agent)
    err = info.value
    assert err.check == check, str(err)
    assert str(err).startswith(f"AgentPin {check} check failed: ")
    assert err.to_dict()["details"] == {"check": check}
    return str(err)


# --- valid credentials ------------------------------------------------------------------------


async def test_valid_via_trust_bundle(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer
) -> None:
    token = issuer.issue()
    _, payload, _ = split(token)
    result = await bundle_verifier().verify(token, AGENT)
    assert result == VerifiedCredential(
        issuer=DOMAIN,
        subject=SUB,
        agent=AGENT,
        kid=issuer.kid,
        jti=payload["jti"],
        expires_at=datetime.fromtimestamp(payload["exp"], UTC),
        capabilities=tuple(CAPS),
    )


async def test_valid_via_discovery_is_cached_until_ttl(
    web_verifier: Callable[..., AgentPinVerifier],
    issuer: Issuer,
    server: DocServer,
    clock: FakeClock,
) -> None:
    verifier = web_verifier(cache_ttl=300)
    token = issuer.issue()
    for _ in range(3):
        result = await verifier.verify(token, AGENT)
        assert result.subject == SUB and result.kid == issuer.kid
    assert server.hits[DISCOVERY_PATH] == 1
    assert server.hits[REVOCATION_PATH] == 1
    clock.advance(301)
    await verifier.verify(token, AGENT)
    assert server.hits[DISCOVERY_PATH] == 2
    assert server.hits[REVOCATION_PATH] == 2


async def test_concurrent_verifications_fetch_once(
    web_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, server: DocServer
) -> None:
    verifier = web_verifier()
    tokens = [issuer.issue() for _ in range(5)]
    results = await asyncio.gather(*(verifier.verify(t, AGENT) for t in tokens))
    assert len({r.jti for r in results}) == 5
    assert server.hits[DISCOVERY_PATH] == 1 and server.hits[REVOCATION_PATH] == 1


async def test_der_and_raw_signatures_are_both_accepted(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, clock: FakeClock
) -> None:
    verifier = bundle_verifier()
    now = int(clock.now().timestamp())
    payload = issuer.payload(now)
    der_token = issuer.sign(payload)  # agentpin writes DER
    assert len(agentpin.base64url_decode(der_token.rsplit(".", 1)[1])) != 64
    raw_token = jwt.encode(  # PyJWT writes raw r||s (RFC 7518)
        payload, issuer.private_pem, algorithm="ES256", headers=issuer.header()
    )
    assert len(agentpin.base64url_decode(raw_token.rsplit(".", 1)[1])) == 64
    assert (await verifier.verify(der_token, AGENT)).jti == "jti-1"
    assert (await verifier.verify(raw_token, AGENT)).jti == "jti-1"


async def test_expiry_within_clock_skew_is_accepted(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, clock: FakeClock
) -> None:
    now = int(clock.now().timestamp())
    token = issuer.sign(issuer.payload(now - 3600, exp=now - 30))
    assert (await bundle_verifier().verify(token, AGENT)).subject == SUB


async def test_own_http_client_is_closed(
    clock: FakeClock, server: DocServer, issuer: Issuer
) -> None:
    doc = issuer.discovery()
    del doc["revocation_endpoint"]
    server.json(DISCOVERY_PATH, doc)
    async with AgentPinVerifier(
        AgentPinConfig(domain=DOMAIN),
        clock=clock,
        discovery_url=lambda d: server.url(f"/{d}/.well-known/agent-identity.json"),
    ) as verifier:
        assert (await verifier.verify(issuer.issue(), AGENT)).agent == AGENT
        client = verifier._own_http
        assert client is not None and not client.is_closed
    assert client.is_closed and verifier._own_http is None


def test_url_and_subject_helpers() -> None:
    assert default_discovery_url(DOMAIN) == f"https://{DOMAIN}/.well-known/agent-identity.json"
    assert expected_subject(DOMAIN, AGENT) == SUB


# --- header and token ---------------------------------------------------------------------


async def test_alg_none_is_refused(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, clock: FakeClock
) -> None:
    payload = issuer.payload(int(clock.now().timestamp()))
    message = await refused(bundle_verifier(), unsigned(issuer.header(alg="none"), payload), "alg")
    assert "'none'" in message and "ES256" in message


async def test_hs256_with_public_key_as_secret_is_refused(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, clock: FakeClock
) -> None:
    payload = issuer.payload(int(clock.now().timestamp()))
    token = hs256(issuer.header(alg="HS256"), payload, issuer.public_pem.encode())
    message = await refused(bundle_verifier(), token, "alg")
    assert "'HS256'" in message


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", None])
async def test_wrong_typ_is_refused(
    bundle_verifier: Callable[..., AgentPinVerifier],
    issuer: Issuer,
    clock: FakeClock,
    typ: str | None,
) -> None:
    token = issuer.sign(issuer.payload(int(clock.now().timestamp())), issuer.header(typ=typ))
    message = await refused(bundle_verifier(), token, "typ")
    assert repr(typ) in message and "agentpin-credential+jwt" in message


async def test_crit_header_is_refused(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, clock: FakeClock
) -> None:
    token = issuer.sign(issuer.payload(int(clock.now().timestamp())), issuer.header(crit=["x"]))
    assert "crit" in await refused(bundle_verifier(), token, "header")


@pytest.mark.parametrize(
    ("token", "needle"),
    [
        ("", "no credential token"),
        ("a.b", "2 dot-separated parts"),
        ("a.b.c.d", "4 dot-separated parts"),
        ("###.e30.", "header is not base64url"),
        (f"{b64url(b'not json')}.e30.", "header is not valid JSON"),
        (f"{b64url_json([1])}.e30.", "header is not a JSON object"),
        (f"{DUPLICATE_ALG}.e30.", "duplicate key 'alg'"),
        ("x" * 20000, "longer than"),
    ],
)
async def test_malformed_tokens_are_refused(
    bundle_verifier: Callable[..., AgentPinVerifier], token: str, needle: str
) -> None:
    assert needle in await refused(bundle_verifier(), token, "token")


async def test_missing_kid_is_refused(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, clock: FakeClock
) -> None:
    header = issuer.header()
    del header["kid"]
    token = issuer.sign(issuer.payload(int(clock.now().timestamp())), header)
    assert "names no key" in await refused(bundle_verifier(), token, "kid")


# --- signature and keys -----------------------------------------------------------------------


async def test_tampered_payload_is_refused(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer
) -> None:
    token = issuer.issue(capabilities=["read:reports"])
    header_b64, _, sig = token.split(".")
    _, payload, _ = split(token)
    payload["capabilities"] = ["write:reports"]  # still declared for the agent: only the sig fails
    token = f"{header_b64}.{b64url_json(payload)}.{sig}"
    message = await refused(bundle_verifier(), token, "signature")
    assert issuer.kid in message


async def test_signature_by_another_key_is_refused(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, clock: FakeClock
) -> None:
    impostor = Issuer.create()
    token = agentpin.encode_jwt(
        issuer.header(), issuer.payload(int(clock.now().timestamp())), impostor.private_pem
    )
    await refused(bundle_verifier(), token, "signature")


async def test_unknown_kid_is_refused(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, clock: FakeClock
) -> None:
    token = issuer.sign(issuer.payload(int(clock.now().timestamp())), issuer.header(kid="nope"))
    message = await refused(bundle_verifier(), token, "kid")
    assert "'nope'" in message and "not listed" in message


async def test_expired_key_is_refused(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, clock: FakeClock
) -> None:
    jwk = {**issuer.jwk, "exp": "2020-01-01T00:00:00Z"}
    verifier = bundle_verifier([issuer.discovery(keys=[jwk])])
    message = await refused(verifier, issuer.issue(), "key_expiry")
    assert "expired at 2020-01-01T00:00:00Z" in message


async def test_unreadable_key_expiry_fails_closed(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer
) -> None:
    jwk = {**issuer.jwk, "exp": "someday"}
    verifier = bundle_verifier([issuer.discovery(keys=[jwk])])
    assert "unreadable expiry" in await refused(verifier, issuer.issue(), "key_expiry")


async def test_key_on_another_curve_is_refused(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, clock: FakeClock
) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    jwk = ECAlgorithm.to_jwk(p384.public_key(), as_dict=True)
    jwk["kid"] = "p384"
    pem = p384.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    token = agentpin.encode_jwt(
        issuer.header(kid="p384"), issuer.payload(int(clock.now().timestamp())), pem
    )
    verifier = bundle_verifier([issuer.discovery(keys=[issuer.jwk, jwk])])
    assert "not an EC P-256 key" in await refused(verifier, token, "key")


# --- time -----------------------------------------------------------------------------------


async def test_expired_credential_is_refused(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, clock: FakeClock
) -> None:
    token = issuer.issue(ttl=600)
    _, payload, _ = split(token)
    clock.set(datetime.fromtimestamp(payload["exp"] + 60, UTC))  # expired by the skew exactly
    message = await refused(bundle_verifier(), token, "exp")
    expired = datetime.fromtimestamp(payload["exp"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"expired at {expired}" in message


@pytest.mark.parametrize(
    ("claims", "check", "needle"),
    [
        ({"iat": 120, "exp": 3600}, "iat", "issued in the future"),
        ({"nbf": 120}, "nbf", "not valid before"),
        ({"iat": None}, "iat", "no iat claim"),
        ({"exp": None}, "exp", "no exp claim"),
        ({"exp": "tomorrow"}, "exp", "not a number"),
        ({"exp": 10**20}, "exp", "out of range"),
    ],
)
async def test_time_claims_are_checked(
    bundle_verifier: Callable[..., AgentPinVerifier],
    issuer: Issuer,
    clock: FakeClock,
    claims: dict[str, Any],
    check: str,
    needle: str,
) -> None:
    now = int(clock.now().timestamp())
    shifted = {k: now + v if isinstance(v, int) and v < 10**10 else v for k, v in claims.items()}
    token = issuer.sign(issuer.payload(now, **shifted))
    assert needle in await refused(bundle_verifier(), token, check)


async def test_nbf_and_iat_within_skew_are_accepted(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, clock: FakeClock
) -> None:
    now = int(clock.now().timestamp())
    token = issuer.sign(issuer.payload(now + 50, nbf=now + 50))
    assert (await bundle_verifier().verify(token, AGENT)).agent == AGENT


async def test_lifetime_over_24h_is_refused(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer
) -> None:
    token = issuer.issue(ttl=86400 + 1)
    message = await refused(bundle_verifier(), token, "lifetime")
    assert "86401s" in message and "86400s" in message
    assert (await bundle_verifier().verify(issuer.issue(ttl=86400), AGENT)).agent == AGENT


async def test_lifetime_limit_is_configurable_and_per_agent(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer
) -> None:
    await refused(bundle_verifier(max_lifetime_seconds=600), issuer.issue(ttl=601), "lifetime")
    doc = issuer.discovery([issuer.agent(credential_ttl_max=900)])
    message = await refused(bundle_verifier([doc]), issuer.issue(ttl=901), "lifetime")
    assert "credential_ttl_max" in message


async def test_exp_before_iat_is_refused(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, clock: FakeClock
) -> None:
    now = int(clock.now().timestamp())
    token = issuer.sign(issuer.payload(now, exp=now - 1, iat=now))
    clock.advance(-30)
    assert "before it is issued" in await refused(bundle_verifier(), token, "lifetime")


# --- issuer, subject, agent ----------------------------------------------------------------


async def test_wrong_issuer_is_refused(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer
) -> None:
    evil = Issuer.create("evil.example.net")
    token = evil.issue(agent_id=f"urn:agentpin:evil.example.net:{AGENT}")
    verifier = bundle_verifier([issuer.discovery(), evil.discovery()])
    message = await refused(verifier, token, "iss")
    assert "'evil.example.net'" in message and DOMAIN in message


async def test_issuer_is_checked_before_any_fetch(
    web_verifier: Callable[..., AgentPinVerifier], server: DocServer
) -> None:
    evil = Issuer.create("evil.example.net")
    await refused(web_verifier(), evil.issue(), "iss")
    assert sum(server.hits.values()) == 0


async def test_credential_for_another_agent_is_refused(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer
) -> None:
    doc = issuer.discovery([issuer.agent(), issuer.agent("deployer")])
    verifier = bundle_verifier([doc])
    message = await refused(verifier, issuer.issue(), "sub", agent="deployer")
    assert f"urn:agentpin:{DOMAIN}:deployer" in message
    other = issuer.issue(agent_id=f"urn:agentpin:{DOMAIN}:deployer")
    await refused(verifier, other, "sub")
    await refused(verifier, issuer.issue(agent_id=AGENT), "sub")  # a bare name is not an id


async def test_agent_missing_from_discovery_is_refused(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer
) -> None:
    verifier = bundle_verifier([issuer.discovery([issuer.agent("deployer")])])
    assert "not listed" in await refused(verifier, issuer.issue(), "agent")


@pytest.mark.parametrize("status", ["suspended", "deprecated"])
async def test_inactive_agent_is_refused(
    web_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, status: str
) -> None:
    verifier = web_verifier(issuer.discovery([issuer.agent(status=status)]))
    assert f"is '{status}'" in await refused(verifier, issuer.issue(), "agent")


async def test_undeclared_capability_is_refused(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer
) -> None:
    token = issuer.issue(capabilities=["read:reports.q1", "admin:users"])
    message = await refused(bundle_verifier(), token, "capabilities")
    assert "admin:users" in message and "read:reports.q1" not in message


# --- revocation ---------------------------------------------------------------------------


def revoke(kind: str, token: str) -> dict[str, Any]:
    header, payload, _ = split(token)
    doc = agentpin.build_revocation_document(DOMAIN)
    if kind == "credential":
        agentpin.add_revoked_credential(doc, payload["jti"], "key_compromise")
    elif kind == "agent":
        agentpin.add_revoked_agent(doc, payload["sub"], "policy_violation")
    else:
        agentpin.add_revoked_key(doc, header["kid"], "superseded")
    return doc


@pytest.mark.parametrize("kind", ["credential", "agent", "key"])
async def test_revoked_in_trust_bundle_is_refused(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, kind: str
) -> None:
    token = issuer.issue()
    verifier = bundle_verifier(revocations=[revoke(kind, token)])
    message = await refused(verifier, token, "revocation")
    assert f"{kind} " in message and "is revoked" in message and "trust bundle" in message
    if kind == "credential":  # another credential (another jti) is still good
        assert (await verifier.verify(issuer.issue(), AGENT)).agent == AGENT


@pytest.mark.parametrize("kind", ["credential", "agent", "key"])
async def test_revoked_at_revocation_endpoint_is_refused(
    web_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, server: DocServer, kind: str
) -> None:
    verifier = web_verifier()
    token = issuer.issue()
    server.json(REVOCATION_PATH, revoke(kind, token))
    message = await refused(verifier, token, "revocation")
    assert f"{kind} " in message and server.url(REVOCATION_PATH) in message


async def test_revocations_for_other_domains_do_not_apply(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer
) -> None:
    token = issuer.issue()
    other = revoke("agent", token)
    other["entity"] = "other.example.org"
    assert (await bundle_verifier(revocations=[other]).verify(token, AGENT)).agent == AGENT


@pytest.mark.parametrize("status", [500, 404])
async def test_unreadable_revocation_endpoint_fails_closed(
    web_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, server: DocServer, status: int
) -> None:
    verifier = web_verifier()
    server.error(REVOCATION_PATH, status)
    assert f"HTTP {status}" in await refused(verifier, issuer.issue(), "revocation")


async def test_revocation_document_for_another_entity_fails_closed(
    web_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, server: DocServer
) -> None:
    verifier = web_verifier()
    server.json(REVOCATION_PATH, agentpin.build_revocation_document("other.example.org"))
    assert "other.example.org" in await refused(verifier, issuer.issue(), "revocation")


async def test_bad_revocation_endpoint_fails_closed(
    web_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, server: DocServer
) -> None:
    verifier = web_verifier()
    doc = issuer.discovery()
    doc["revocation_endpoint"] = "file:///etc/passwd"
    server.json(DISCOVERY_PATH, doc)
    assert "not an http(s) URL" in await refused(verifier, issuer.issue(), "revocation")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "cannot read the trust bundle"),
        ("{not json", "not valid JSON"),
        ('{"documents": []}', "no agentpin_bundle_version"),
        ('{"agentpin_bundle_version": "0.1", "documents": {}}', "no documents list"),
    ],
)
async def test_unreadable_trust_bundle_fails_closed(
    tmp_path: Path, clock: FakeClock, issuer: Issuer, content: str | None, needle: str
) -> None:
    path = tmp_path / "bundle.json"
    if content is not None:
        path.write_text(content)
    config = AgentPinConfig(domain=DOMAIN, trust_bundle=str(path), discovery=True)
    async with AgentPinVerifier(config, clock=clock) as verifier:
        message = await refused(verifier, issuer.issue(), "trust_bundle")
    assert needle in message and str(path) in message


async def test_trust_bundle_is_reloaded_when_it_changes(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, tmp_path: Path
) -> None:
    verifier = bundle_verifier()
    token = issuer.issue()
    await verifier.verify(token, AGENT)
    path = tmp_path / "bundle.json"
    write_bundle(path, [issuer.discovery()], [revoke("credential", token)] * 3)
    await refused(verifier, token, "revocation")


# --- discovery ------------------------------------------------------------------------------


async def test_discovery_redirect_is_refused(
    web_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, server: DocServer
) -> None:
    verifier = web_verifier()
    server.json("/elsewhere.json", local(issuer.discovery(), server))
    server.redirect(DISCOVERY_PATH, server.url("/elsewhere.json"))
    message = await refused(verifier, issuer.issue(), "discovery")
    assert "redirects are refused" in message and "HTTP 302" in message
    assert server.hits["/elsewhere.json"] == 0


async def test_discovery_failures_are_refused(
    web_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, server: DocServer
) -> None:
    verifier = web_verifier()
    token = issuer.issue()
    server.error(DISCOVERY_PATH, 404)
    assert "HTTP 404" in await refused(verifier, token, "discovery")
    server.routes[DISCOVERY_PATH] = (200, {}, b"<html>")
    assert "not valid JSON" in await refused(verifier, token, "discovery")
    server.json(DISCOVERY_PATH, local(Issuer.create("other.example.org").discovery(), server))
    assert "is for 'other.example.org'" in await refused(verifier, token, "discovery")
    server.json(DISCOVERY_PATH, local(issuer.discovery(), server))  # failures were not cached
    assert (await verifier.verify(token, AGENT)).agent == AGENT


async def test_discovery_timeout_is_refused(
    web_verifier: Callable[..., AgentPinVerifier], issuer: Issuer, server: DocServer
) -> None:
    verifier = web_verifier(timeout=0.2)
    server.hanging.add(DISCOVERY_PATH)
    assert "timed out" in await refused(verifier, issuer.issue(), "discovery")


async def test_discovery_unreachable_is_refused(
    clock: FakeClock, http: httpx.AsyncClient, issuer: Issuer
) -> None:
    with doc_server() as srv:
        port = srv.port
    verifier = AgentPinVerifier(
        AgentPinConfig(domain=DOMAIN),
        clock=clock,
        http=http,
        discovery_url=lambda d: f"http://127.0.0.1:{port}/x",
    )
    assert "cannot fetch" in await refused(verifier, issuer.issue(), "discovery")


async def test_bundle_without_the_domain_falls_back_to_discovery(
    bundle_verifier: Callable[..., AgentPinVerifier],
    issuer: Issuer,
    server: DocServer,
    clock: FakeClock,
    http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    other = Issuer.create("other.example.org").discovery()
    message = await refused(bundle_verifier([other]), issuer.issue(), "discovery")
    assert "discovery is off" in message
    doc = issuer.discovery()
    del doc["revocation_endpoint"]
    server.json(DISCOVERY_PATH, doc)
    path = write_bundle(tmp_path / "other.json", [other])
    verifier = AgentPinVerifier(
        AgentPinConfig(domain=DOMAIN, trust_bundle=path, discovery=True),
        clock=clock,
        http=http,
        discovery_url=lambda d: server.url(f"/{d}/.well-known/agent-identity.json"),
    )
    assert (await verifier.verify(issuer.issue(), AGENT)).agent == AGENT
    assert server.hits[DISCOVERY_PATH] == 1


# --- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        (AgentPinConfig(), "no [agentpin] domain"),
        (AgentPinConfig(domain="https://agent.example.com/"), "not a bare host name"),
        (AgentPinConfig(domain=DOMAIN, discovery=False), "no key source"),
    ],
)
async def test_unusable_configuration_is_refused(
    clock: FakeClock, issuer: Issuer, config: AgentPinConfig, needle: str
) -> None:
    async with AgentPinVerifier(config, clock=clock) as verifier:
        message = await refused(verifier, issuer.issue(), "config")
    assert needle in message


async def test_domain_is_normalised(
    bundle_verifier: Callable[..., AgentPinVerifier], issuer: Issuer
) -> None:
    verifier = bundle_verifier(domain=" Agent.Example.COM. ")
    assert (await verifier.verify(issuer.issue(), AGENT)).issuer == DOMAIN


def test_agentpin_error_is_a_scheduler_error() -> None:
    err = AgentPinError("credential expired at 2026-01-01T00:00:00Z", check="exp")
    assert isinstance(err, SchedulerError) and err.code == "agentpin_failed"
