"""The leaderboard web app: server-rendered pages and a JSON API over one store.

Read-only unless the server is started with a push token; uploads (``agimeter push``) are then
accepted from clients that present it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from agimeter.server import api, pages
from agimeter.server.admission import MAX_IN_FLIGHT, Admission
from agimeter.server.cache import EntryCache
from agimeter.server.compare import CompareLimits, CompareService
from agimeter.server.security import MAX_UPLOAD_BYTES, UploadGuard
from agimeter.server.state import ServerState
from agimeter.store.repository import Store

API_PREFIX = "/api/"
log = logging.getLogger(__name__)


def create_app(
    store_url: str,
    *,
    push_token: str | None = None,
    usd_per_cny: float | None = None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    max_in_flight: int = MAX_IN_FLIGHT,
    compare_limits: CompareLimits | None = None,
    min_items: int | None = None,
    use_pins: bool = True,
) -> FastAPI:
    """The app over the store at ``store_url``; uploads only when ``push_token`` is given.

    Work is bounded for anonymous clients: at most ``max_in_flight`` requests in progress (503
    with Retry-After beyond), and comparisons cached and computed a few at a time (see
    ``server.compare``). Entries are computed at start-up, so health has its counts at once.
    Which run stands for each task follows ``analysis.selection`` (``min_items``: one minimum for
    every task instead of the per-task default; ``use_pins``: honour ``agimeter pin``)."""
    store = Store.open(store_url)
    cache = EntryCache(store, usd_per_cny, min_items=min_items, use_pins=use_pins)

    @asynccontextmanager
    async def warm_up(_: FastAPI) -> AsyncIterator[None]:
        try:
            await anyio.to_thread.run_sync(cache.snapshot)
        except Exception as err:  # the first request that needs entries will say what is wrong
            log.warning("entries not computed at start-up: %s: %s", type(err).__name__, err)
        yield

    app = FastAPI(
        title="agimeter leaderboard",
        version="1",
        description="Measured and published LLM results: capability per dimension, cost and latency.",
        docs_url=None,  # Swagger UI would load its scripts from a CDN
        redoc_url=None,
        lifespan=warm_up,
    )
    app.state.agimeter = ServerState(
        store=store, cache=cache, compares=CompareService(store, cache, compare_limits), push_token=push_token or None
    )
    app.include_router(api.router)
    app.include_router(pages.router)
    app.add_middleware(UploadGuard, token=push_token or None, max_bytes=max_upload_bytes)
    app.add_middleware(Admission, max_in_flight=max_in_flight)  # outermost: refuses before anything else

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette lists only the first matching route's methods
            headers["Allow"] = ", ".join(_allowed_methods(app, request))
        if request.url.path.startswith(API_PREFIX) or request.url.path == "/openapi.json":
            return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=headers)
        page = pages.error_page(request, exc.status_code, str(exc.detail))
        page.headers.update(headers)
        return page

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith(API_PREFIX):
            # FastAPI's shape without each error's "input": an upload's input can hold NaN (which is
            # why it is refused, and which JSON cannot carry) and runs to megabytes
            errors = [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
            return JSONResponse({"detail": errors}, status_code=422)
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return pages.error_page(request, 422, f"invalid request: {problems}")

    return app


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    methods: set[str] = set()
    for route in app.routes:
        if isinstance(route, Route) and route.methods and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods
    return sorted(methods)
