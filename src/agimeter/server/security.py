"""Upload protection: a bearer token checked before the body is read, and a cap on body size.

The check runs twice on purpose: as ASGI middleware in front of the upload route, so an
unauthenticated client cannot make the server read (or parse) a large body, and as a FastAPI
dependency on the route itself, which documents the scheme in the OpenAPI schema.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import JSONResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
UPLOAD_PATH = "/api/v1/runs"


def check_bearer(authorization: str | None, token: str | None) -> tuple[int, str] | None:
    """None when the request may write; else (status, one-line reason)."""
    if not token:
        return 403, "uploads disabled: the server was started without a push token"
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return 401, "missing bearer token: send 'Authorization: Bearer <token>'"
    if not secrets.compare_digest(given.strip().encode(), token.encode()):
        return 401, "invalid token"
    return None


def refusal(status: int, detail: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class UploadGuard:
    """ASGI middleware for ``POST /api/v1/runs``: token first, then the body, at most ``max_bytes``."""

    def __init__(self, app: ASGIApp, token: str | None, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
        self.app = app
        self.token = token
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].rstrip("/") != UPLOAD_PATH:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        problem = check_bearer(headers.get("authorization"), self.token)
        if problem is not None:
            await refusal(*problem)(scope, receive, send)
            return
        too_big = refusal(413, f"body larger than {self.max_bytes // (1024 * 1024)} MB")
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await too_big(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await too_big(scope, receive, send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
