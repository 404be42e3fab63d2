"""Photos of village notice boards (村务公开栏张贴照片), kept on the internal side only.

A posting record (``workflow.record_posting`` / the ``publicity_posting`` action) may carry one
photo. The view hands the upload to :func:`store`, which accepts JPEG, PNG or WebP only, decided
by the file's first bytes (never by its name or the browser's content type), up to
:data:`MAX_PHOTO_BYTES`, and writes it under ``<data dir>/posting-photos/`` named by its SHA-256,
so the same photo is stored once and a reference cannot point anywhere else. The reference
(``<sha256>.<ext>``) is what the workflow stores in ``PublicityPosting.photo_ref``.

Nothing serves this folder: an operator who may see the batch gets a photo through the admin
page of its posting (``admin/batches/workflow_views.py``); the public side never sees it.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.config import Config

__all__ = ["MAX_PHOTO_BYTES", "MEDIA_TYPES", "PhotoError", "StoredPhoto", "discard", "path_of", "sniff", "store"]

MAX_PHOTO_BYTES = 5 * 1024 * 1024
MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
FOLDER = "posting-photos"
_REF = re.compile(r"^([0-9a-f]{64})\.(jpg|png|webp)$")


class PhotoError(Exception):
    """A refused upload: a stable ``code``, a Chinese ``message`` and the HTTP ``status``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class StoredPhoto:
    ref: str
    created: bool  # False when the same photo was already stored


def sniff(data: bytes) -> str | None:
    """The image kind by its magic bytes: ``jpg``, ``png``, ``webp``, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _folder(config: Config) -> Path:
    return config.data_dir / FOLDER


def store(config: Config, data: bytes) -> StoredPhoto:
    """Check and keep a photo; the caller reads at most ``MAX_PHOTO_BYTES + 1`` bytes."""
    if not data:
        raise PhotoError("photo_empty", "上传的照片是空文件，请重新选择。")
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoError("photo_too_large", f"照片不能超过 {MAX_PHOTO_BYTES // (1024 * 1024)} MB，请压缩后再上传。", 413)
    kind = sniff(data)
    if kind is None:
        raise PhotoError("photo_not_image", "只能上传 JPG、PNG 或 WebP 格式的照片。")
    ref = f"{hashlib.sha256(data).hexdigest()}.{kind}"
    folder = _folder(config)
    target = folder / ref
    if target.exists():
        return StoredPhoto(ref, False)
    folder.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return StoredPhoto(ref, True)


def discard(config: Config, photo: StoredPhoto) -> None:
    """Remove a photo stored for an action that was then refused (only if this upload created it)."""
    if photo.created:
        (_folder(config) / photo.ref).unlink(missing_ok=True)


def path_of(config: Config, ref: str) -> tuple[Path, str] | None:
    """The file and media type of a stored reference, or None (unknown or malformed reference)."""
    match = _REF.fullmatch(ref or "")
    if match is None:
        return None
    path = _folder(config) / ref
    return (path, MEDIA_TYPES[match[2]]) if path.is_file() else None
