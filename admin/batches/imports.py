"""Roster imports in progress (花名册导入): staged imports and background imports.

- A staged import holds the lines of a file that did not pass every check (encrypted: they hold
  ID and card numbers) under `<data dir>/staged-imports/`, while the clerk fixes or removes the
  failing lines; `stage`, `load_staged` (only for the operator and batch it belongs to),
  `discard_staged`.
- A file of at least `BACKGROUND_IMPORT_BYTES` is read, checked and imported in a thread
  (`start_import`: one transaction, all or nothing); its status is a job file (counts and phase
  only) that the progress page reads, so every server process can show it.
- `cleanup_staged` removes both kinds once untouched for 7 days (`yikatong admin cleanup`, and
  at every start of the admin server).
- `import_slots` bounds the file imports running at once in this process (rosters, staged
  commits, the person registry, reference lists): `MAX_IMPORTS_PER_OPERATOR` per operator and
  `MAX_IMPORTS` in all. A busy refusal is an `AdminError` (429 `import_in_progress` for the
  operator's own running import, 503 `imports_busy` when the server is full) raised before the
  file is read; a slot is held until the import is done (for a background import, until its
  thread ends).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from sqlalchemy.orm import Session

from admin.access.roles import Actor, scope_region_for
from admin.batches import rosters
from admin.batches.rosters import RosterFileError, RosterRow
from admin.batches.service import BatchError, import_rows, row_from_values
from admin.fieldcrypt import cipher
from admin.models import Batch
from admin.web import AdminError
from core.config import Config
from core.db import Database

__all__ = ["BACKGROUND_IMPORT_BYTES", "MAX_IMPORTS", "MAX_IMPORTS_PER_OPERATOR", "PHASES", "STAGED_MAX_AGE_DAYS",
           "ImportSlot", "ImportSlots", "cleanup_staged", "discard_staged", "import_slots", "job_discard", "job_read",
           "job_write", "load_staged", "running_imports", "stage", "start_import"]

log = logging.getLogger("yikatong.admin")

# --- how many imports run at once --------------------------------------------------------------
# Reading and checking a file is CPU work in a thread of the admin process (2 cores on a small
# server): a few at once keep the admin pages responsive.

MAX_IMPORTS_PER_OPERATOR = 1
MAX_IMPORTS = 2


class ImportSlot:
    """One running import; `release()` (or leaving the `with` block) frees it, once."""

    def __init__(self, slots: ImportSlots, operator_id: int) -> None:
        self._slots = slots
        self.operator_id = operator_id
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._slots._release(self.operator_id)

    def __enter__(self) -> ImportSlot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class ImportSlots:
    """The imports running in this process: at most `per_operator` for one operator, `total` in all."""

    def __init__(self, per_operator: int, total: int) -> None:
        self.per_operator = per_operator
        self.total = total
        self._lock = threading.Lock()
        self._running: dict[int, int] = {}

    def acquire(self, operator_id: int) -> ImportSlot:
        """A slot for one import, or `AdminError` 429/503 with a Chinese message when busy."""
        with self._lock:
            if self._running.get(operator_id, 0) >= self.per_operator:
                raise AdminError(429, "import_in_progress",
                                 "您上传的上一个文件还在导入中，请等它完成后再上传下一个文件（进度可在批次页面查看）。")
            if sum(self._running.values()) >= self.total:
                raise AdminError(503, "imports_busy",
                                 "系统正在处理其他导入，暂时不能开始新的导入。请过一两分钟再上传，文件不用修改。")
            self._running[operator_id] = self._running.get(operator_id, 0) + 1
        return ImportSlot(self, operator_id)

    def running(self) -> int:
        with self._lock:
            return sum(self._running.values())

    def _release(self, operator_id: int) -> None:
        with self._lock:
            left = self._running.get(operator_id, 0) - 1
            if left > 0:
                self._running[operator_id] = left
            else:
                self._running.pop(operator_id, None)


import_slots = ImportSlots(MAX_IMPORTS_PER_OPERATOR, MAX_IMPORTS)


# --- staged imports (a file whose lines are being fixed) --------------------------------------


def _staging_dir(config: Config) -> Path:
    path = config.data_dir / "staged-imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def stage(config: Config, batch_id: int, operator_id: int, filename: str, rows: Sequence[RosterRow],
          token: str | None = None) -> str:
    """Keep the lines of a failed import (encrypted: they hold ID and card numbers)."""
    token = token or secrets.token_urlsafe(12)
    body = {"batch_id": batch_id, "operator_id": operator_id, "filename": filename,
            "rows": [{"line_no": r.line_no, "values": r.raw} for r in rows]}
    blob = cipher(config.field_key).encrypt(json.dumps(body, ensure_ascii=False, default=str))
    (_staging_dir(config) / f"{token}.bin").write_text(blob, encoding="ascii")
    return token


def load_staged(config: Config, token: str, batch_id: int, operator_id: int) -> tuple[str, list[RosterRow]] | None:
    if not token.replace("-", "").replace("_", "").isalnum():
        return None
    path = _staging_dir(config) / f"{token}.bin"
    if not path.is_file():
        return None
    try:
        body = json.loads(cipher(config.field_key).decrypt(path.read_text(encoding="ascii")))
    except ValueError:
        return None
    if body["batch_id"] != batch_id or body["operator_id"] != operator_id:
        return None
    return body["filename"], [row_from_values(r["line_no"], r["values"]) for r in body["rows"]]


def discard_staged(config: Config, token: str) -> None:
    if token.replace("-", "").replace("_", "").isalnum():
        (_staging_dir(config) / f"{token}.bin").unlink(missing_ok=True)


# --- background imports (progress of a large file) ---------------------------------------------
# The status of a running web import is a small JSON file (counts and phase only, no personal
# data) under <data dir>/import-jobs/, so every server process can show its progress.

STAGED_MAX_AGE_DAYS = 7


def _jobs_dir(config: Config) -> Path:
    path = config.data_dir / "import-jobs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _valid_token(token: str) -> bool:
    return bool(token) and len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum()


def job_write(config: Config, token: str, status: dict[str, Any]) -> None:
    path = _jobs_dir(config) / f"{token}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def job_read(config: Config, token: str) -> dict[str, Any] | None:
    if not _valid_token(token):
        return None
    path = _jobs_dir(config) / f"{token}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def job_discard(config: Config, token: str) -> None:
    if _valid_token(token):
        (_jobs_dir(config) / f"{token}.json").unlink(missing_ok=True)


def cleanup_staged(config: Config, max_age_days: int = STAGED_MAX_AGE_DAYS) -> int:
    """Remove staged imports (and finished or dead import statuses) untouched for `max_age_days`."""
    cutoff = time.time() - max_age_days * 86400
    removed = 0
    for folder, pattern in ((_staging_dir(config), "*.bin"), (_jobs_dir(config), "*.json"),
                            (_jobs_dir(config), "*.tmp")):
        for path in folder.glob(pattern):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
    return removed


# --- the background thread --------------------------------------------------------------------

# Files at least this large are imported in a background thread with a progress page.
BACKGROUND_IMPORT_BYTES = 256 * 1024
running_imports: dict[str, threading.Thread] = {}
PHASES = {"reading": "正在读取文件", "checking": "正在逐行检查（身份证号、社保卡、重复享受、比对名单……）",
          "writing": "正在写入", "done": "已完成"}


def start_import(config: Config, db: Database, actor: Actor, batch_id: int, data: bytes, filename: str,
                 load_batch: Callable[[Session], Batch], slot: ImportSlot) -> str:
    """Read, check and import in a thread (one transaction: all or nothing); progress in a job file.

    `load_batch(session)` loads the batch again inside the thread's transaction, with the
    operator's permission checked (it raises `AdminError` when the batch moved out of reach).
    The thread releases `slot` when it ends."""
    token = secrets.token_urlsafe(12)
    status: dict[str, Any] = {"batch_id": batch_id, "operator_id": actor.id, "filename": filename[:100],
                              "state": "running", "phase": "reading", "done": 0, "total": 0,
                              "started": time.time()}
    job_write(config, token, status)

    def update(**changes: Any) -> None:
        status.update(changes)
        job_write(config, token, status)

    def work() -> None:
        try:
            roster = rosters.read_roster(data, filename)
            update(phase="checking", total=len(roster.rows))
            with db.session() as session:
                batch = load_batch(session)
                outcome = import_rows(
                    session, config, batch, roster.rows, actor=actor.username, scope_region=scope_region_for(actor),
                    source=filename.rsplit("/", 1)[-1], progress=lambda done, total: update(
                        phase="writing", done=done, total=total))
            if outcome.ok:
                update(state="done", phase="done", imported=outcome.imported)
            else:
                staged = stage(config, batch_id, actor.id, filename, [r.row for r in outcome.results])
                update(state="staged", phase="done", staged=staged, lines=len(outcome.results),
                       failed=sum(1 for r in outcome.results if not r.ok))
        except RosterFileError as exc:
            update(state="error", message="文件无法导入：" + exc.message)
        except Exception as exc:  # the transaction rolled back: nothing was imported
            log.error("background import %s failed: %s", token, type(exc).__name__)
            message = exc.message if isinstance(exc, AdminError) else str(exc) if isinstance(
                exc, BatchError) else "系统出现问题，导入未完成（未导入任何行）。请稍后重试或联系系统管理员。"
            update(state="error", message=message)
        finally:
            running_imports.pop(token, None)
            slot.release()

    thread = threading.Thread(target=work, name=f"roster-import-{token}", daemon=True)
    running_imports[token] = thread
    try:
        thread.start()
    except BaseException:
        running_imports.pop(token, None)
        slot.release()
        raise
    return token
