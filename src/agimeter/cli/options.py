"""Options and checks shared by every command (one definition, same help everywhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agimeter.errors import ConfigError

StoreOpt = Annotated[str | None, typer.Option("--store", help="SQLAlchemy URL (default: SQLite in the user data dir).")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML config file (profiles, defaults).")]
ModelArgOpt = Annotated[list[str] | None, typer.Option("--model-arg", help="Backend option KEY=VALUE (repeatable).")]
FormatOpt = Annotated[str, typer.Option("--format", help="table or json.")]


def check_format(value: str, allowed: tuple[str, ...] = ("table", "json")) -> None:
    if value not in allowed:
        raise ConfigError(f"--format must be {' or '.join(allowed)}, not {value!r}")


def parse_model_args(pairs: list[str] | None) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--model-arg expects KEY=VALUE, got {pair!r}")
        parsed[key.strip()] = value.strip()
    return parsed
