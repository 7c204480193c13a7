"""The email channel against a real SMTP server (aiosmtpd) on 127.0.0.1, with and without
STARTTLS (a CA and server certificate made by the test)."""

from __future__ import annotations

import email
import email.policy
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scheduler_core.config import DeliveryConfig
from scheduler_core.delivery import Deliverer, DeliveryResult, tls_context_from_ca_file
from scheduler_core.delivery.email import build_message
from scheduler_core.model import RunStatus
from tests.delivery_servers import (
    WHEN,
    Certificates,
    SmtpServer,
    make_certificates,
    make_job,
    make_run,
    make_self_signed,
    refusing_port,
    running,
)

RECIPIENTS = ("ops@example.com", "security@example.com")


@pytest.fixture(params=["private-ca", "self-signed"])
def certs(request: pytest.FixtureRequest, tmp_path: Path) -> Certificates:
    if request.param == "self-signed":
        return make_self_signed(tmp_path / "tls")
    return make_certificates(tmp_path / "tls")


@pytest.fixture
def plain_smtp() -> Iterator[SmtpServer]:
    yield from running(SmtpServer())


@pytest.fixture
def tls_smtp(certs: Certificates) -> Iterator[SmtpServer]:
    yield from running(SmtpServer(certificates=certs, users={"symbi": "s3cret-PASS-42"}))


def deliverer(tmp_path: Path, port: int, tls: Any = None, **config: Any) -> Deliverer:
    settings: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,
        "smtp_timeout_seconds": 5,
        "email_from": "symbiont@example.com",
    }
    settings.update(config)
    return Deliverer(DeliveryConfig(**settings), data_dir=tmp_path, env={}, smtp_tls_context=tls)


def job(**fields: Any) -> Any:
    base: dict[str, Any] = {
        "name": "security-scan",
        "delivery": ("email",),
        "email_recipients": RECIPIENTS,
    }
    return make_job(**{**base, **fields})


def parse(content: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def shown(result: DeliveryResult) -> str:
    return json.dumps(result.to_dict())


async def test_plain_smtp_delivers_subject_recipients_and_output(
    plain_smtp: SmtpServer, tmp_path: Path
) -> None:
    d = deliverer(tmp_path, plain_smtp.port)
    [r] = await d.deliver(job(), make_run())
    assert r.ok, r.error
    assert (r.channel, r.attempts) == ("email", 1)
    assert r.detail["recipients"] == 2 and r.detail["tls"] == "none"
    [m] = plain_smtp.messages
    assert m.mail_from == "symbiont@example.com"
    assert m.rcpt_tos == list(RECIPIENTS)
    assert not m.tls
    msg = parse(m.content)
    assert msg["Subject"] == "[symbi] security-scan: succeeded"
    assert msg["From"] == "symbiont@example.com"
    assert msg["To"] == "ops@example.com, security@example.com"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Symbi-Run-Id"] == "run-0001"
    body = msg.get_content().replace("\r\n", "\n")
    assert "All systems nominal.\nDisk 42% used." in body
    assert "Status:    succeeded" in body
    assert "Duration:  850ms" in body


async def test_starttls_with_a_private_ca_and_login(
    tls_smtp: SmtpServer, certs: Certificates, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    d = deliverer(
        tmp_path,
        tls_smtp.port,
        tls=tls_context_from_ca_file(certs.ca_file),
        smtp_starttls=True,
        smtp_username="symbi",
        smtp_password="s3cret-PASS-42",
    )
    with caplog.at_level(logging.DEBUG, logger="scheduler_core.delivery"):
        [r] = await d.deliver(job(), make_run(status=RunStatus.FAILED, error_message="exit 2"))
    assert r.ok, r.error
    assert r.detail["tls"] == "starttls"
    [m] = tls_smtp.messages
    assert m.tls and m.login == "symbi"
    msg = parse(m.content)
    assert msg["Subject"] == "[symbi] security-scan: failed"
    assert "Error:     exit 2" in msg.get_content()
    assert "s3cret-PASS-42" not in shown(r) + caplog.text


async def test_starttls_refuses_an_untrusted_certificate(
    tls_smtp: SmtpServer, tmp_path: Path
) -> None:
    d = deliverer(
        tmp_path,
        tls_smtp.port,
        smtp_starttls=True,
        smtp_username="symbi",
        smtp_password="s3cret-PASS-42",
    )
    [r] = await d.deliver(job(), make_run())
    assert not r.ok
    assert "certificate" in (r.error or "").lower()
    assert "s3cret-PASS-42" not in shown(r)
    assert tls_smtp.messages == []


async def test_wrong_password_fails_without_showing_it(
    tls_smtp: SmtpServer, certs: Certificates, tmp_path: Path
) -> None:
    d = deliverer(
        tmp_path,
        tls_smtp.port,
        tls=certs.client_context(),
        smtp_starttls=True,
        smtp_username="symbi",
        smtp_password="wrong-PASS-13",
    )
    [r] = await d.deliver(job(), make_run())
    assert not r.ok
    assert "SMTP login as 'symbi'" in (r.error or "")
    assert "wrong-PASS-13" not in shown(r)
    assert tls_smtp.messages == []


async def test_starttls_required_but_not_offered_fails(
    plain_smtp: SmtpServer, tmp_path: Path
) -> None:
    d = deliverer(tmp_path, plain_smtp.port, smtp_starttls=True)
    [r] = await d.deliver(job(), make_run())
    assert not r.ok
    assert "STARTTLS" in (r.error or "") or "starttls" in (r.error or "").lower()
    assert plain_smtp.messages == []


async def test_some_recipients_refused(plain_smtp: SmtpServer, tmp_path: Path) -> None:
    plain_smtp.sink.refuse = {"security@example.com"}
    d = deliverer(tmp_path, plain_smtp.port)
    [r] = await d.deliver(job(), make_run())
    assert r.ok
    assert r.detail["recipients"] == 1
    assert "security@example.com" in r.detail["refused"]
    assert plain_smtp.messages[0].rcpt_tos == ["ops@example.com"]


async def test_all_recipients_refused(plain_smtp: SmtpServer, tmp_path: Path) -> None:
    plain_smtp.sink.refuse = set(RECIPIENTS)
    d = deliverer(tmp_path, plain_smtp.port)
    [r] = await d.deliver(job(), make_run())
    assert not r.ok
    assert "refused every recipient" in (r.error or "")
    assert "550" in (r.error or "")


async def test_connection_refused(tmp_path: Path) -> None:
    with refusing_port() as port:
        d = deliverer(tmp_path, port)
        [r] = await d.deliver(job(), make_run())
    assert not r.ok and r.attempts == 1
    assert f"127.0.0.1:{port}" in (r.error or "")
    assert "could not connect to 127.0.0.1:" in (r.error or "")


@pytest.mark.parametrize(
    ("config", "fields", "needle"),
    [
        ({"smtp_host": None}, {}, "smtp_host"),
        ({"email_from": None}, {}, "email_from"),
        ({}, {"email_recipients": ()}, "email_recipients"),
    ],
)
async def test_missing_settings_fail_before_connecting(
    tmp_path: Path, config: dict[str, Any], fields: dict[str, Any], needle: str
) -> None:
    with refusing_port() as port:
        d = deliverer(tmp_path, port, **config)
        [r] = await d.deliver(job(**fields), make_run())
    assert (r.ok, r.attempts) == (False, 0)
    assert needle in (r.error or "")


def test_message_headers_cannot_be_injected_by_a_job_name() -> None:
    msg = build_message(
        make_job(name="evil\r\nBcc: victim@example.com"),
        make_run(),
        "out",
        sender="a@example.com",
        recipients=["b@example.com"],
        at=WHEN,
    )
    assert msg["Subject"] == "[symbi] evil Bcc: victim@example.com: succeeded"
    assert msg["Bcc"] is None
    assert "Bcc:" not in msg.as_string().split("\n\n", 1)[0].replace(
        "Subject: [symbi] evil Bcc", ""
    )
