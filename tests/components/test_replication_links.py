"""Every standby database gets a ReplicationLink that `pulumi up` realises, after both ends exist."""

from __future__ import annotations

from conftest import component, descendant
from multidc.contract import DATABASE, DYNAMIC, REPLICATION_LINK_KIND
from multidc.plan.graph import SECRET_MASK


def _link(graph, standby: str):
    links = [n for n in descendant(graph, component(graph, DATABASE, standby), DYNAMIC)
             if n.inputs.get("resource_kind") == REPLICATION_LINK_KIND]
    assert len(links) == 1, f"{standby}: expected one replication link, found {len(links)}"
    return links[0]


def test_each_replicated_kz_prod_database_has_a_link_with_the_mechanism_of_its_engine(graphs):
    graph = graphs["kz-prod"]
    found = {name: (_link(graph, name).inputs["mechanism"], _link(graph, name).inputs["mode"])
             for name in ("core-db-almaty", "cards-db-almaty", "sessions-almaty", "mlflow-db-astana")}
    assert found == {"core-db-almaty": ("logical", "sync"), "cards-db-almaty": ("logical", "sync"),
                     "sessions-almaty": ("replicaof", "async"), "mlflow-db-astana": ("logical", "async")}


def test_a_link_depends_on_the_instances_of_both_ends_and_keeps_passwords_secret(graphs):
    graph = graphs["kz-prod"]
    link = _link(graph, "core-db-almaty")
    instances = {n.urn for site in ("astana", "almaty")
                 for n in descendant(graph, component(graph, DATABASE, f"core-db-{site}"),
                                     "openstack:database/instance:Instance")}
    assert instances and instances <= set(link.dependencies), link.urn
    assert link.inputs["primary_password"] == SECRET_MASK and link.inputs["standby_password"] == SECRET_MASK, link.urn
    assert {"primary_password", "standby_password"} <= set(link.secret_outputs), link.urn
    assert link.inputs["realised_by_pulumi"] is True
    assert "ipsec-vpn interconnect between astana and almaty" in link.inputs["network_path"]


def test_a_primary_database_and_a_single_site_one_have_no_link(graphs):
    graph = graphs["kz-prod"]
    for name in ("core-db-astana", "analytics-astana"):
        dynamic = descendant(graph, component(graph, DATABASE, name), DYNAMIC)
        assert not [n for n in dynamic if n.inputs.get("resource_kind") == REPLICATION_LINK_KIND], name


def test_the_outputs_document_lists_every_replicated_database_link_as_realised_by_pulumi(graphs):
    # What `multidc plan --json` prints under `outputs`, and `pulumi stack output multidc` after `pulumi up`.
    document = graphs["kz-prod"].outputs["multidc"]
    links = {name: (placement["replication_link"]["mechanism"], placement["replication_link"]["realised_by_pulumi"])
             for name, system in document["systems"].items() for placement in system["placements"].values()
             if placement.get("replication_link")}
    assert links == {"core-db": ("logical", True), "cards-db": ("logical", True), "sessions": ("replicaof", True),
                     "mlflow-db": ("logical", True)}
