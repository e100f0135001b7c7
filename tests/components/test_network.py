"""Security groups admit the site and its peers only; the VPN follows the spec's IPsec policy."""

import ipaddress

import pytest

from conftest import STACKS
from multidc.contract import INTERCONNECT

RULE = "openstack:networking/secGroupRule:SecGroupRule"


def peer_cidrs(platform, site):
    peers = {b if a == site else a for a, b in platform.replicating_pairs() if site in (a, b)}
    return {str(platform.site(name).cidr) for name in peers}


@pytest.mark.parametrize("stack", STACKS)
def test_only_https_is_open_to_the_world(graphs, stack):
    for rule in graphs[stack].of_type(RULE):
        if ipaddress.IPv4Network(rule.inputs["remoteIpPrefix"]).prefixlen == 0:
            assert (rule.inputs["portRangeMin"], rule.inputs["portRangeMax"]) == (443, 443), rule.urn


@pytest.mark.parametrize("stack", STACKS)
def test_internal_rules_admit_only_the_site_and_its_peer_sites(graphs, specs, stack):
    platform = specs[stack]
    internal = [rule for rule in graphs[stack].of_type(RULE) if "-internal-" in rule.name]
    assert internal
    for rule in internal:
        allowed = {str(platform.site(rule.site).cidr)} | peer_cidrs(platform, rule.site)
        assert rule.inputs["remoteIpPrefix"] in allowed, rule.urn
        assert rule.inputs["portRangeMin"] == rule.inputs["portRangeMax"], f"{rule.urn} opens a port range"


def test_peer_site_reaches_ssh_but_not_node_metrics(graphs):
    graph = graphs["kz-prod"]
    almaty = "10.20.0.0/16"
    from_peer = {rule.inputs["portRangeMin"] for rule in graph.of_type(RULE)
                 if rule.site == "astana" and rule.inputs["remoteIpPrefix"] == almaty}
    assert 22 in from_peer and 9100 not in from_peer


def test_ipsec_policies_on_both_ends_follow_the_spec(graphs):
    graph = graphs["kz-prod"]  # aes-256, sha256, group14, IKE v2
    ike = graph.of_type("openstack:vpnaas/ikePolicy:IkePolicy")
    ipsec = graph.of_type("openstack:vpnaas/ipSecPolicy:IpSecPolicy")
    assert {node.site for node in ike} == {node.site for node in ipsec} == {"astana", "almaty"}
    for node in ike + ipsec:
        assert node.inputs["encryptionAlgorithm"] == "aes-256", node.urn
        assert node.inputs["authAlgorithm"] == "sha256", node.urn
        assert node.inputs["pfs"] == "group14", node.urn
    assert {node.inputs["ikeVersion"] for node in ike} == {"v2"}


def test_each_site_connects_to_the_peer_routers_external_address(graphs):
    graph = graphs["kz-prod"]
    router_ip = {node.site: node.outputs["externalFixedIps"][0]["ipAddress"]
                 for node in graph.of_type("openstack:networking/router:Router")}
    connections = {node.site: node for node in graph.of_type("openstack:vpnaas/siteConnection:SiteConnection")}
    assert connections["astana"].inputs["peerAddress"] == router_ip["almaty"]
    assert connections["almaty"].inputs["peerAddress"] == router_ip["astana"]


def test_sites_that_exchange_nothing_get_no_vpn(graphs, specs):
    for stack, platform in specs.items():
        vpns = {tuple(node.inputs["sites"]) for node in graphs[stack].components(INTERCONNECT)}
        assert vpns == set(platform.replicating_pairs()), stack
