"""The four example stacks planned once per session through the offline plan (Pulumi mocks).

`multidc.plan.capture.plan` runs the real program (`multidc.program.main`) under mocks and
records every registration; the tests read that graph, never the components' own objects.
"""

from __future__ import annotations

from typing import Iterator, Optional

import pytest

from multidc.plan import capture
from multidc.plan.graph import Node, ResourceGraph
from multidc.spec import Platform, load_stack

STACKS = ("kz-prod", "hybrid", "active-active", "backup-only")


class ProviderShapedMocks(capture.PlanMocks):
    """The plan's mocks, with a Magnum cluster's kubeconfig keyed as the provider returns it.

    The OpenStack provider's ``kubeconfig`` is a map whose keys are data (``raw_config``,
    ``host``, ...), which Pulumi does not rename; ``PlanMocks`` answers camelCase keys.
    Remove this class once ``PlanMocks`` answers ``raw_config``.
    """

    def new_resource(self, args):
        resource_id, state = super().new_resource(args)
        config = state.get("kubeconfig")
        if isinstance(config, dict) and "rawConfig" in config:
            state["kubeconfig"] = {"raw_config": config["rawConfig"], "host": config["host"],
                                   "cluster_ca_certificate": config["clusterCaCertificate"],
                                   "client_certificate": config["clientCertificate"],
                                   "client_key": config["clientKey"]}
        return resource_id, state


@pytest.fixture(scope="session")
def plan_platform() -> Iterator:
    """Plan any validated platform; the mocks answer as the real providers do."""
    with pytest.MonkeyPatch.context() as patch:
        if not _answers_raw_config():
            patch.setattr(capture, "PlanMocks", ProviderShapedMocks)
        yield lambda platform, stack=None: capture.plan(platform, stack=stack)


def _answers_raw_config() -> bool:
    class Args:
        typ, name, inputs = "openstack:containerinfra/cluster:Cluster", "probe", {}
    _, state = capture.PlanMocks().new_resource(Args())
    return "raw_config" in state.get("kubeconfig", {})


@pytest.fixture(scope="session")
def specs() -> dict[str, Platform]:
    return {stack: load_stack(stack) for stack in STACKS}


@pytest.fixture(scope="session")
def graphs(plan_platform, specs) -> dict[str, ResourceGraph]:
    return {stack: plan_platform(platform, stack) for stack, platform in specs.items()}


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
