"""Shared fixtures: the offline plan of each example stack, computed once per session.

The offline plan sets Pulumi's mocks itself (multidc.plan.capture) before it runs the
program, so no test imports the program with the real engine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from multidc.plan.capture import plan
from multidc.plan.graph import ResourceGraph
from multidc.spec import Platform, load_stack

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_STACKS = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))


class PlannedStacks:
    """Each example stack's spec and planned graph, planned on first use."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[Platform, ResourceGraph]] = {}

    def __call__(self, stack: str) -> tuple[Platform, ResourceGraph]:
        if stack not in self._cache:
            platform = load_stack(stack, ROOT)
            self._cache[stack] = (platform, plan(platform, stack))
        return self._cache[stack]


@pytest.fixture(scope="session")
def planned() -> PlannedStacks:
    return PlannedStacks()


@pytest.fixture(scope="session")
def example_stacks() -> list[str]:
    return EXAMPLE_STACKS
