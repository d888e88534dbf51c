"""Property-based API tests from the OpenAPI schema (schemathesis): every documented GET answers
without a server error and as documented; the upload route only ever sees a wrong token here.

The schema is loaded at import from an app over an empty in-memory store (the schema does not
depend on data); a fixture then points that app at the session's populated store.
(``schemathesis.pytest.from_fixture`` would be the natural route, but schemathesis 4.32 reads
``request.node._nodeid``, which pytest 9 no longer has.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from agimeter.server import create_app
from agimeter.server.cache import EntryCache
from agimeter.server.compare import CompareService
from agimeter.server.state import ServerState
from agimeter.store.repository import Store

TOKEN = "the-real-token"
APP = create_app("sqlite://", push_token=TOKEN)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def populated(store_url: str) -> Iterator[None]:
    store = Store.open(store_url)
    cache = EntryCache(store)
    APP.state.agimeter = ServerState(store=store, cache=cache, compares=CompareService(store, cache), push_token=TOKEN)
    yield
    store.close()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
    if case.operation.method.upper() == "POST":
        # A wrong token: the route must refuse (401) before it looks at the generated body.
        response = case.call(headers={"Authorization": "Bearer not-the-token"})
        assert response.status_code == 401
        return
    case.call_and_validate()
