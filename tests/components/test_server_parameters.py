"""What a managed database's login cannot set by SQL, declared in its Trove configuration group: the
parameters of logical replication (PostgreSQL) and the password Redis requires."""

from __future__ import annotations

from conftest import component, descendant
from multidc.contract import DATABASE, OUTPUTS_KEY
from multidc.plan.graph import SECRET_MASK

CONFIGURATION = "openstack:database/configuration:Configuration"
TROVE = "openstack:database/instance:Instance"


def _group(graph, placement: str):
    node = component(graph, DATABASE, placement)
    (group,) = descendant(graph, node, CONFIGURATION)
    for instance in descendant(graph, node, TROVE):
        assert instance.inputs["configurationId"] == group.outputs["id"], instance.urn
        assert group.urn in instance.dependencies, instance.urn
    return group


def _settings(group) -> dict[str, str]:
    return {item["name"]: item["value"] for item in group.inputs["configurations"]}


def test_a_sync_logical_primary_names_its_subscriber_and_the_standby_names_none(graphs):
    graph = graphs["kz-prod"]
    assert _settings(_group(graph, "core-db-astana")) == {
        "wal_level": "logical", "synchronous_standby_names": 'FIRST 1 ("multidc_core_db_almaty")'}
    assert _settings(_group(graph, "core-db-almaty")) == {"wal_level": "logical"}


def test_card_data_and_logical_replication_share_one_group(graphs):
    assert _settings(_group(graphs["kz-prod"], "cards-db-astana")) == {
        "ssl": "on", "wal_level": "logical", "synchronous_standby_names": 'FIRST 1 ("multidc_cards_db_almaty")'}


def test_an_async_logical_primary_sets_wal_level_only(graphs):
    assert _settings(_group(graphs["hybrid"], "orders-db-onprem")) == {"wal_level": "logical"}


def test_the_outputs_document_shows_each_placements_parameters(graphs):
    placements = graphs["kz-prod"].outputs[OUTPUTS_KEY]["systems"]["core-db"]["placements"]
    assert placements["astana"]["database"]["parameters"] == {
        "wal_level": "logical", "synchronous_standby_names": 'FIRST 1 ("multidc_core_db_almaty")'}
    # MySQL: GTID replication needs no parameter its login cannot set; its binlog archive does.
    assert graphs["hybrid"].outputs[OUTPUTS_KEY]["systems"]["catalog"]["placements"]["onprem"]["database"][
        "parameters"] == {"binlog_format": "ROW", "binlog_expire_logs_seconds": "172800"}


def test_the_redis_password_is_generated_required_through_the_group_and_exported_as_a_secret(graphs):
    graph = graphs["kz-prod"]
    for site in ("astana", "almaty"):
        group = _group(graph, f"sessions-{site}")
        assert "configurations" in group.secret_inputs and group.outputs["configurations"] == SECRET_MASK, group.urn
        database = graph.outputs[OUTPUTS_KEY]["systems"]["sessions"]["placements"][site]["database"]
        assert database["engine"] == "redis" and database["password"] == SECRET_MASK
    plain = graphs["kz-prod"].outputs[OUTPUTS_KEY]["systems"]["core-db"]["placements"]["astana"]["database"]
    assert plain["password"] == SECRET_MASK  # as the PostgreSQL ones are


def test_an_archived_primary_without_a_standby_sets_wal_level_for_its_archive_host(graphs):
    # backup-only's registry-db has no standby: its only subscriber is the archive host in shymkent.
    assert _settings(_group(graphs["backup-only"], "registry-db-astana")) == {"wal_level": "logical"}
