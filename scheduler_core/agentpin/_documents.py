"""An issuer's documents: the discovery document (from the trust bundle, else fetched) and its
revocations (the bundle's, and the fetched discovery document's ``revocation_endpoint``).

:class:`_DocumentSource` keeps the state: the loaded trust bundle (reloaded when the file
changes) and the fetched documents (cached for ``cache_ttl`` seconds of the clock's monotonic
time, one fetch per URL at a time). Every failure is an :class:`AgentPinError` and fails closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..clock import Clock
from ..errors import AgentPinError
from ..records import record
from ..settings import AgentPinConfig
from ._jws import Json, _loads

if TYPE_CHECKING:  # httpx is imported on first use: importing it pulls in rich (its CLI)
    import httpx

_MAX_DOCUMENT_BYTES = 1024 * 1024


def default_discovery_url(domain: str) -> str:
    """Where ``domain`` publishes its AgentPin discovery document."""
    return f"https://{domain}/.well-known/agent-identity.json"


@record
class _Documents:
    discovery: Json
    origin: str  #: "trust bundle PATH" or the discovery URL
    fetched: bool  #: fetched over HTTP (so its revocation_endpoint is used)
    revocations: tuple[Json, ...]  #: the trust bundle's revocation documents for the issuer


class _DocumentSource:
    """Finds an issuer's documents and checks revocations (see the module's docstring).

    ``client`` returns the HTTP client to fetch with (its owner, the verifier, closes it).
    """

    def __init__(
        self,
        config: AgentPinConfig,
        *,
        clock: Clock,
        client: Callable[[], httpx.AsyncClient],
        discovery_url: Callable[[str], str],
        cache_ttl: float,
        timeout: float,
    ) -> None:
        self._config = config
        self._clock = clock
        self._client = client
        self._discovery_url = discovery_url
        self._cache_ttl = cache_ttl
        self._timeout = timeout
        self.bundle_path = Path(config.trust_bundle).expanduser() if config.trust_bundle else None
        self._bundle: tuple[tuple[int, int], Json] | None = None  #: ((mtime_ns, size), bundle)
        self._cache: dict[str, tuple[float, Json]] = {}  #: url -> (expires, document)
        self._locks: dict[str, asyncio.Lock] = {}

    def clear(self) -> None:
        """Forget fetched documents and the loaded trust bundle."""
        self._cache.clear()
        self._bundle = None

    async def documents(self, domain: str) -> _Documents:
        """The discovery document for ``domain`` and the bundle's revocations for it."""
        revocations: tuple[Json, ...] = ()
        if self.bundle_path is not None:
            bundle = await self._load_bundle(self.bundle_path)
            revocations = tuple(
                d for d in bundle.get("revocations", ()) if d.get("entity") == domain
            )
            doc = _find(bundle["documents"], "entity", domain)
            if doc is not None:
                origin = f"trust bundle {self.bundle_path}"
                _validate_discovery(doc, domain, origin, check="trust_bundle")
                return _Documents(doc, origin, fetched=False, revocations=revocations)
            if not self._config.discovery:
                raise AgentPinError(
                    f"the trust bundle {self.bundle_path} has no document for {domain!r} "
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

    async def check_revocation(
        self, docs: _Documents, domain: str, jti: str | None, agent_id: str, kid: str
    ) -> None:
        """Raise when the credential, the agent or the key is revoked by any source."""
        sources: list[tuple[Json, str]] = [
            (doc, f"trust bundle {self.bundle_path}") for doc in docs.revocations
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
