"""Listing commands: ``agimeter tasks`` (built-in tasks) and ``agimeter models`` (model aliases)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from agimeter.cli.consoles import console
from agimeter.cli.options import ConfigOpt, FormatOpt, check_format
from agimeter.config import load_file_config, resolve_data_dir


def list_tasks(
    data_dir: Annotated[str | None, typer.Option("--data-dir", help="Benchmark data dir, to count items.")] = None,
    dimension: Annotated[str | None, typer.Option("--dimension", help="Only this dimension.")] = None,
    config: ConfigOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Built-in tasks with dimension, protocol and size."""
    from rich.table import Table

    from agimeter.cli.choices import check_dimension
    from agimeter.tasks.registry import builtin_task_names, resolve_task
    from agimeter.tasks.suites import task_size

    check_format(output)
    check_dimension(dimension)
    file_config = load_file_config(config)
    resolved = resolve_data_dir(data_dir, file_config)
    table = Table(title="built-in tasks", title_justify="left")
    for col in ("task", "dimension", "type", "protocol", "metrics", "items", "version"):
        table.add_column(col)
    rows: list[dict[str, Any]] = []
    for name in builtin_task_names():
        spec = resolve_task(name)
        if dimension and spec.dimension != dimension:
            continue
        protocol = f"{spec.shots}-shot" + (" CoT" if spec.fewshot.chain_of_thought else "")
        protocol += ", chat" if spec.prompt.chat else ""
        size = task_size(spec, resolved)
        rows.append(
            {
                "task": spec.name,
                "dimension": spec.dimension,
                "output_type": spec.output_type,
                "num_fewshot": spec.shots,
                "chat": spec.prompt.chat,
                "metrics": list(spec.metrics),
                "items": size,  # null: the data dir is needed to count them
                "version": spec.version,
            }
        )
        table.add_row(
            spec.name,
            spec.dimension,
            spec.output_type,
            protocol,
            ",".join(spec.metrics),
            f"{size:,}" if size is not None else "needs --data-dir",
            spec.version,
        )
    if output == "json":
        payload = {"data_dir": str(resolved) if resolved else None, "tasks": rows}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    console.print(table)


def models(output: FormatOpt = "table") -> None:
    """Known model aliases (real models installable from PyPI): installed or not, size, params,
    quantization, licence, provenance and pinned sha256."""
    from rich.table import Table

    from agimeter.backends.aliases import describe, load_catalog
    from agimeter.backends.gguf_convert import cache_root

    check_format(output)
    rows = [describe(alias, cache_root() / "gguf") for alias in load_catalog().values()]
    if output == "json":
        sys.stdout.write(json.dumps({"models": [row.model_dump(mode="json") for row in rows]}, indent=2) + "\n")
        return
    table = Table(title="model aliases (use as hf:<alias> or gguf:<alias>)", title_justify="left")
    for col in ("alias", "installed", "GGUF bytes", "params", "quant", "architecture", "licence"):
        table.add_column(col)
    for row in rows:
        installed = "yes" if row.installed else "no"
        if row.parts_total and not row.installed and row.parts_installed:
            installed = f"no ({row.parts_installed}/{row.parts_total} parts)"
        size = "-" if row.gguf_bytes is None else f"{row.gguf_bytes:,}" + ("" if row.gguf_path else " (parts)")
        table.add_row(
            row.alias,
            installed,
            size,
            f"{row.num_parameters / 1e6:.1f}M",
            row.quantization,
            row.architecture,
            row.licence,
        )
    console.print(table)
    for row in rows:
        pinned = f" Pinned sha256 {row.sha256}." if row.sha256 else ""
        provenance = f" {row.provenance}." if row.provenance else ""
        console.print(f"{row.alias}:{provenance}{pinned} Install: {row.pip_install}", highlight=False, soft_wrap=True)
