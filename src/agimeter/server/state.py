"""What every request handler shares: the store, the entry cache and the push token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from agimeter.server.cache import EntryCache
from agimeter.store.repository import Store


@dataclass
class ServerState:
    store: Store
    cache: EntryCache
    push_token: str | None


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.agimeter
    return state


StateDep = Annotated[ServerState, Depends(server_state)]
