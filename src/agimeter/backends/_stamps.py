"""Stamps: a small JSON file next to a cached file saying what it is (its sha256 and more), written
after the file was checked, and trusted only while the file keeps the size and mtime it had then.
So a later call can use a multi-hundred-MB cache entry without reading it again."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STAMP_SUFFIX = ".verified.json"


def stamp_path(target: Path) -> Path:
    return target.with_name(target.name + STAMP_SUFFIX)


def write_stamp(target: Path, **fields: object) -> None:
    """Best effort: without a stamp the next call redoes the work, which is slow but correct."""
    stamp = stamp_path(target)
    tmp = stamp.with_name(f".{stamp.name}.{os.getpid()}.tmp")
    try:
        stat = target.stat()
        tmp.write_text(json.dumps({**fields, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}))
        os.replace(tmp, stamp)
    except OSError:
        tmp.unlink(missing_ok=True)


def read_stamp(target: Path) -> dict[str, Any] | None:
    """The stamp's fields when it was written for this very file (size and mtime unchanged), else None."""
    try:
        record = json.loads(stamp_path(target).read_text())
        stat = target.stat()
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    if record.get("bytes") != stat.st_size or record.get("mtime_ns") != stat.st_mtime_ns:
        return None
    return record
