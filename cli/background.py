"""The work that runs beside the servers of ``yikatong serve --with-admin`` (what ``make run`` starts):
once a second, what ``yikatong index sync --follow`` does (the outbox into the search indexes,
complaints in, answers out) and what ``yikatong sms send --follow`` does (queued arrival SMS
through the configured gateway), and the supervision signals recomputed when batches moved
(admin/supervision/signals.follow, its own cursors). So a batch published on the admin side reaches the portal
within seconds, and its arrival SMS land in the sandbox, with nothing else to start.

A round that fails (a locked SQLite file, a search server away) is logged and tried again on the
next round; it never stops the servers.
"""

from __future__ import annotations

import logging
import threading

from admin.sms.gateways import make_gateway
from admin.sms.messages import send_pending
from admin.supervision import signals
from core.config import Config
from core.db import Database
from indexer import inbound
from indexer.documents import DocumentBuilder
from indexer.sync import sync
from search import make_engine

__all__ = ["Background", "start"]

log = logging.getLogger("yikatong.background")
INTERVAL = 1.0


def _loop(config: Config, stop: threading.Event) -> None:
    batch_db, public_db = Database(config.batch_database_url), Database(config.public_database_url)
    engine = make_engine(config.data_dir, config.meili_url, config.meili_api_key, config.search_index_prefix)
    builder = DocumentBuilder.from_config(config)
    gateway = make_gateway(config, batch_db)
    try:
        while not stop.is_set():
            for name, step in (("outbox sync", lambda: sync(batch_db, engine, builder)),
                               ("complaints", lambda: inbound.run(public_db, batch_db, config.field_key)),
                               ("arrival sms", lambda: send_pending(batch_db, gateway, config.field_key)),
                               ("signals", lambda: signals.follow(batch_db, config))):
                try:
                    step()
                except Exception as exc:  # noqa: BLE001 - one failed round must not stop the servers
                    log.warning("background %s failed (%s); retrying", name, type(exc).__name__)
            stop.wait(INTERVAL)
    finally:
        batch_db.dispose()
        public_db.dispose()


class Background:
    """The running loop: :meth:`stop` ends it after the current round."""

    def __init__(self, config: Config) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=_loop, args=(config, self._stop), name="yikatong-background",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)


def start(config: Config) -> Background:
    """Start the background loop in a daemon thread of this process."""
    return Background(config)
