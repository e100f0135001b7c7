"""Payment-card databases: a network of their own, encrypted volumes, TLS-only clients."""

from conftest import component, descendant
from multidc.contract import DATABASE

NETWORK = "openstack:networking/network:Network"
SUBNET = "openstack:networking/subnet:Subnet"
TROVE = "openstack:database/instance:Instance"


def network_ids(graph, site, cardholder):
    return {node.outputs["id"] for node in graph.of_type(NETWORK)
            if node.site == site and node.name.endswith("-cardholder-network") == cardholder}


def test_card_database_alone_is_on_the_cardholder_network(graphs):
    graph = graphs["kz-prod"]  # cards-db holds payment-card data; core-db does not
    for site in ("astana", "almaty"):
        cards = descendant(graph, component(graph, DATABASE, f"cards-db-{site}"), TROVE)
        others = [node for node in graph.of_type(TROVE) if node.site == site and node not in cards]
        assert {node.inputs["networks"][0]["uuid"] for node in cards} <= network_ids(graph, site, cardholder=True)
        for node in others:
            assert node.inputs["networks"][0]["uuid"] in network_ids(graph, site, cardholder=False), node.urn


def test_cardholder_subnet_is_the_upper_half_of_the_site_range_and_rides_the_vpn(graphs):
    graph = graphs["kz-prod"]  # astana 10.10.0.0/16
    subnets = {node.name: node for node in graph.of_type(SUBNET) if node.site == "astana"}
    assert subnets["astana-subnet"].inputs["cidr"] == "10.10.0.0/17"
    assert subnets["astana-cardholder-subnet"].inputs["cidr"] == "10.10.128.0/17"
    local = next(node for node in graph.of_type("openstack:vpnaas/endpointGroup:EndpointGroup")
                 if node.name.endswith("-astana-local"))
    assert set(local.inputs["endpoints"]) == {subnets[name].outputs["id"] for name in subnets}


def test_sites_without_card_data_keep_one_network_over_their_whole_range(graphs, specs):
    graph = graphs["hybrid"]
    cidrs = [node.inputs["cidr"] for node in graph.of_type(SUBNET)]
    assert sorted(cidrs) == sorted(str(site.cidr) for site in specs["hybrid"].sites)


def test_card_database_stores_on_an_encrypted_volume_type(graphs):
    graph = graphs["kz-prod"]
    cards = descendant(graph, component(graph, DATABASE, "cards-db-astana"), TROVE)
    core = descendant(graph, component(graph, DATABASE, "core-db-astana"), TROVE)
    assert {node.inputs["volumeType"] for node in cards} == {"encrypted"}
    assert all("volumeType" not in node.inputs for node in core)


def test_card_database_requires_tls_through_its_configuration_group(graphs):
    graph = graphs["kz-prod"]
    placement = component(graph, DATABASE, "cards-db-astana")
    (configuration,) = descendant(graph, placement, "openstack:database/configuration:Configuration")
    assert {"name": "ssl", "value": "on"} in configuration.inputs["configurations"]
    for instance in descendant(graph, placement, TROVE):
        assert instance.inputs["configurationId"] == configuration.outputs["id"], instance.urn
