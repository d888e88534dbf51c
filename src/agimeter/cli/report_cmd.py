"""``agimeter report``: one self-contained HTML report (or a markdown summary) of the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agimeter.cli.consoles import err_console
from agimeter.cli.options import ConfigOpt, MinItemsOpt, NoPinsOpt, StoreOpt, UsdPerCnyOpt, check_format
from agimeter.config import load_file_config, resolve_catalog, resolve_data_dir, resolve_store_url
from agimeter.errors import ConfigError


def report(
    runs: Annotated[
        list[str] | None, typer.Argument(help="Run ids or unique prefixes (default: every finished run).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file.")] = Path("report.html"),
    output: Annotated[str, typer.Option("--format", help="html (self-contained, with plots) or md.")] = "html",
    catalog: Annotated[
        str | None,
        typer.Option(
            "--catalog",
            help="published.json to read (not written to the store); default when none is imported: "
            "AGIMETER_CATALOG or the data dir's ../catalog.",
        ),
    ] = None,
    no_published: Annotated[
        bool, typer.Option("--no-published", help="Measured runs only: no published numbers.")
    ] = False,
    usd_per_cny: UsdPerCnyOpt = None,
    min_items: MinItemsOpt = None,
    no_pins: NoPinsOpt = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Report: capability by dimension, cost, Pareto frontier, density trend, latency, protocols.

    Each task's number comes from the run with the most items under the task's own protocol
    (or the run pinned with `agimeter pin`); RUN ids limit the runs it is chosen from."""
    from agimeter.analysis.entries import default_policy
    from agimeter.analysis.selection import SelectionPolicy
    from agimeter.report import write_report
    from agimeter.report.data import gather, merge_published
    from agimeter.store.published import load_catalog
    from agimeter.store.published_repo import PublishedSet
    from agimeter.store.repository import Store

    check_format(output, ("html", "md"))
    if no_published and catalog:
        raise ConfigError("--catalog and --no-published contradict each other")
    file_config = load_file_config(config)
    rate = usd_per_cny if usd_per_cny is not None else file_config.usd_per_cny
    url = resolve_store_url(store, file_config)
    db = Store.open(url)
    try:
        chosen = [db.get_run(r) for r in runs] if runs else [r for r in db.list_runs() if r.status == "finished"]
        if no_published:
            published = PublishedSet(imports=[], models=[], prices=[], laws=[], citations={})
        else:
            published = db.published()
            # an explicit --catalog; else, when nothing is imported, AGIMETER_CATALOG / the data dir's
            path = resolve_catalog(catalog, file_config, resolve_data_dir(None, file_config))
            if not catalog and published.imports:
                path = None
            if path is not None:
                parsed, sha = load_catalog(path)
                if sha not in {i.sha256 for i in published.imports}:
                    extra = PublishedSet.from_catalog(parsed, sha, path.resolve(), f"{path.name} (read, not imported)")
                    published = merge_published(published, extra)
        policy = SelectionPolicy(min_items=min_items) if no_pins else default_policy(db, min_items)
        data = gather(
            db, chosen, published, store_url=url, usd_per_cny=rate, model_cards=not no_published, policy=policy
        )
    finally:
        db.close()
    size = write_report(data, out, "md" if output == "md" else "html")
    err_console.print(
        f"wrote {out} ({size:,} bytes): {len(data.measured)} measured and {len(data.published)} published entries",
        highlight=False,
        soft_wrap=True,
    )
