"""Content hashes of model files (model identity), torch-free so every backend can use them."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """``sha256_file``, memoized on disk keyed by path, size and mtime, so that loading the same
    weights again (in any process) does not re-read them."""
    memo = _memo_file(path)
    try:
        cached = memo.read_text().strip()
        if len(cached) == 64:
            return cached
    except OSError:
        pass
    value = sha256_file(path)
    remember_sha256(path, value)
    return value


def remember_sha256(path: Path, value: str) -> None:
    """Record ``value`` as the sha256 of ``path`` as it is now (for a file whose hash was just
    computed while writing it), so that ``file_sha256`` does not read it again."""
    memo = _memo_file(path)
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(value)
        tmp.replace(memo)
    except OSError:
        pass  # the memo is an optimization only


def _memo_file(path: Path) -> Path:
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return _hash_memo_dir() / hashlib.sha256(key.encode()).hexdigest()


def _hash_memo_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("agimeter")) / "file-sha256"
