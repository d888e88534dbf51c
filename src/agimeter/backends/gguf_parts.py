"""A GGUF file cut into data parts inside several wheels, assembled once into the model cache.

The parts are found with ``importlib.util.find_spec`` and read as plain files: the packages'
own code is never imported or run. Assembly streams the parts in order into a ``.partial`` file
in the cache directory while hashing, checks every part's size, the total size and the sha256,
and only then renames the file into place, so an error (a missing or truncated part, a wrong
hash, a full disk) leaves nothing half-written. A stamp written after the hash check lets later
calls trust the cached file from its size and mtime without reading it again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from agimeter.backends._hashing import remember_sha256
from agimeter.backends._stamps import read_stamp, write_stamp
from agimeter.errors import ModelError

if TYPE_CHECKING:
    from agimeter.backends.aliases import ModelAlias, ModelPart

CHUNK = 1 << 22


def part_path(part: ModelPart) -> Path | None:
    """The part's data file inside its installed package (not imported), or None if absent."""
    from agimeter.backends.aliases import module_dir

    directory = module_dir(part.module)
    path = directory / part.path if directory is not None else None
    return path if path is not None and path.is_file() else None


def installed_parts(alias: ModelAlias) -> list[Path | None]:
    return [part_path(part) for part in alias.parts]


def assembled_path(alias: ModelAlias, cache_dir: Path) -> Path | None:
    """The cached assembled file when its stamp vouches for it (no reading), else None."""
    target = cache_dir / alias.file
    return target if _stamp_matches(target, alias) else None


def assemble(alias: ModelAlias, cache_dir: Path) -> Path:
    """``cache_dir / alias.file``, assembled from the parts on first use; one-line errors."""
    target = cache_dir / alias.file
    if _stamp_matches(target, alias):
        return target
    sources = _located(alias)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=f".{alias.file}.", suffix=".partial")
    except OSError as err:
        raise ModelError(f"cannot write model cache {cache_dir}: {err.strerror or err}") from None
    tmp = Path(tmp_name)
    try:
        with _open_partial(fd) as out:
            got = _copy_parts(alias, sources, out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is readable like any download
        if got != alias.sha256:
            raise ModelError(
                f"{alias.alias}: sha256 of the assembled parts is {got}, expected {alias.sha256}: "
                f"a part is corrupt or from another version; reinstall with `{alias.pip_install}`"
            )
        os.replace(tmp, target)
    except OSError as err:
        raise ModelError(f"cannot assemble {target}: {err.strerror or err}") from None
    finally:
        tmp.unlink(missing_ok=True)
    write_stamp(target, sha256=got)
    remember_sha256(target, got)
    return target


def _located(alias: ModelAlias) -> list[Path]:
    """Every part's data file, checked for presence and size before anything is written."""
    found = installed_parts(alias)
    missing = [part.package for part, path in zip(alias.parts, found, strict=True) if path is None]
    if missing:
        what = missing[0] if len(missing) == 1 else f"{len(missing)} of {len(alias.parts)} parts ({', '.join(missing)})"
        raise ModelError(f"model {alias.alias!r} is not fully installed: missing {what}; run `{alias.pip_install}`")
    paths = [path for path in found if path is not None]
    for number, (part, path) in enumerate(zip(alias.parts, paths, strict=True), start=1):
        size = path.stat().st_size
        if size != part.bytes:
            raise ModelError(_size_problem(alias, number, part, size))
    return paths


def _size_problem(alias: ModelAlias, number: int, part: ModelPart, size: int) -> str:
    return (
        f"{alias.alias}: part {number} of {len(alias.parts)} ({part.package}: {part.path}) has {size:,} bytes, "
        f"expected {part.bytes:,}: truncated or from another version; reinstall with `{alias.pip_install}`"
    )


def _open_partial(fd: int) -> IO[bytes]:
    return os.fdopen(fd, "wb")


def _copy_parts(alias: ModelAlias, sources: Sequence[Path], out: IO[bytes]) -> str:
    """Stream the parts in order into ``out``; the sha256 of what was written. A part that
    changed size since it was checked is named."""
    digest = hashlib.sha256()
    for number, (part, source) in enumerate(zip(alias.parts, sources, strict=True), start=1):
        copied = 0
        with source.open("rb") as fh:
            while block := fh.read(CHUNK):
                out.write(block)
                digest.update(block)
                copied += len(block)
        if copied != part.bytes:
            raise ModelError(_size_problem(alias, number, part, copied))
    return digest.hexdigest()


def _stamp_matches(target: Path, alias: ModelAlias) -> bool:
    """The stamp was written for this very file (size and mtime unchanged) and this sha256."""
    record = read_stamp(target)
    return record is not None and record.get("sha256") == alias.sha256 and record.get("bytes") == alias.bytes
