"""Every resource is declared through the provider of its own site; nothing on a default provider."""

from typing import Optional

import pytest

from multidc.plan.graph import Node, ResourceGraph

from conftest import STACKS
from multidc.contract import INTERCONNECT

DYNAMIC = "pulumi-python:dynamic:Resource"


def hierarchy_site(graph: ResourceGraph, node: Node) -> Optional[str]:
    """The site a resource belongs to by where it sits: its nearest component with a site;
    under an Interconnect, the site its name is declared for (``<vpn>-<site>-<role>``)."""
    for ancestor in graph.ancestors(node):
        if ancestor.custom:
            continue
        if isinstance(ancestor.inputs.get("site"), str):
            return ancestor.inputs["site"]
        if ancestor.type == INTERCONNECT:
            return next((site for site in ancestor.inputs["sites"]
                         if node.name.startswith(f"{ancestor.name}-{site}-")), None)
    return None


def provider_site(graph: ResourceGraph, node: Node) -> str:
    """The site of the component that declared ``node``'s provider (a Site or a cluster)."""
    provider = graph.by_urn(node.provider)
    owner = graph.by_urn(provider.parent)
    return owner.inputs["site"]


def bound_resources(graph: ResourceGraph) -> list[Node]:
    return [node for node in graph if node.custom and not node.is_provider and node.type != DYNAMIC]


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_is_bound_to_a_provider_of_its_own_site(graphs, stack):
    graph = graphs[stack]
    checked = 0
    for node in bound_resources(graph):
        expected = hierarchy_site(graph, node)
        if expected is None:
            continue
        assert node.provider is not None, f"{node.urn} has no explicit provider"
        assert provider_site(graph, node) == expected, (
            f"{node.urn} belongs to site '{expected}' but is bound to {node.provider}")
        checked += 1
    assert checked > 0


@pytest.mark.parametrize("stack", STACKS)
def test_no_resource_falls_back_to_a_default_provider(graphs, stack):
    for node in bound_resources(graphs[stack]):
        assert node.provider is not None, f"{node.urn} uses the default provider"
        assert not node.provider.rsplit("::", 1)[-1].startswith("default"), f"{node.urn} -> {node.provider}"


@pytest.mark.parametrize("stack", STACKS)
def test_vpn_key_is_generated_by_one_of_the_two_sites_it_joins(graphs, stack):
    graph = graphs[stack]
    for vpn in graph.components(INTERCONNECT):
        keys = [node for node in graph.children(vpn.urn) if node.type == "random:index/randomPassword:RandomPassword"]
        assert len(keys) == 1, f"{vpn.urn} should have one pre-shared key"
        assert provider_site(graph, keys[0]) in vpn.inputs["sites"], keys[0].urn


@pytest.mark.parametrize("stack", STACKS)
def test_every_dynamic_bucket_lives_on_its_own_sites_endpoint(graphs, specs, stack):
    graph, endpoints = graphs[stack], {site.name: site.s3_endpoint for site in specs[stack].sites}
    buckets = [node for node in graph.of_type(DYNAMIC) if "bucket" in node.inputs]  # not replication links
    assert buckets
    for bucket in buckets:
        assert bucket.inputs["endpoint"] == endpoints[hierarchy_site(graph, bucket)], bucket.urn


@pytest.mark.parametrize("stack", STACKS)
def test_each_site_has_its_own_openstack_provider_with_its_own_cloud_profile(graphs, specs, stack):
    graph = graphs[stack]
    providers = {graph.by_urn(node.parent).inputs["site"]: node for node in graph.of_type("pulumi:providers:openstack")}
    for site in specs[stack].sites:
        provider = providers[site.name]
        assert provider.inputs["authUrl"] == site.cloud.auth_url, provider.urn
        assert provider.inputs["region"] == site.cloud.region, provider.urn
        assert provider.inputs["cloud"] == (site.cloud.profile or site.name), provider.urn
        assert not {"password", "token", "applicationCredentialSecret"} & set(provider.inputs), provider.urn
