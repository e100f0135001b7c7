"""How clients reach kz-prod, as the planned graph declares it: a record set per client-facing
system in each site's zone, pointing where the topology says, with a TTL within the RTO; an
Octavia load balancer with a health monitor per VM group placement, public through a floating
IP, and members that the internet reaches only through it."""

from __future__ import annotations

from multidc.spec.service_names import ttl_for_rto
from multidc.components.loadbalancer import HEALTH_PATH
from multidc.contract import LOAD_BALANCER, OUTPUTS_KEY, SERVICE_NAMES, VM_GROUP
from multidc.spec import DATABASE_KINDS, Kind, Topology

from conftest import component, descendant

RECORD_SET = "openstack:dns/recordSet:RecordSet"
ZONE = "openstack:dns/zone:Zone"


def _address_of(graph, system, site):
    """The address a system's name should carry for ``site``: its load balancer's floating IP or its database."""
    if system.kind is Kind.vm_group:
        return component(graph, LOAD_BALANCER, f"{system.name}-{site}-lb").outputs["floating_ip"]
    return graph.outputs[OUTPUTS_KEY]["systems"][system.name]["placements"][site]["database"]["host"]


def test_ttl_is_a_fifth_of_the_rto_between_30_seconds_and_an_hour():
    assert [ttl_for_rto(s) for s in (60, 900, 14400, 86400)] == [30, 180, 2880, 3600]


def test_kz_prod_names_every_client_facing_system_in_each_sites_zone(graphs, specs):
    graph, platform = graphs["kz-prod"], specs["kz-prod"]
    facing = [s for s in platform.systems if s.kind is Kind.vm_group or s.kind in DATABASE_KINDS]
    assert {s.name for s in facing} == {"core-db", "cards-db", "sessions", "analytics", "web", "mlflow-db"}
    ml = [f"{endpoint}.ml.bank.example.kz." for endpoint in ("jupyterhub", "mlflow", "model-churn-60d")]
    for site in platform.sites:
        names = component(graph, SERVICE_NAMES, f"{site.name}-dns")
        assert [z.inputs["name"] for z in descendant(graph, names, ZONE)] == ["bank.example.kz."]
        records = {r.inputs["name"]: r for r in descendant(graph, names, RECORD_SET)}
        assert set(records) == {f"{s.name}.bank.example.kz." for s in facing} | set(ml), names.urn
        for system in facing:
            record = records[f"{system.name}.bank.example.kz."]
            serving = system.sites if system.topology is Topology.active_active else [system.primary_site]
            assert record.inputs["records"] == [_address_of(graph, system, s) for s in serving], record.urn
            assert record.inputs["ttl"] == ttl_for_rto(system.rto.total_seconds()) <= system.rto.total_seconds()


def test_the_outputs_carry_each_name_and_every_sites_address_for_failover(graphs, specs):
    document = graphs["kz-prod"].outputs[OUTPUTS_KEY]
    [web] = document["systems"]["web"]["service_names"]
    assert (web["name"], web["type"], web["ttl"], web["visibility"]) == ("web.bank.example.kz.", "A", 180, "public")
    assert web["records"] == [web["site_addresses"]["astana"], web["site_addresses"]["almaty"]]
    [core] = document["systems"]["core-db"]["service_names"]
    assert core["visibility"] == "private" and core["records"] == [core["site_addresses"]["astana"]]
    assert core["site_addresses"]["almaty"] == document["systems"]["core-db"]["placements"]["almaty"]["database"]["host"]
    assert document["systems"]["documents"]["service_names"] == []  # buckets are reached through S3
    assert web["endpoint"] is None and core["endpoint"] is None
    lb = document["systems"]["web"]["placements"]["almaty"]["load_balancer"]
    assert lb["address"] == lb["floating_ip"] == web["site_addresses"]["almaty"]


def test_every_vm_group_placement_is_behind_a_monitored_load_balancer(graphs):
    for stack, graph in graphs.items():
        for group in graph.components(VM_GROUP):
            lb = component(graph, LOAD_BALANCER, f"{group.name}-lb")
            members = descendant(graph, lb, "openstack:loadbalancer/member:Member")
            assert len(members) == group.inputs["node_count"], lb.urn
            addresses = {node.outputs["accessIpV4"] for node in descendant(graph, group,
                                                                           "openstack:compute/instance:Instance")}
            assert {m.inputs["address"] for m in members} == addresses, lb.urn
            [monitor] = descendant(graph, lb, "openstack:loadbalancer/monitor:Monitor")
            assert (monitor.inputs["type"], monitor.inputs["urlPath"]) == ("HTTPS", HEALTH_PATH), monitor.urn
            [fip] = descendant(graph, lb, "openstack:networking/floatingIpAssociate:FloatingIpAssociate")
            assert fip.inputs["portId"] == descendant(graph, lb, "openstack:loadbalancer/loadBalancer:LoadBalancer")[
                0].outputs["vipPortId"]


def test_only_the_load_balancer_faces_the_internet(graphs):
    graph = graphs["kz-prod"]
    world = [rule for rule in graph.of_type("openstack:networking/secGroupRule:SecGroupRule")
             if rule.inputs.get("remoteIpPrefix") == "0.0.0.0/0"]
    assert sorted(rule.name for rule in world) == ["web-almaty-lb-vip-https", "web-astana-lb-vip-https"]
    for vm in graph.of_type("openstack:compute/instance:Instance"):
        assert not any(group.endswith("-web") for group in vm.inputs["securityGroups"]), vm.urn
