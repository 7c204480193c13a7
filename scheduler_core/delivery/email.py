"""The ``email`` channel: a plain-text message over SMTP (aiosmtplib) to ``email_recipients``.

Settings (``[scheduler.delivery]``): ``smtp_host``, ``smtp_port`` (587), ``smtp_username`` and
``smtp_password`` (log in only when a username is set), ``smtp_starttls`` (true: STARTTLS is
required, the message is never sent in clear; false: plain SMTP), ``smtp_timeout_seconds`` (per
SMTP operation), ``email_from``. Port 465 means implicit TLS (SMTPS) instead of STARTTLS.

Certificates are verified against the system's trust store. To trust a private CA or a
self-signed server certificate, hand the dispatcher an ``smtp_tls_context`` (an
:class:`ssl.SSLContext`, e.g. from :func:`tls_context_from_ca_file`); it is used for both
STARTTLS and implicit TLS.

The message: ``Subject: [symbi] <job>: <status>``, ``Auto-Submitted: auto-generated`` (no
auto-replies), ``X-Symbi-Job-Id``/``X-Symbi-Run-Id``, and a body with the run's particulars
followed by the full output. One attempt per run (SMTP servers queue and retry themselves). If
the server refuses some recipients but accepts others the delivery succeeds and ``detail``
lists the refused ones; if it refuses all, it fails.
"""

from __future__ import annotations

__all__ = ["EmailRouter", "build_message", "tls_context_from_ca_file"]

import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any

import aiosmtplib

from ..model import JobDefinition, JobRun
from .base import (
    Delivered,
    DeliveryContext,
    DeliveryFailure,
    format_duration,
    run_document,
    run_duration_ms,
)

IMPLICIT_TLS_PORT = 465


def tls_context_from_ca_file(path: str | Path) -> ssl.SSLContext:
    """A verifying client TLS context that trusts the certificates in ``path`` (PEM)."""
    return ssl.create_default_context(cafile=str(path))


def _one_line(text: str) -> str:
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def build_message(
    job: JobDefinition,
    run: JobRun,
    output: str,
    *,
    sender: str,
    recipients: list[str],
    at: datetime,
) -> EmailMessage:
    """The message sent for ``run`` of ``job``."""
    status = run.status.value.replace("_", " ")
    msg = EmailMessage()
    msg["Subject"] = f"[symbi] {_one_line(job.name)}: {status}"
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(at)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "symbi.localhost"
    msg["Message-ID"] = make_msgid(idstring="symbi", domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Symbi-Job-Id"] = _one_line(job.id) or "-"
    msg["X-Symbi-Run-Id"] = _one_line(run.id) or "-"
    doc = run_document(run)
    rows = [
        ("Job", f"{job.name} ({job.id})" if job.id else job.name),
        ("Agent", job.agent),
        ("Status", status),
        ("Run", f"{run.id} (attempt {run.attempt}, trigger {run.trigger.value})"),
        ("Scheduled", doc["scheduled_for"]),
        ("Started", doc["started_at"]),
        ("Finished", doc["finished_at"]),
        ("Duration", format_duration(run_duration_ms(run))),
    ]
    if run.error_message:
        rows.append(("Error", run.error_message))
    body = "\n".join(f"{label + ':':<11}{value or '-'}" for label, value in rows)
    body += "\n\nOutput:\n" + (output if output else "(no output)") + "\n"
    msg.set_content(body)
    return msg


class EmailRouter:
    """Sends each run by SMTP to the job's ``email_recipients``."""

    def __init__(self, context: DeliveryContext) -> None:
        self.context = context

    @property
    def timeout_seconds(self) -> float:
        # connect, greeting, EHLO, STARTTLS, AUTH, MAIL/RCPT/DATA: each bounded by the SMTP
        # timeout; the whole conversation by a few of them
        return self.context.config.smtp_timeout_seconds * 4 + 5

    async def route(self, channel: str, job: JobDefinition, run: JobRun, output: str) -> Delivered:
        cfg = self.context.config
        if not cfg.smtp_host:
            raise DeliveryFailure("smtp_host is not set in [scheduler.delivery]", attempts=0)
        if not cfg.email_from:
            raise DeliveryFailure("email_from is not set in [scheduler.delivery]", attempts=0)
        recipients = [r.strip() for r in job.email_recipients if r.strip()]
        if not recipients:
            raise DeliveryFailure("the job has no email_recipients", attempts=0)
        try:
            message = build_message(
                job,
                run,
                output,
                sender=cfg.email_from,
                recipients=recipients,
                at=self.context.now(),
            )
        except (ValueError, TypeError) as exc:
            raise DeliveryFailure(f"cannot build the message: {exc}", attempts=0) from None
        implicit = cfg.smtp_port == IMPLICIT_TLS_PORT
        where = f"{cfg.smtp_host}:{cfg.smtp_port}"
        timeout = cfg.smtp_timeout_seconds
        smtp = aiosmtplib.SMTP(
            hostname=cfg.smtp_host,
            port=cfg.smtp_port,
            username=cfg.smtp_username or None,
            password=(cfg.smtp_password or "") if cfg.smtp_username else None,
            timeout=timeout,
            use_tls=implicit,
            start_tls=False if implicit else cfg.smtp_starttls,
            tls_context=self.context.smtp_tls_context,
        )
        try:
            async with smtp:
                refused, response = await smtp.send_message(
                    message, sender=cfg.email_from, recipients=recipients
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            who = "; ".join(f"{e.recipient} ({e.code} {e.message})" for e in exc.recipients)
            raise DeliveryFailure(f"{where} refused every recipient: {who}") from None
        except aiosmtplib.SMTPSenderRefused as exc:
            raise DeliveryFailure(
                f"{where} refused the sender {exc.sender}: {exc.code} {exc.message}"
            ) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise DeliveryFailure(
                f"SMTP login as {cfg.smtp_username!r} at {where} failed: {exc.code} {exc.message}"
            ) from None
        except aiosmtplib.SMTPTimeoutError:
            raise DeliveryFailure(f"{where} did not answer within {timeout:g}s") from None
        except aiosmtplib.SMTPConnectError as exc:
            raise DeliveryFailure(f"could not connect to {where}: {exc}") from None
        except aiosmtplib.SMTPServerDisconnected as exc:
            raise DeliveryFailure(f"{where} closed the connection: {exc}") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryFailure(f"{where} answered {exc.code}: {exc.message}") from None
        except aiosmtplib.SMTPException as exc:
            raise DeliveryFailure(f"SMTP with {where} failed: {exc}") from None
        except ssl.SSLError as exc:
            raise DeliveryFailure(f"TLS with {where} failed: {exc}") from None
        except OSError as exc:
            raise DeliveryFailure(f"could not connect to {where}: {exc}") from None
        detail: dict[str, Any] = {
            "recipients": len(recipients) - len(refused),
            "response": response,
            "tls": "implicit" if implicit else ("starttls" if cfg.smtp_starttls else "none"),
        }
        if refused:
            detail["refused"] = {addr: f"{r.code} {r.message}" for addr, r in refused.items()}
        return Delivered(attempts=1, detail=detail)
