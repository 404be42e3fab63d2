"""Statement (明白条): one person's payments of one year, printable (A4 HTML) and as a PDF.

Reached after a successful personal lookup, never with the ID number in the URL: the link
carries a short-lived token (:func:`make_statement_token`) holding the person key, the year
and the name as the person typed it — encrypted and authenticated (Fernet, key derived from
``YIKATONG_SESSION_SECRET``), so neither the name nor the key can be read from a URL or a log.
The bot sends such links too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from starlette.routing import BaseRoute

__all__ = ["STATEMENT_TTL", "StatementToken", "make_statement_token", "read_statement_token", "routes"]

STATEMENT_TTL = 15 * 60


@dataclass(frozen=True)
class StatementToken:
    person_key: str
    year: int
    name: str
    expires_at: int


class StatementTokenError(Exception):
    """The token is forged, damaged (``expired`` False) or too old (``expired`` True)."""

    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def _fernet(secret: str) -> Fernet:
    key = hashlib.sha256(("yikatong statement\x1f" + secret).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def make_statement_token(secret: str, person_key: str, year: int, name: str, *,
                         ttl: int = STATEMENT_TTL) -> str:
    """A URL-safe token for ``/statement/{token}`` valid for ``ttl`` seconds."""
    payload = {"k": person_key, "y": int(year), "n": name or "", "e": int(time.time()) + int(ttl)}
    token = _fernet(secret).encrypt(json.dumps(payload, ensure_ascii=False).encode())
    return token.decode().rstrip("=")


def read_statement_token(secret: str, token: str, *, now: float | None = None) -> StatementToken:
    """Decrypt and check a token; raises :class:`StatementTokenError`."""
    if not token or len(token) > 1000:
        raise StatementTokenError(expired=False)
    padded = token + "=" * (-len(token) % 4)
    try:
        raw = _fernet(secret).decrypt(padded.encode())
        payload = json.loads(raw)
        parsed = StatementToken(str(payload["k"]), int(payload["y"]), str(payload["n"]), int(payload["e"]))
    except (InvalidToken, ValueError, KeyError, TypeError):
        raise StatementTokenError(expired=False) from None
    if parsed.expires_at < (time.time() if now is None else now):
        raise StatementTokenError(expired=True)
    return parsed


def routes() -> list[BaseRoute]:
    return []
