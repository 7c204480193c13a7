"""Helpers for the AgentPin tests: an issuer made with the real agentpin package, hostile tokens,
and a small HTTP server on 127.0.0.1 serving discovery and revocation documents."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import agentpin

DOMAIN = "agent.example.com"
AGENT = "reporter"
SUB = f"urn:agentpin:{DOMAIN}:{AGENT}"
CAPS = ["read:reports", "write:reports.daily"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, sig = agentpin.decode_jwt_unverified(token)
    return header, payload, sig


@dataclass
class Issuer:
    """One domain's signing key and documents, made by the agentpin package."""

    domain: str = DOMAIN
    private_pem: str = ""
    public_pem: str = ""
    kid: str = ""
    jwk: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, domain: str = DOMAIN) -> Issuer:
        private_pem, public_pem = agentpin.generate_key_pair()
        kid = agentpin.generate_key_id(public_pem)
        return cls(domain, private_pem, public_pem, kid, agentpin.pem_to_jwk(public_pem, kid))

    def agent(self, name: str = AGENT, *, status: str = "active", **extra: Any) -> dict[str, Any]:
        return {
            "agent_id": f"urn:agentpin:{self.domain}:{name}",
            "name": name.title(),
            "capabilities": ["read:reports", "write:reports"],
            "status": status,
            **extra,
        }

    def discovery(
        self,
        agents: list[dict[str, Any]] | None = None,
        keys: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        return agentpin.build_discovery_document(
            self.domain,
            "maker",
            keys if keys is not None else [self.jwk],
            agents if agents is not None else [self.agent()],
            2,
            "2026-01-01T00:00:00Z",
        )

    def issue(
        self,
        *,
        agent_id: str = SUB,
        issuer: str | None = None,
        ttl: int = 3600,
        capabilities: list[str] | None = None,
    ) -> str:
        """A credential from agentpin.issue_credential (iat is the real time now)."""
        return agentpin.issue_credential(
            private_key_pem=self.private_pem,
            kid=self.kid,
            issuer=issuer or self.domain,
            agent_id=agent_id,
            audience=None,
            capabilities=[agentpin.Capability(c) for c in (capabilities or CAPS)],
            constraints=None,
            delegation_chain=None,
            ttl_secs=ttl,
        )

    def payload(self, issued: int, /, **claims: Any) -> dict[str, Any]:
        """Claims issued at ``issued`` (epoch seconds) for an hour; ``None`` drops a claim."""
        payload: dict[str, Any] = {
            "iss": self.domain,
            "sub": SUB,
            "iat": issued,
            "exp": issued + 3600,
            "jti": "jti-1",
            "agentpin_version": "0.1",
            "capabilities": CAPS,
        }
        payload.update(claims)
        return {k: v for k, v in payload.items() if v is not None}

    def header(self, **fields: Any) -> dict[str, Any]:
        header = {"alg": "ES256", "typ": "agentpin-credential+jwt", "kid": self.kid}
        header.update(fields)
        return {k: v for k, v in header.items() if v is not None}

    def sign(self, payload: dict[str, Any], header: dict[str, Any] | None = None) -> str:
        """Sign any header and payload with agentpin.encode_jwt (a DER signature)."""
        return agentpin.encode_jwt(header or self.header(), payload, self.private_pem)


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64url_json(header)}.{b64url_json(payload)}."


def hs256(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{b64url_json(header)}.{b64url_json(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


class DocServer:
    """A threaded HTTP server on 127.0.0.1 serving canned responses, counting requests."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.hits: Counter[str] = Counter()
        self.hang = threading.Event()  #: paths in `hanging` wait for this before answering
        self.hanging: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits[self.path] += 1
                if self.path in server.hanging:
                    server.hang.wait(5)
                status, headers, body = server.routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def json(self, path: str, doc: Any, status: int = 200) -> None:
        body = json.dumps(doc).encode()
        self.routes[path] = (status, {"Content-Type": "application/json"}, body)

    def redirect(self, path: str, to: str) -> None:
        self.routes[path] = (302, {"Location": to}, b"")

    def error(self, path: str, status: int = 500) -> None:
        self.routes[path] = (status, {}, b"oops")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.hang.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


@contextmanager
def doc_server() -> Iterator[DocServer]:
    server = DocServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
