"""The four example stacks, planned once per session through the offline plan (Pulumi mocks).

`multidc.plan.capture.plan` runs the real program (`multidc.program.main`) under mocks and
records every registration; the tests read that graph, never the components' own objects.
"""

from __future__ import annotations

from typing import Optional

import pytest

from multidc.plan.graph import Node, ResourceGraph
from multidc.spec import Platform

STACKS = ("kz-prod", "hybrid", "active-active", "backup-only")


@pytest.fixture(scope="session")
def specs(planned) -> dict[str, Platform]:
    return {stack: planned(stack)[0] for stack in STACKS}


@pytest.fixture(scope="session")
def graphs(planned) -> dict[str, ResourceGraph]:
    """Each stack's graph from the session-wide plan cache (tests/conftest.py)."""
    return {stack: planned(stack)[1] for stack in STACKS}


def component(graph: ResourceGraph, type_: str, name: str) -> Node:
    found = [node for node in graph.components(type_) if node.name == name]
    assert len(found) == 1, f"expected one {type_} named {name!r} in stack {graph.stack}, found {len(found)}"
    return found[0]


def descendant(graph: ResourceGraph, parent: Node, type_: str, name: Optional[str] = None) -> list[Node]:
    """Custom resources of ``type_`` under ``parent`` (optionally with exactly ``name``)."""
    return [node for node in graph.descendants(parent.urn)
            if node.type == type_ and (name is None or node.name == name)]


def pod_containers(cron_job: Node) -> list[dict]:
    """Every container and init container of a CronJob, as its inputs recorded them."""
    pod = cron_job.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]
