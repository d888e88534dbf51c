"""What every request handler shares: the store, the entry cache, comparisons and the push token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from agimeter.server.cache import EntryCache
from agimeter.server.compare import CompareService
from agimeter.store.repository import Store


@dataclass
class ServerState:
    store: Store
    cache: EntryCache
    compares: CompareService
    push_token: str | None


async def server_state(request: Request) -> ServerState:
    """An async dependency: it runs on the event loop, never in (or waiting for) the thread pool."""
    state: ServerState = request.app.state.agimeter
    return state


StateDep = Annotated[ServerState, Depends(server_state)]
