"""Outbox: changes that must reach the public indexes.

Call `emit` in the same session as the change, so the change and its outbox row commit or
roll back together. The indexer (indexer/sync.py) reads the outbox in id order per named
consumer and rebuilds the affected documents from the current database state, so replaying
an entry is harmless (idempotent).

Topics: "batch" (key = batch id: its lines' disclosures and payments), "line" (key = line
id), "policy" (key = policy id), "complaint" (key = tracking code: status flows back out).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from admin.models import OutboxEntry

TOPICS = ("batch", "line", "policy", "complaint")


def emit(session: Session, topic: str, key: str | int) -> OutboxEntry:
    if topic not in TOPICS:
        raise ValueError(f"unknown outbox topic {topic!r}")
    entry = OutboxEntry(topic=topic, key=str(key))
    session.add(entry)
    return entry
