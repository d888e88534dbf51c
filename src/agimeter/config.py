"""Settings resolved from flags, environment and an optional YAML config file.

Precedence: command-line flag > environment variable > config file > default.
- data dir:  ``--data-dir`` / ``AGIMETER_DATA_DIR`` / ``data_dir:``
- store:     ``--store`` / ``AGIMETER_STORE`` / ``store:`` / ``sqlite:///<user data dir>/agimeter.db``
- config:    ``--config`` / ``AGIMETER_CONFIG`` / ``<user config dir>/config.yaml``
- catalog:   ``--catalog`` / ``AGIMETER_CATALOG`` / ``catalog:`` / ``<data dir>/../catalog/published.json``
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from platformdirs import user_config_dir, user_data_dir
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agimeter.errors import ConfigError, first_problem

APP = "agimeter"


class HardwareProfile(BaseModel):
    """A priced machine: what one hour of it costs and what it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    price_per_hour: float = Field(ge=0)
    description: str = ""
    example: bool = False  # built-in illustrative price, not a quote


class FileConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_dir: str | None = None
    store: str | None = None
    hardware_profile: str | None = None
    profiles: dict[str, HardwareProfile] = Field(default_factory=dict)
    catalog: str | None = None  # published-numbers catalog (published.json)
    usd_per_cny: float | None = Field(default=None, gt=0)  # explicit exchange rate, never assumed
    prices: list[dict[str, Any]] = Field(default_factory=list)  # provider prices, see agimeter.cost.prices
    judge: str | None = None  # the default judge model of judged tasks (a model spec, as --judge)


# Illustrative prices (USD/hour) so that cost is never blank; override in the config file.
BUILTIN_PROFILES: dict[str, HardwareProfile] = {
    "laptop-cpu": HardwareProfile(
        price_per_hour=0.05,
        description="example: a laptop's CPU (amortised hardware + power)",
        example=True,
    ),
    "cloud-cpu-2vcpu": HardwareProfile(
        price_per_hour=0.10, description="example: a 2-vCPU cloud VM, on demand", example=True
    ),
    "cloud-h100": HardwareProfile(
        price_per_hour=2.50, description="example: one NVIDIA H100 80GB, cloud on demand", example=True
    ),
}


def default_store_url() -> str:
    path = Path(user_data_dir(APP)) / "agimeter.db"
    return f"sqlite:///{path}"


def config_path() -> Path:
    env = os.environ.get("AGIMETER_CONFIG")
    return Path(env) if env else Path(user_config_dir(APP)) / "config.yaml"


def load_file_config(path: Path | None = None) -> FileConfig:
    path = path or config_path()
    if not path.exists():
        return FileConfig()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {str(err).splitlines()[0]}") from None
    try:
        return FileConfig.model_validate(raw)
    except ValidationError as err:
        where, message = first_problem(err)
        raise ConfigError(f"{path}: {where}: {message}") from None


def resolve_data_dir(flag: str | None, file_config: FileConfig | None = None) -> Path | None:
    value = flag or os.environ.get("AGIMETER_DATA_DIR") or (file_config.data_dir if file_config else None)
    return Path(value).expanduser() if value else None


def resolve_store_url(flag: str | None, file_config: FileConfig | None = None) -> str:
    return (
        flag or os.environ.get("AGIMETER_STORE") or (file_config.store if file_config else None) or default_store_url()
    )


def resolve_profile(
    name: str | None, price_per_hour: float | None, file_config: FileConfig | None = None
) -> tuple[str, HardwareProfile]:
    """Pick the hardware profile: explicit price > named profile > config default > laptop-cpu."""
    profiles = {**BUILTIN_PROFILES, **(file_config.profiles if file_config else {})}
    chosen = name or (file_config.hardware_profile if file_config else None) or "laptop-cpu"
    if chosen not in profiles:
        raise ConfigError(f"unknown hardware profile {chosen!r}; known: {', '.join(sorted(profiles))}")
    profile = profiles[chosen]
    if price_per_hour is not None:
        if price_per_hour < 0:
            raise ConfigError("--price-per-hour must be >= 0")
        return "custom", HardwareProfile(price_per_hour=price_per_hour, description="--price-per-hour")
    return chosen, profile


def resolve_catalog(flag: str | None, file_config: FileConfig | None, data_dir: Path | None) -> Path | None:
    value = flag or os.environ.get("AGIMETER_CATALOG") or (file_config.catalog if file_config else None)
    if value:
        return Path(value).expanduser()
    if data_dir is not None and (data_dir.parent / "catalog" / "published.json").exists():
        return data_dir.parent / "catalog" / "published.json"
    return None
