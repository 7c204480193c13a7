"""AgentPinVerifier: the checks of a credential, in the order the package docstring lists them."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from ..clock import Clock
from ..errors import AgentPinError
from ..records import record
from ..settings import AgentPinConfig
from ._claims import (
    _check_capabilities,
    _check_key_expiry,
    _check_times,
    _is_number,
    _secs,
    _show,
    expected_subject,
)
from ._documents import _DocumentSource, _find, default_discovery_url
from ._jws import _ALG, CREDENTIAL_TYP, _load_key, _parse_token, _signature_valid

if TYPE_CHECKING:  # httpx is imported on first use: importing it pulls in rich (its CLI)
    import httpx

_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?")


@record
class VerifiedCredential:
    """What a credential that passed every check says."""

    issuer: str
    subject: str
    agent: str
    kid: str
    jti: str | None
    expires_at: datetime
    capabilities: tuple[str, ...]


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
        self._domain = (config.domain or "").strip().lower().rstrip(".") or None
        self._sources = _DocumentSource(
            config,
            clock=clock,
            client=self._client,
            discovery_url=discovery_url or default_discovery_url,
            cache_ttl=cache_ttl,
            timeout=timeout,
        )

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
        self._sources.clear()

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

        docs = await self._sources.documents(domain)
        jwk = _find(docs.discovery.get("public_keys"), "kid", kid)
        if jwk is None:
            raise AgentPinError(
                f"key {_show(kid)} is not listed in the discovery document of {domain!r} "
                f"({docs.origin})",
                check="kid",
            )
        _check_key_expiry(jwk, kid, self._clock, self._config)
        key = _load_key(jwk, kid)
        if not _signature_valid(key, signing_input, signature):
            raise AgentPinError(
                f"the ES256 signature does not verify with key {kid!r}", check="signature"
            )

        expires_at, lifetime = _check_times(payload, self._clock, self._config)

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
        await self._sources.check_revocation(docs, domain, jti, want, kid)

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
        if self._sources.bundle_path is None and not self._config.discovery:
            raise AgentPinError(
                "no key source: set [agentpin] trust_bundle or turn discovery on",
                check="config",
            )
        return domain

    def _client(self) -> httpx.AsyncClient:
        if self._http is not None:
            return self._http
        if self._own_http is None:
            import httpx

            self._own_http = httpx.AsyncClient(follow_redirects=False)
        return self._own_http
