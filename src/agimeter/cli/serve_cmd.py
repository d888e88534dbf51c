"""``agimeter serve`` (the web leaderboard and JSON API) and ``agimeter push`` (upload a run to one).

The push token is read from an environment variable, never from the command line, where it
would end up in shell history and in ``ps`` output.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from agimeter.cli.consoles import err_console as console
from agimeter.cli.options import ConfigOpt, MinItemsOpt, NoPinsOpt, StoreOpt
from agimeter.cli.stores import open_store
from agimeter.config import load_file_config, resolve_store_url
from agimeter.errors import ConfigError, PushError

if TYPE_CHECKING:
    import httpx

    from agimeter.records.items import ItemRecord
    from agimeter.records.run import RunRecord

TOKEN_ENV = "AGIMETER_PUSH_TOKEN"


def serve(
    store: StoreOpt = None,
    config: ConfigOpt = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)] = 8000,
    push_token_env: Annotated[
        str, typer.Option("--push-token-env", help="Environment variable holding the upload token.")
    ] = TOKEN_ENV,
    min_items: MinItemsOpt = None,
    no_pins: NoPinsOpt = False,
) -> None:
    """Serve the leaderboard (HTML) and the JSON API (/api/v1, schema at /openapi.json)."""
    import uvicorn

    from agimeter.server import create_app

    file_config = load_file_config(config)
    token = os.environ.get(push_token_env) or None
    app = create_app(
        resolve_store_url(store, file_config),
        push_token=token,
        usd_per_cny=file_config.usd_per_cny,
        min_items=min_items,
        use_pins=not no_pins,
    )
    uploads = f"uploads enabled (token from ${push_token_env})" if token else f"read-only (set ${push_token_env})"
    console.print(f"agimeter leaderboard on http://{host}:{port}/ · {uploads}", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def push(
    run_id: Annotated[str, typer.Argument(help="Run id (or unique prefix) in the local store.")],
    to: Annotated[str, typer.Option("--to", help="Server base URL, e.g. https://leaderboard.example.org")],
    token_env: Annotated[
        str, typer.Option("--token-env", help="Environment variable holding the upload token.")
    ] = TOKEN_ENV,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the server.", min=1)] = 120.0,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Upload one run with its scored items to a server started with agimeter serve."""
    import httpx

    if not to.startswith(("http://", "https://")):
        raise ConfigError(f"--to must be an http:// or https:// URL, not {to!r}")
    token = os.environ.get(token_env)
    if not token:
        raise ConfigError(f"no upload token: set ${token_env} to the server's push token")
    local = open_store(store, config)
    run = local.get_run(run_id)
    items = local.run_items(run.id)
    payload = {"run": run.model_dump(mode="json"), "items": [i.model_dump(mode="json") for i in items]}
    _check_upload(run, items)
    url = to.rstrip("/") + "/api/v1/runs"
    try:
        response = httpx.post(url, json=payload, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
    except httpx.HTTPError as err:
        raise PushError(f"cannot reach {url}: {type(err).__name__}: {err}") from None
    if response.status_code == 201:
        console.print(f"pushed run {run.id} ({len(items)} items) to {to}", highlight=False)
        return
    detail = _detail(response)
    reasons = {
        401: f"the server refused the token in ${token_env}: {detail}",
        403: f"the server does not accept uploads: {detail}",
        409: f"run {run.id} is already on the server",
        413: f"the run is too large for the server: {detail}",
        422: f"the server rejected the run: {detail}",
    }
    raise PushError(reasons.get(response.status_code, f"upload failed: HTTP {response.status_code}: {detail}"))


def _check_upload(run: RunRecord, items: list[ItemRecord]) -> None:
    """The server's own validation, run here first: a run it would refuse is not sent."""
    from pydantic import ValidationError

    from agimeter.errors import first_problem
    from agimeter.server.schemas import UploadBody

    if run.problem is not None:  # the stored row does not validate: the server would refuse it too
        raise PushError(f"run {run.id} cannot be uploaded: run.{run.problem.removeprefix(f'run {run.id}: ')}")
    try:
        # python-mode dumps keep NaN (JSON-mode ones turn it into null), so it is named as such
        UploadBody.model_validate({"run": run.model_dump(), "items": [i.model_dump() for i in items]})
    except ValidationError as err:
        field, message = first_problem(err)
        why = message.removeprefix("Value error, ").removeprefix(f"run {run.id}: ")
        raise PushError(f"run {run.id} cannot be uploaded: {f'{field}: ' if field else ''}{why}") from None


def _detail(response: httpx.Response) -> str:
    """The server's one-line reason, whatever shape the error body has."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip().splitlines()[0][:200] if response.text.strip() else response.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        return f"{'.'.join(str(p) for p in first.get('loc', []))}: {first.get('msg', '')}"
    return str(detail) if detail else response.reason_phrase
