"""The last known mode of each system, kept on disk so a restart can serve it offline.

One small JSON file per system in the cache directory, written atomically: a temporary file
in the same directory, flushed and fsynced, then `os.replace`d over the old one. A reader
(this process after a restart, or another process sharing the directory) sees the old file
or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

logger = logging.getLogger("failsafe_client")

MODES = ("ai", "degraded", "human", "off")
# What the server accepts as a client id (in acknowledgements and on the stream).
CLIENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


@dataclass(frozen=True)
class Saved:
    mode: str
    revision: int


def mode_file(cache_dir: Path, slug: str) -> Path:
    # Slugs are URL-safe already; quoting keeps any other name inside the directory.
    return cache_dir / f"{quote(slug, safe='')}.mode.json"


def write_atomic(path: Path, text: str) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def save(cache_dir: Path, slug: str, mode: str, revision: int) -> None:
    """Never raises: a full or read-only disk must not stop the client obeying the mode."""
    document = {"system": slug, "mode": mode, "revision": revision, "saved_at": time.time()}
    try:
        write_atomic(mode_file(cache_dir, slug), json.dumps(document))
    except OSError:
        logger.warning("Could not save the mode of %s in %s", slug, cache_dir, exc_info=True)


def load(cache_dir: Path, slug: str) -> Saved | None:
    """The saved mode of `slug`, or None when there is none or it cannot be trusted."""
    path = mode_file(cache_dir, slug)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        logger.warning("Ignoring the unreadable saved mode %s", path, exc_info=True)
        return None
    if not isinstance(document, dict):
        logger.warning("Ignoring the saved mode %s: not an object", path)
        return None
    mode, revision = document.get("mode"), document.get("revision")
    if mode not in MODES or type(revision) is not int:
        logger.warning("Ignoring the saved mode %s: mode %r, revision %r", path, mode, revision)
        return None
    return Saved(mode=mode, revision=revision)


def valid_client_id(client_id: str) -> bool:
    return CLIENT_ID.fullmatch(client_id) is not None


def client_id(cache_dir: Path) -> str | None:
    """The id saved in `cache_dir`, made and saved on first use; None if the disk refuses."""
    path = cache_dir / "client_id"
    try:
        saved = path.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        saved = ""
    except OSError:
        logger.warning("Could not read %s", path, exc_info=True)
        return None
    if valid_client_id(saved):
        return saved
    new = uuid.uuid4().hex
    try:
        write_atomic(path, new)
    except OSError:
        logger.warning("Could not save the client id in %s", path, exc_info=True)
        return None
    return new
