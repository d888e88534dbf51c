"""Read task records from local files, Hugging Face's offline cache, generators or the spec itself.

Every record carries its origin (``file:line``) so a malformed row or a missing field can be
reported precisely.
"""

from __future__ import annotations

import csv
import glob
import importlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agimeter.errors import ConfigError, DataError
from agimeter.tasks import templates
from agimeter.tasks.spec import FileSource, HFSource, InlineSource, Join, ProceduralSource, Source

DATA_DIR_ENV = "AGIMETER_DATA_DIR"
_HINT = f"pass --data-dir or set {DATA_DIR_ENV}"
_GLOB_CHARS = set("*?[")
_SUFFIX_FORMATS = {
    ".jsonl": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".txt": "hellaswag_txt",
}


@dataclass(frozen=True)
class Doc:
    """One raw record and where it came from (``path:line`` or a description)."""

    fields: dict[str, Any]
    origin: str


def resolve_data_dir(data_dir: str | Path | None) -> Path | None:
    """The explicit data dir, else ``$AGIMETER_DATA_DIR``, else None."""
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else None


def load_docs(source: Source, data_dir: str | Path | None, *, spec_name: str = "<spec>") -> list[Doc]:
    """All records of ``source`` in document order."""
    if isinstance(source, FileSource):
        return load_file_source(source, resolve_data_dir(data_dir), spec_name=spec_name)
    if isinstance(source, HFSource):
        return load_hf(source)
    if isinstance(source, ProceduralSource):
        return load_procedural(source)
    if isinstance(source, InlineSource):
        return [Doc(dict(rec), f"{spec_name}: inline record {i}") for i, rec in enumerate(source.records)]
    raise ConfigError(f"unsupported source kind: {source!r}")  # pragma: no cover


# ---------------------------------------------------------------- files


def _display(path: Path, data_dir: Path | None) -> str:
    if data_dir is not None:
        try:
            return str(path.relative_to(data_dir))
        except ValueError:
            pass
    return str(path)


def expand_paths(pattern: str, data_dir: Path | None) -> list[Path]:
    """Resolve ``pattern`` (absolute, or relative to the data dir; may be a glob), sorted."""
    raw = Path(pattern)
    if not raw.is_absolute():
        if data_dir is None:
            raise DataError(f"data file {pattern} is relative but no data dir is set ({_HINT})")
        raw = data_dir / raw
    if _GLOB_CHARS & set(pattern):
        found = sorted(Path(p) for p in glob.glob(str(raw)))
        if not found:
            raise DataError(f"no data files match {raw} ({_HINT})")
        return found
    if not raw.is_file():
        raise DataError(f"data file not found: {raw} ({_HINT})")
    return [raw]


def load_file_source(source: FileSource, data_dir: Path | None, *, spec_name: str = "") -> list[Doc]:
    keep_ids = _ids_from(source.ids_from, data_dir) if source.ids_from else None
    joins = [(join, _join_index(join, data_dir)) for join in source.join]
    docs: list[Doc] = []
    for path in expand_paths(source.path, data_dir):
        name = _display(path, data_dir)
        fmt = source.format or _SUFFIX_FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise DataError(f"{name}: cannot tell the format from the suffix; set source.format")
        file_docs = read_file(path, fmt, name=name, columns=source.columns, records_key=source.records_key)
        if not file_docs:
            raise DataError(f"{name}: no rows")
        added: dict[str, Any] = {}
        if source.file_stem_field:
            stem = path.stem
            if source.file_stem_strip and stem.endswith(source.file_stem_strip):
                stem = stem[: -len(source.file_stem_strip)]
            if source.file_stem_strip_prefix and stem.startswith(source.file_stem_strip_prefix):
                stem = stem[len(source.file_stem_strip_prefix) :]
            added[source.file_stem_field] = stem
        for field_name, template in source.attach.items():
            attached = expand_paths(template.replace("{stem}", path.stem), data_dir)[0]
            try:
                added[field_name] = attached.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                raise DataError(f"{_display(attached, data_dir)}: cannot read ({err})") from err
        for doc in file_docs:
            doc.fields.update(added)
            for join, index in joins:
                _join_one(doc, join, index)
        if keep_ids is not None:
            file_docs = [d for d in file_docs if str(d.fields.get("id")) in keep_ids]
        if source.where:
            file_docs = [
                d for d in file_docs if templates.test(source.where, d.fields, origin=d.origin, spec=spec_name)
            ]
        docs.extend(file_docs)
    return docs


def _join_index(join: Join, data_dir: Path | None) -> dict[str, dict[str, Any]]:
    """The records of a joined file by their ``key`` field (as text); a key seen twice is an error."""
    path = expand_paths(join.path, data_dir)[0]
    name = _display(path, data_dir)
    fmt = _SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt not in ("jsonl", "json"):
        raise DataError(f"{name}: source.join reads jsonl or json files")
    index: dict[str, dict[str, Any]] = {}
    for doc in read_file(path, fmt, name=name):
        if join.key not in doc.fields:
            raise DataError(f"{doc.origin}: missing field {join.key!r} (needed by source.join.key)")
        key = str(doc.fields[join.key])
        if key in index:
            raise DataError(f"{doc.origin}: {join.key} {key!r} occurs twice (source.join)")
        index[key] = doc.fields
    return index


def _join_one(doc: Doc, join: Join, index: dict[str, dict[str, Any]]) -> None:
    if join.key not in doc.fields:
        raise DataError(f"{doc.origin}: missing field {join.key!r} (needed by source.join.key)")
    match = index.get(str(doc.fields[join.key]))
    if match is None and join.required:
        raise DataError(f"{doc.origin}: no record of {join.path} has {join.key} {doc.fields[join.key]!r} (source.join)")
    doc.fields[join.into] = match


def _ids_from(pattern: str, data_dir: Path | None) -> set[str]:
    path = expand_paths(pattern, data_dir)[0]
    name = _display(path, data_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{name}:{err.lineno}: invalid JSON ({err.msg})") from err
    if isinstance(data, dict):
        return {str(k) for k in data}
    if isinstance(data, list):
        return {str(k) for k in data}
    raise DataError(f"{name}: expected an object or a list of ids (source.ids_from)")


def read_file(
    path: Path,
    fmt: str,
    *,
    name: str,
    columns: list[str] | None = None,
    records_key: str | None = None,
) -> list[Doc]:
    """Read one file of the given format; ``name`` is how errors refer to it."""
    try:
        if fmt == "jsonl":
            return _read_jsonl(path, name)
        if fmt == "json":
            return _read_json(path, name, records_key)
        if fmt in ("csv", "tsv"):
            return _read_delimited(path, name, "," if fmt == "csv" else "\t", columns)
        if fmt == "parquet":
            return _read_parquet(path, name)
        if fmt == "hellaswag_txt":
            return _read_hellaswag_txt(path, name)
    except UnicodeDecodeError as err:
        raise DataError(f"{name}: not valid UTF-8 ({err.reason} at byte {err.start})") from err
    except OSError as err:
        raise DataError(f"{name}: cannot read ({err.strerror or err})") from err
    raise DataError(f"{name}: unknown format {fmt!r}")


def _read_jsonl(path: Path, name: str) -> list[Doc]:
    docs = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{name}:{lineno}: invalid JSON ({err.msg} at column {err.colno})") from err
            if not isinstance(rec, dict):
                raise DataError(f"{name}:{lineno}: expected a JSON object, got {type(rec).__name__}")
            docs.append(Doc(rec, f"{name}:{lineno}"))
    return docs


def _read_json(path: Path, name: str, records_key: str | None) -> list[Doc]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{name}:{err.lineno}: invalid JSON ({err.msg})") from err
    if records_key is not None:
        if not isinstance(data, dict) or records_key not in data:
            raise DataError(f"{name}: no key {records_key!r} holding the records")
        data = data[records_key]
    if isinstance(data, dict):  # an object keyed by id: keep the id
        data = [{"id": k, **v} if isinstance(v, dict) else {"id": k, "value": v} for k, v in data.items()]
    if not isinstance(data, list):
        raise DataError(f"{name}: expected a list of records, got {type(data).__name__}")
    docs = []
    for i, rec in enumerate(data):
        if not isinstance(rec, dict):
            raise DataError(f"{name}: record {i}: expected an object, got {type(rec).__name__}")
        docs.append(Doc(rec, f"{name}: record {i}"))
    return docs


def _read_delimited(path: Path, name: str, delimiter: str, columns: list[str] | None) -> list[Doc]:
    docs = []
    # TSV files such as MGSM contain bare double quotes: read them with quoting off.
    with path.open(encoding="utf-8", newline="") as fh:
        if delimiter == ",":
            reader = csv.reader(fh, delimiter=delimiter, strict=True)
        else:
            reader = csv.reader(fh, delimiter=delimiter, quoting=csv.QUOTE_NONE, strict=True)
        header = columns
        line_start = 1
        try:
            for row in reader:
                lineno, line_start = line_start, reader.line_num + 1
                if not row:
                    continue
                if header is None:
                    header = row
                    continue
                if len(row) != len(header):
                    raise DataError(f"{name}:{lineno}: expected {len(header)} columns, got {len(row)}")
                docs.append(Doc(dict(zip(header, row, strict=True)), f"{name}:{lineno}"))
        except csv.Error as err:
            raise DataError(f"{name}:{reader.line_num}: malformed row ({err})") from err
    return docs


def _read_parquet(path: Path, name: str) -> list[Doc]:
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as err:  # pyarrow raises several unrelated types for corrupt files
        raise DataError(f"{name}: cannot read parquet ({err})") from err
    return [Doc(dict(row), f"{name}: row {i}") for i, row in enumerate(rows)]


def _read_hellaswag_txt(path: Path, name: str) -> list[Doc]:
    """6 lines per item: '<activity_label>: <ctx>', gold index, four endings."""
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) % 6:
        raise DataError(f"{name}:{len(lines)}: file has {len(lines)} lines, not a multiple of 6")
    docs = []
    for start in range(0, len(lines), 6):
        lineno = start + 1
        head, label, *endings = lines[start : start + 6]
        if ": " not in head:
            raise DataError(f"{name}:{lineno}: expected '<activity_label>: <context>'")
        activity_label, ctx = head.split(": ", 1)
        if label.strip() not in ("0", "1", "2", "3"):
            raise DataError(f"{name}:{lineno + 1}: expected a gold label 0-3, got {label!r}")
        fields = {"activity_label": activity_label, "ctx": ctx, "label": label.strip(), "endings": endings}
        docs.append(Doc(fields, f"{name}:{lineno}"))
    return docs


# ---------------------------------------------------------------- Hugging Face


@contextmanager
def _hf_offline() -> Iterator[None]:
    """Force offline mode for one call, even if ``datasets`` was imported before (its flags are
    read at import time); restore the flags afterwards."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets
    import huggingface_hub.constants as hub_constants

    saved = datasets.config.HF_DATASETS_OFFLINE, hub_constants.HF_HUB_OFFLINE
    datasets.config.HF_DATASETS_OFFLINE = hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_DATASETS_OFFLINE, hub_constants.HF_HUB_OFFLINE = saved


def load_hf(source: HFSource) -> list[Doc]:
    """Read a dataset split from the local HF cache only (never the network)."""
    import datasets

    label = f"{source.dataset}" + (f"/{source.name}" if source.name else "") + f" [{source.split}]"
    try:
        with _hf_offline():
            ds = datasets.load_dataset(source.dataset, source.name, split=source.split, revision=source.revision)
    except Exception as err:  # datasets raises many types (ConnectionError, FileNotFoundError, ...)
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"HF dataset {label} is not in the local cache (offline mode): {first_line[:200]}") from err
    return [Doc(dict(row), f"hf:{label}: row {i}") for i, row in enumerate(ds)]


# ---------------------------------------------------------------- procedural


def load_procedural(source: ProceduralSource) -> list[Doc]:
    module = importlib.import_module("agimeter.tasks.procedural")
    generate: Any = module.generate
    try:
        records = generate(source.generator, source.n, source.level, source.seed)
    except KeyError as err:
        raise DataError(f"unknown procedural generator {source.generator!r}") from err
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataError(f"procedural generator {source.generator!r} did not return a list of records")
    where = f"procedural:{source.generator}(level={source.level}, seed={source.seed})"
    return [Doc(dict(r), f"{where}: item {i}") for i, r in enumerate(records)]
