"""SMS gateways: one interface, a sandbox (the default) and an HTTP gateway.

A gateway takes an :class:`OutgoingSms` (an idempotency key ``ref``, the phone number and the
text) and returns the gateway's message id, or raises :class:`SmsError`. The ``ref`` is stable
for a message, so a gateway that saw it before must not deliver it twice: the sandbox keeps it
unique, the HTTP gateway sends it as ``Idempotency-Key``.

- :class:`SandboxGateway` ("sandbox"): stores the message in the ``sms_sandbox`` table of the
  batch database (phone masked to ``138****5678``) and logs that it did, without the number.
- :class:`HttpGateway` ("http"): ``POST SMS_GATEWAY_URL`` with JSON ``{"ref", "phone", "text"}``,
  ``Authorization: Bearer SMS_GATEWAY_TOKEN`` and ``Idempotency-Key: <ref>``; any 2xx answer is a
  delivery (its JSON ``id``, when given, is kept), anything else or no answer within
  ``SMS_GATEWAY_TIMEOUT`` seconds is a failure to retry later.

Errors never carry the phone number (they are stored and logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from admin.models import SmsSandboxMessage
from core.config import Config
from core.db import Database

__all__ = ["GATEWAYS", "HttpGateway", "OutgoingSms", "SandboxGateway", "SmsError", "SmsGateway", "make_gateway",
           "mask_phone"]

log = logging.getLogger("yikatong.sms")
GATEWAYS = ("sandbox", "http")


@dataclass(frozen=True)
class OutgoingSms:
    ref: str
    phone: str
    text: str

    def __repr__(self) -> str:  # never the number, should the message end up in a traceback or log
        return f"OutgoingSms(ref={self.ref!r}, phone='***', text={len(self.text)} chars)"


class SmsError(Exception):
    """The gateway did not take the message (to be retried); the message holds no phone number."""


class SmsGateway(Protocol):
    name: str

    def send(self, message: OutgoingSms) -> str:
        """Deliver the message (once per ``ref``); the gateway's message id."""
        ...


def mask_phone(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 7 else "****"


class SandboxGateway:
    """Keeps the messages in the batch database instead of sending them (the default)."""

    name = "sandbox"

    def __init__(self, db: Database) -> None:
        self.db = db

    def send(self, message: OutgoingSms) -> str:
        try:
            with self.db.session() as session:
                row = SmsSandboxMessage(ref=message.ref, phone_masked=mask_phone(message.phone), text=message.text)
                session.add(row)
                session.flush()
                message_id = f"sandbox-{row.id}"
        except IntegrityError:  # delivered before (same ref): the gateway does not deliver twice
            with self.db.session() as session:
                existing = session.execute(select(SmsSandboxMessage.id).where(
                    SmsSandboxMessage.ref == message.ref)).scalar_one()
            return f"sandbox-{existing}"
        log.info("短信沙箱：已记录短信 %s（%d 字）", message.ref, len(message.text))
        return message_id


class HttpGateway:
    """A provider's HTTP API (or a company SMS platform) behind one JSON POST."""

    name = "http"

    def __init__(self, url: str, token: str | None, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self.transport = transport

    def send(self, message: OutgoingSms) -> str:
        headers = {"Idempotency-Key": message.ref}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
                response = client.post(self.url, json={"ref": message.ref, "phone": message.phone,
                                                       "text": message.text}, headers=headers)
        except httpx.HTTPError as exc:
            raise SmsError(f"短信网关无法连接（{type(exc).__name__}）") from None
        if not 200 <= response.status_code < 300:
            raise SmsError(f"短信网关返回 HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = {}
        gateway_id = body.get("id") if isinstance(body, dict) else None
        return str(gateway_id)[:64] if gateway_id else message.ref


def make_gateway(config: Config, db: Database) -> SmsGateway:
    """The gateway the configuration names (``SMS_GATEWAY``)."""
    if config.sms_gateway == "http" and config.sms_gateway_url:  # Config refuses "http" without a URL
        return HttpGateway(config.sms_gateway_url, config.sms_gateway_token, config.sms_gateway_timeout)
    return SandboxGateway(db)
