"""One running policy pack for the session: the real `policies/` program, spoken to over the
analyzer protocol exactly as `multidc plan` and the Pulumi CLI do. Tests that need a
different configuration start their own."""

from __future__ import annotations

from typing import Iterator

import pytest

from multidc.plan.analyzer import PolicyPackProcess


@pytest.fixture(scope="session")
def pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess() as running:
        yield running
