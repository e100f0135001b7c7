"""One running policy pack for the session: the real `policies/` program, spoken to over the
analyzer protocol exactly as `multidc plan` and the Pulumi CLI do. Tests that need a
different configuration start their own."""

from __future__ import annotations

from typing import Iterator

import pytest

from multidc.plan.analyzer import PolicyPackProcess, PolicyReport


@pytest.fixture(scope="session")
def pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess() as running:
        yield running


def found(report: PolicyReport) -> set[tuple[str, str]]:
    """Each violation as (policy ID, name of the resource it is on)."""
    return {(v.policy_id, v.urn.rsplit("::", 1)[-1] if v.urn else "(stack)") for v in report.violations}
