"""``agimeter catalog``: import published numbers into the store, list them, and set a measured
model's scores next to the reported ones with every protocol difference listed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from agimeter.cli.consoles import console
from agimeter.cli.options import ConfigOpt, FormatOpt, MinItemsOpt, StoreOpt, check_format
from agimeter.cli.stores import open_store
from agimeter.config import load_file_config, resolve_catalog, resolve_data_dir
from agimeter.errors import ConfigError
from agimeter.store.repository import Store

catalog_app = typer.Typer(help="Published numbers (sizes, dates, reported scores, prices) with their sources.")

CatalogOpt = Annotated[str | None, typer.Option("--catalog", help="published.json (or AGIMETER_CATALOG).")]
DataDirOpt = Annotated[str | None, typer.Option("--data-dir", help="Benchmark data dir; its ../catalog is used.")]


def _store(store: str | None, config: Path | None) -> Store:
    return open_store(store, config)


@catalog_app.command("import")
def import_(
    path: Annotated[str | None, typer.Argument(help="Catalog file (default: --catalog / the data dir's).")] = None,
    label: Annotated[str, typer.Option("--label", help="Name of this catalog in the store.")] = "published",
    catalog: CatalogOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Import a catalog as *published* results (one transaction; re-importing replaces it)."""
    from agimeter.store.published import load_catalog

    file_config = load_file_config(config)
    found = Path(path) if path else resolve_catalog(catalog, file_config, resolve_data_dir(data_dir, file_config))
    if found is None:
        raise ConfigError("no catalog: give a path, --catalog, AGIMETER_CATALOG or --data-dir next to a catalog/")
    parsed, sha = load_catalog(found)
    db = _store(store, config)
    try:
        record, changed = db.import_catalog(parsed, sha, found.resolve(), label)
    finally:
        db.close()
    verb = "imported" if changed else "already up to date:"
    console.print(
        f"{verb} catalog {label!r} from {found} (sha256 {sha[:12]}): {record.models} models, "
        f"{record.scores} published scores, {record.prices} prices, {record.laws} laws"
    )


@catalog_app.command("list")
def list_(
    family: Annotated[str | None, typer.Option("--family", help="Only this model family.")] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Published models in the store: size, release date, reported benchmarks, source."""
    check_format(output)
    db = _store(store, config)
    try:
        published = db.published()
    finally:
        db.close()
    if not published.imports:
        raise ConfigError("no catalog imported yet: run `agimeter catalog import`")
    models = [(c, m) for c, m in published.models if family is None or m.family.lower() == family.lower()]
    if output == "json":
        payload = {
            "imports": [i.model_dump(mode="json") for i in published.imports],
            "models": [{"catalog": c, **m.model_dump(mode="json")} for c, m in models],
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    table = Table(title="published models (not measured by agimeter)", title_justify="left")
    for col in ("model", "variant", "released", "params B", "benchmarks", "source"):
        table.add_column(col)
    for c, m in models:
        released = m.released.isoformat() if m.released else (m.released_approx or "-")
        params = f"{m.params_total_b:g}" if m.params_total_b else "-"
        table.add_row(
            m.id, m.variant, released, params, ", ".join(s.benchmark for s in m.scores), published.cite(c, m.source).key
        )
    console.print(table)
    for i in published.imports:
        console.print(
            f"catalog {i.catalog!r}: {i.path} (sha256 {i.sha256[:12]}, imported {i.imported_at:%Y-%m-%d %H:%M})"
        )


@catalog_app.command("compare")
def compare(
    runs: Annotated[list[str] | None, typer.Argument(help="Run ids (default: every finished run).")] = None,
    min_items: MinItemsOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Measured scores next to the published ones for the same checkpoint, with protocol differences."""
    from agimeter.analysis.entries import default_policy, load_entries
    from agimeter.analysis.side_by_side import side_by_side

    check_format(output)
    db = _store(store, config)
    try:
        chosen = [db.get_run(r) for r in runs] if runs else None
        entries, _ = load_entries(db, chosen, policy=default_policy(db, min_items))
    finally:
        db.close()
    measured = [e for e in entries if e.provenance == "measured"]
    published = [e for e in entries if e.provenance == "published"]
    pairs = [(m, side_by_side(m, published)) for m in measured]
    if output == "json":
        payload = [{"model": m.model, "rows": [r.model_dump(mode="json") for r in rows]} for m, rows in pairs]
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    shown = 0
    for m, rows in pairs:
        if not rows:
            continue
        shown += 1
        table = Table(title=f"{m.model}: measured vs published", title_justify="left", show_lines=True)
        for col in ("benchmark", "measured (95% CI)", "run, n", "published", "diff", "protocol differences"):
            table.add_column(col, overflow="fold")
        for r in rows:
            ci = f" [{r.measured.ci_low:.1f}, {r.measured.ci_high:.1f}]" if r.measured.ci_low is not None else ""
            status = "" if r.measured.status == "ok" else f"\n{r.measured.status}"
            table.add_row(
                f"{r.benchmark} ({r.measured.name})",
                f"{r.measured.value:.1f}{ci}",
                f"{r.measured.run_id}, n={r.measured.n}{status}",
                f"{r.published.value:.1f}\n{r.published.source[:60]}",
                f"{r.difference:+.1f}"
                + ("" if r.within_ci is None else (" (in CI)" if r.within_ci else " (outside CI)")),
                "\n".join(r.protocol_differences),
            )
        console.print(table)
    if not shown:
        console.print("no measured model has published scores on the same benchmarks (import a catalog first?)")
