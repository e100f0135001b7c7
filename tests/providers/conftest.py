"""Real servers for the replication link provider: each test gets its own, closed after it."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from multidc.local.postgres import LocalPostgres

FAST = {"fsync": "off"}


@pytest.fixture
def make_server(request: pytest.FixtureRequest) -> Callable[..., LocalPostgres]:
    def make(name: str, *, start: bool = True, **kwargs: Any) -> LocalPostgres:
        settings = {**FAST, **kwargs.pop("settings", {})}
        server = LocalPostgres(name, settings=settings, **kwargs)
        request.addfinalizer(server.close)
        return server.start() if start else server
    return make
