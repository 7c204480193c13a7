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

The pieces: ``_verifier`` (:class:`AgentPinVerifier`: the checks in order), ``_jws`` (the compact
JWS: parsing, the ES256 key and signature), ``_documents`` (discovery and revocation documents:
the trust bundle, fetching and caching, the revocation check) and ``_claims`` (times, lifetime,
subject and capabilities).
"""

from __future__ import annotations

__all__ = [
    "CREDENTIAL_TYP",
    "AgentPinVerifier",
    "VerifiedCredential",
    "default_discovery_url",
    "expected_subject",
]

from ._claims import expected_subject
from ._documents import default_discovery_url
from ._jws import CREDENTIAL_TYP
from ._verifier import AgentPinVerifier, VerifiedCredential
