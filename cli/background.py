"""The work that runs beside the servers of ``yikatong serve --with-admin`` (what ``make run`` starts):
once a second, what ``yikatong index sync --follow`` does (the outbox into the search indexes,
complaints in, answers out; the statistics consumer in a thread of its own, so its recompute of
seconds never holds a publication's documents back) and what ``yikatong sms send --follow`` does (queued arrival SMS
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
from indexer.sync import StatisticsThread, statistics_objects, sync
from search import engine_for

__all__ = ["Background", "start"]

log = logging.getLogger("yikatong.background")
INTERVAL = 1.0


def _statistics_failed(exc: Exception) -> None:
    log.warning("background statistics failed (%s); retrying", type(exc).__name__)


def _loop(config: Config, stop: threading.Event) -> None:
    batch_db, public_db = Database(config.batch_database_url), Database(config.public_database_url)
    engine = engine_for(config)
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
    """The running loops (the round above, the statistics consumer): :meth:`stop` ends both after
    their current round."""

    def __init__(self, config: Config) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=_loop, args=(config, self._stop), name="yikatong-background",
                                        daemon=True)
        # the statistics consumer: its own thread, database and engine objects, the same stop event
        self._statistics = StatisticsThread(lambda: statistics_objects(config), interval=INTERVAL,
                                            stop=self._stop, on_error=_statistics_failed)
        self._thread.start()
        self._statistics.start()

    def stop(self, timeout: float = 30.0) -> None:
        """End both loops after their current round (each waited for at most ``timeout``)."""
        self._stop.set()
        self._thread.join(timeout)
        self._statistics.join(timeout)


def start(config: Config) -> Background:
    """Start the background loop in a daemon thread of this process."""
    return Background(config)
