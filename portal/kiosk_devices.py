"""Kiosk devices (自助查询终端): registration, credentials and request signatures.

A device is a touch terminal in a village or township service hall. It holds one secret,
shown once when the device is registered or re-keyed; every call of the signed kiosk API
(`/kiosk/api/…`) carries an HMAC-SHA256 signature made with it (docs/kiosk.md):

    X-Kiosk-Signature = hex HMAC-SHA256(secret,
        METHOD + "\\n" + PATH + "\\n" + TIMESTAMP + "\\n" + NONCE + "\\n" + hex SHA-256(body))

The public store keeps the device (name, place, region, contact, counters) and the nonces
seen in the last `NONCE_RETENTION_SECONDS`; never anything about the people who used it.

These functions are the whole interface: the CLI (`yikatong kiosk …`) calls them, and so
can an admin screen later. Each takes the public `Database` and opens its own transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from core import regions
from core.db import Database
from core.timeutil import local, now
from portal.store import KioskDevice, KioskNonce

__all__ = [
    "TIMESTAMP_WINDOW_SECONDS",
    "NONCE_RETENTION_SECONDS",
    "DeviceInfo",
    "KioskAuthError",
    "KioskDeviceError",
    "body_digest",
    "disable_device",
    "enable_device",
    "get_device",
    "list_devices",
    "lookup_for_session",
    "nonce_count",
    "prune_nonces",
    "record_query",
    "register_device",
    "rekey_device",
    "secret_fingerprint",
    "sign",
    "signing_string",
    "touch_device",
    "verify_request",
]

TIMESTAMP_WINDOW_SECONDS = 300
# A nonce must be remembered for as long as a request carrying it could still pass the
# timestamp check: the clock may be off by the window on either side.
NONCE_RETENTION_SECONDS = 2 * TIMESTAMP_WINDOW_SECONDS
_NONCE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_DEVICE_ID = re.compile(r"^k-[0-9a-f]{12}$")


class KioskDeviceError(ValueError):
    """A device command cannot be done (unknown id, bad region …). The message is Chinese."""


class KioskAuthError(Exception):
    """A signed request is refused: a stable code, an HTTP status and a Chinese message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _refuse(code: str) -> KioskAuthError:
    status, message = AUTH_REFUSALS[code]
    return KioskAuthError(status, code, message)


AUTH_REFUSALS: dict[str, tuple[int, str]] = {
    "missing_credentials": (401, "请求缺少终端签名信息，请联系终端管理员。"),
    "unknown_device": (401, "本终端未登记，请联系终端管理员。"),
    "device_disabled": (403, "本终端已停用，请联系终端管理员。"),
    "bad_signature": (401, "终端签名不正确，请联系终端管理员。"),
    "stale_timestamp": (401, "终端时间不准确，请校准终端时间后重试。"),
    "bad_nonce": (401, "终端请求编号格式不正确，请联系终端管理员。"),
    "nonce_reused": (409, "这是一个重复的请求，已拒绝。"),
}


@dataclass(frozen=True)
class DeviceInfo:
    """A device as shown to operators; never includes the secret."""

    device_id: str
    name: str
    location: str
    region_code: str
    region_name: str
    contact: str
    enabled: bool
    created_at: datetime
    rekeyed_at: datetime | None
    last_seen_at: datetime | None
    query_count: int
    key_fingerprint: str

    @classmethod
    def of(cls, device: KioskDevice) -> "DeviceInfo":
        return cls(
            device_id=device.device_id, name=device.name, location=device.location,
            region_code=device.region_code, region_name=regions.full_name(device.region_code[:9]),
            contact=device.contact or "", enabled=bool(device.enabled),
            created_at=local(device.created_at),
            rekeyed_at=local(device.rekeyed_at) if device.rekeyed_at else None,
            last_seen_at=local(device.last_seen_at) if device.last_seen_at else None,
            query_count=device.query_count or 0,
            key_fingerprint=secret_fingerprint(device.secret),
        )


# --- signatures -------------------------------------------------------------------------

def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def signing_string(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return "\n".join((method.upper(), path, timestamp, nonce, body_digest(body)))


def sign(secret: str, method: str, path: str, timestamp: str | int, nonce: str, body: bytes = b"") -> str:
    """The X-Kiosk-Signature value for one request (what a terminal computes)."""
    message = signing_string(method, path, str(timestamp), nonce, body).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def secret_fingerprint(secret: str) -> str:
    """A short, non-reversible tag of the current secret (shown in lists, bound into sessions)."""
    return hashlib.sha256(b"kiosk-fingerprint\x1f" + secret.encode("utf-8")).hexdigest()[:12]


# --- registration -----------------------------------------------------------------------

def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def _check_region(code: str) -> str:
    try:
        canonical = regions.canonical_code(code)
    except ValueError:
        raise KioskDeviceError("区划代码应为 9 位乡镇代码或 12 位村代码。") from None
    if len(canonical) == 9 and regions.get(canonical) is not None:
        return canonical
    if len(canonical) == 12 and regions.get(canonical[:9]) is not None:
        return canonical
    raise KioskDeviceError("区划代码应为已登记的乡镇（9 位）或村（12 位）代码。")


def _text(value: str | None, label: str, limit: int, *, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise KioskDeviceError(f"请填写{label}。")
    if len(value) > limit:
        raise KioskDeviceError(f"{label}不能超过 {limit} 个字。")
    return value


def register_device(db: Database, *, name: str, location: str, region_code: str,
                    contact: str = "") -> tuple[DeviceInfo, str]:
    """Register a device; returns it and its secret (the only time the secret is shown)."""
    fields = dict(
        name=_text(name, "终端名称", 100),
        location=_text(location, "安放地点", 200),
        region_code=_check_region(region_code),
        contact=_text(contact, "联系人", 100, required=False),
    )
    secret = _new_secret()
    with db.session() as session:
        device = KioskDevice(device_id="k-" + secrets.token_hex(6), secret=secret, enabled=True,
                             query_count=0, created_at=now(), **fields)
        session.add(device)
        session.flush()
        return DeviceInfo.of(device), secret


def _load(session, device_id: str) -> KioskDevice:
    device = session.scalar(select(KioskDevice).where(KioskDevice.device_id == device_id.strip()))
    if device is None:
        raise KioskDeviceError(f"没有编号为 {device_id.strip()[:40]} 的终端。")
    return device


def get_device(db: Database, device_id: str) -> DeviceInfo | None:
    with db.session() as session:
        device = session.scalar(select(KioskDevice).where(KioskDevice.device_id == device_id))
        return DeviceInfo.of(device) if device else None


def list_devices(db: Database) -> list[DeviceInfo]:
    with db.session() as session:
        return [DeviceInfo.of(d) for d in session.scalars(select(KioskDevice).order_by(KioskDevice.id))]


def _set_enabled(db: Database, device_id: str, enabled: bool) -> DeviceInfo:
    with db.session() as session:
        device = _load(session, device_id)
        device.enabled = enabled
        session.flush()
        return DeviceInfo.of(device)


def disable_device(db: Database, device_id: str) -> DeviceInfo:
    """Stop a device at once: its API calls and its touch-screen session are refused."""
    return _set_enabled(db, device_id, False)


def enable_device(db: Database, device_id: str) -> DeviceInfo:
    return _set_enabled(db, device_id, True)


def rekey_device(db: Database, device_id: str) -> tuple[DeviceInfo, str]:
    """Give a device a new secret; the old one stops working at once. Returns the new secret."""
    secret = _new_secret()
    with db.session() as session:
        device = _load(session, device_id)
        device.secret = secret
        device.rekeyed_at = now()
        session.flush()
        return DeviceInfo.of(device), secret


# --- use --------------------------------------------------------------------------------

def touch_device(db: Database, device_id: str) -> None:
    """Record that the device was seen (a ping or a session start)."""
    with db.session() as session:
        session.execute(update(KioskDevice).where(KioskDevice.device_id == device_id)
                        .values(last_seen_at=now()))


def record_query(db: Database, device_id: str) -> None:
    """Count one personal query on the device. Nothing about the person is kept."""
    with db.session() as session:
        session.execute(update(KioskDevice).where(KioskDevice.device_id == device_id)
                        .values(last_seen_at=now(), query_count=KioskDevice.query_count + 1))


def prune_nonces(db: Database, at: datetime | None = None) -> int:
    cutoff = (at or now()) - timedelta(seconds=NONCE_RETENTION_SECONDS)
    with db.session() as session:
        result = session.execute(delete(KioskNonce).where(KioskNonce.seen_at < cutoff))
        return int(result.rowcount or 0)


def nonce_count(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(KioskNonce)) or 0)


def lookup_for_session(db: Database, device_id: str, fingerprint: str) -> DeviceInfo | None:
    """The device behind a touch-screen session, if it still exists, is enabled and not re-keyed."""
    if not _DEVICE_ID.match(device_id or ""):
        return None
    info = get_device(db, device_id)
    if info is None or not info.enabled or not hmac.compare_digest(info.key_fingerprint, fingerprint):
        return None
    return info


def verify_request(db: Database, *, device_id: str | None, timestamp: str | None, nonce: str | None,
                   signature: str | None, method: str, path: str, body: bytes,
                   at: datetime | None = None) -> DeviceInfo:
    """Check one signed request; returns the device or raises :class:`KioskAuthError`.

    Order: credentials present → device known → signature → device enabled → timestamp
    within ±300 s → nonce unused (then remembered). A refused request changes nothing.
    """
    if not device_id or not timestamp or not nonce or not signature:
        raise _refuse("missing_credentials")
    if not _DEVICE_ID.match(device_id):
        raise _refuse("unknown_device")
    current = at or now()
    with db.session() as session:
        device = session.scalar(select(KioskDevice).where(KioskDevice.device_id == device_id))
        if device is None:
            raise _refuse("unknown_device")
        expected = sign(device.secret, method, path, timestamp, nonce, body)
        # Bytes: compare_digest refuses str with non-ASCII characters (a TypeError, not a refusal).
        if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode("utf-8", "replace")):
            raise _refuse("bad_signature")
        if not device.enabled:
            raise _refuse("device_disabled")
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            raise _refuse("stale_timestamp")
        if abs(int(current.timestamp()) - int(timestamp)) > TIMESTAMP_WINDOW_SECONDS:
            raise _refuse("stale_timestamp")
        if not _NONCE.match(nonce):
            raise _refuse("bad_nonce")
        info = DeviceInfo.of(device)
    try:
        with db.session() as session:
            cutoff = current - timedelta(seconds=NONCE_RETENTION_SECONDS)
            session.execute(delete(KioskNonce).where(KioskNonce.seen_at < cutoff))
            session.add(KioskNonce(device_id=device_id, nonce=nonce, seen_at=current))
    except IntegrityError:
        raise _refuse("nonce_reused") from None
    return info
