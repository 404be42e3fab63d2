"""Append-only, tamper-evident audit trail.

Every entry carries the hash of the previous one (SHA-256 over a canonical JSON of the
entry), so editing or deleting any row breaks the chain and `verify_chain` says where.
`record` must be called inside the same session/transaction as the change it describes.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.models import AuditEntry
from core.timeutil import local, now

GENESIS = "0" * 64


def _canonical(entry: AuditEntry) -> bytes:
    at = local(entry.at).strftime("%Y-%m-%dT%H:%M:%S") if isinstance(entry.at, datetime) else str(entry.at)[:19]
    body = {
        "at": at,
        "actor": entry.actor,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "region_code": entry.region_code,
        "before": entry.before,
        "after": entry.after,
        "prev_hash": entry.prev_hash,
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int,
    region_code: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the chain (in the caller's transaction)."""
    last = session.execute(
        select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1).with_for_update()
    ).scalar_one_or_none()
    entry = AuditEntry(
        at=now().replace(microsecond=0),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        region_code=region_code,
        before=before,
        after=after,
        prev_hash=last or GENESIS,
    )
    entry.hash = hashlib.sha256(_canonical(entry)).hexdigest()
    session.add(entry)
    session.flush()
    return entry


def verify_chain(session: Session) -> int | None:
    """The id of the first entry whose hash or link is wrong, or None if the chain holds."""
    prev = GENESIS
    for entry in _iter_entries(session):
        if entry.prev_hash != prev or hashlib.sha256(_canonical(entry)).hexdigest() != entry.hash:
            return entry.id
        prev = entry.hash
    return None


def _iter_entries(session: Session) -> Iterator[AuditEntry]:
    yield from session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
