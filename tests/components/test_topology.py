"""Placements follow each system's topology: where it runs, in what role, at what size."""

import pytest

from multidc.spec import Kind, Tier, Topology

from conftest import STACKS, component, descendant
from multidc.contract import BACKUP_TARGET, DATABASE, KUBERNETES, ML_PLATFORM, OBJECT_BUCKET, VM_GROUP

COMPONENT_TYPES = {
    Kind.vm_group: VM_GROUP,
    Kind.postgres: DATABASE,
    Kind.mysql: DATABASE,
    Kind.redis: DATABASE,
    Kind.clickhouse: DATABASE,
    Kind.bucket: OBJECT_BUCKET,
    Kind.kubernetes: KUBERNETES,
    Kind.ml_platform: ML_PLATFORM,
}


def expected_role(system, site):
    if system.topology is Topology.active_active:
        return "active"
    return "primary" if site == system.sites[0] else "standby"


@pytest.mark.parametrize("stack", STACKS)
def test_every_critical_system_exists_in_each_site_its_topology_demands(graphs, specs, stack):
    graph = graphs[stack]
    critical = [system for system in specs[stack].systems if system.tier is Tier.critical]
    assert critical
    for system in critical:
        for site in system.sites:
            placement = component(graph, COMPONENT_TYPES[system.kind], f"{system.name}-{site}")
            assert placement.site == site, placement.urn
            assert placement.inputs["role"] == expected_role(system, site), placement.urn
            assert any(node.custom for node in graph.descendants(placement.urn)), f"{placement.urn} declares nothing"
        if system.topology is Topology.backup_only:
            offsite = system.backup.offsite_site
            target = component(graph, BACKUP_TARGET, f"{system.name}-backup-{offsite}")
            assert target.site == offsite, target.urn


def test_warm_standby_cluster_starts_at_a_third_of_the_workers_and_keeps_the_ceiling(graphs):
    graph = graphs["kz-prod"]  # apps: count 6, min 3, max 12, active-passive astana -> almaty
    primary = component(graph, KUBERNETES, "apps-astana")
    standby = component(graph, KUBERNETES, "apps-almaty")
    full = descendant(graph, primary, "openstack:containerinfra/nodeGroup:NodeGroup", "apps-astana-workers")[0]
    warm = descendant(graph, standby, "openstack:containerinfra/nodeGroup:NodeGroup", "apps-almaty-workers")[0]
    assert (full.inputs["nodeCount"], full.inputs["minNodeCount"], full.inputs["maxNodeCount"]) == (6, 3, 12)
    assert (warm.inputs["nodeCount"], warm.inputs["minNodeCount"], warm.inputs["maxNodeCount"]) == (2, 2, 12)
    assert standby.inputs["scale"] == "warm-standby" and primary.inputs["scale"] == "full"


def test_warm_standby_is_never_empty(graphs):
    graph = graphs["kz-prod"]  # ml-k8s: count 3 -> a third is 1
    standby = component(graph, KUBERNETES, "ml-k8s-almaty")
    workers = descendant(graph, standby, "openstack:containerinfra/nodeGroup:NodeGroup", "ml-k8s-almaty-workers")[0]
    assert workers.inputs["nodeCount"] == 1


def test_active_active_clusters_run_full_size_in_every_site(graphs):
    graph = graphs["active-active"]  # api: count 4 in astana and almaty
    for site in ("astana", "almaty"):
        cluster = component(graph, KUBERNETES, f"api-{site}")
        workers = descendant(graph, cluster, "openstack:containerinfra/nodeGroup:NodeGroup", f"api-{site}-workers")[0]
        assert workers.inputs["nodeCount"] == 4, workers.urn
        assert cluster.inputs["role"] == "active", cluster.urn


def test_critical_clusters_get_three_masters_and_others_one(graphs):
    graph = graphs["kz-prod"]
    masters = {node.name: node.inputs["masterCount"] for node in graph.of_type("openstack:containerinfra/cluster:Cluster")}
    assert masters["apps-astana-cluster"] == 3  # critical
    assert masters["ml-k8s-astana-cluster"] == 1  # important


def test_warm_standby_vm_group_runs_a_third_of_the_vms(graphs):
    graph = graphs["hybrid"]  # shop: 4 VMs, active-passive onprem -> cloud
    counts = {site: len(descendant(graph, component(graph, VM_GROUP, f"shop-{site}"),
                                   "openstack:compute/instance:Instance"))
              for site in ("onprem", "cloud")}
    assert counts == {"onprem": 4, "cloud": 2}


def test_vms_are_spread_over_zones_and_kept_apart_on_hosts(graphs):
    graph = graphs["kz-prod"]  # web: 3 VMs in astana, zones ast-az1 and ast-az2
    group = component(graph, VM_GROUP, "web-astana")
    instances = descendant(graph, group, "openstack:compute/instance:Instance")
    assert sorted(node.inputs["availabilityZone"] for node in instances) == ["ast-az1", "ast-az1", "ast-az2"]
    server_group = graph.of_type("openstack:compute/serverGroup:ServerGroup")
    anti_affinity = {node.outputs["id"] for node in server_group if node.inputs["policies"] == "anti-affinity"}
    for instance in instances:
        assert instance.inputs["schedulerHints"][0]["group"] in anti_affinity, instance.urn
        assert instance.inputs["blockDevices"][0]["sourceType"] == "image", instance.urn
        assert instance.inputs["blockDevices"][0]["destinationType"] == "volume", instance.urn


def test_standby_database_is_declared_a_replica_of_the_primary(graphs):
    graph = graphs["kz-prod"]  # core-db: postgres, sync, astana -> almaty
    standby = component(graph, DATABASE, "core-db-almaty")
    primary = component(graph, DATABASE, "core-db-astana")
    assert standby.inputs["replicates_from"] == "core-db-astana"
    assert standby.inputs["replication_mechanism"] == "logical"  # Trove: a managed endpoint, no file access
    assert standby.inputs["replication"] == "sync"
    assert "replicates_from" not in primary.inputs


def test_database_instances_get_flavor_size_datastore_and_the_site_network(graphs, specs):
    graph = graphs["kz-prod"]
    placement = component(graph, DATABASE, "core-db-astana")
    instance = descendant(graph, placement, "openstack:database/instance:Instance")[0]
    network = graph.of_type("openstack:networking/network:Network")
    astana_network = next(node for node in network if node.site == "astana")
    assert instance.inputs["datastore"] == {"type": "postgresql", "version": "16"}
    assert instance.inputs["size"] == 500
    assert instance.inputs["networks"] == [{"uuid": astana_network.outputs["id"]}]


def test_backup_only_system_is_placed_only_in_its_primary(graphs):
    graph = graphs["backup-only"]
    placements = [node.name for node in graph.components(DATABASE)]
    assert placements == ["registry-db-astana"]
