"""The assessment: each scenario's verdict follows what the graph declares, with its formula."""

from multidc.dr.assessment import assess, human
from multidc.dr.geography import earthquakes, failure_domains

from .graphs import KARAGANDA, graph_for, platform, site

DB = {"name": "db", "kind": "postgres", "tier": "critical", "sites": ["astana", "almaty"],
      "topology": "active-passive", "replication": "sync", "rpo": "0s", "rto": "15m", "size": {"volume_gb": 100},
      "backup": {"schedule": "0 */6 * * *", "immutable_days": 30, "offsite_site": "almaty"}}


def test_fire_in_primary_site_fails_over_to_sync_standby_with_zero_rpo():
    spec = platform([DB], witness=KARAGANDA)
    outcome = assess(spec, graph_for(spec)).outcome("db", "fire:astana")
    assert outcome.survives and outcome.rpo_s == 0 and not outcome.flagged
    assert "synchronous replication" in outcome.rpo_formula
    assert "PROMOTE_S" in outcome.rto_formula and "standby in almaty" in outcome.reason


def test_fire_survival_comes_from_the_graph_not_the_spec():
    spec = platform([{**DB, "backup": None}])
    outcome = assess(spec, graph_for(spec, drop=[("db", "almaty")])).outcome("db", "fire:astana")
    assert not outcome.survives
    assert outcome.rto_s is None and "astana" in outcome.reason


def test_hollow_standby_component_does_not_count_as_a_copy():
    spec = platform([{**DB, "backup": None}])
    result = assess(spec, graph_for(spec, hollow=[("db", "almaty")]))
    assert not result.outcome("db", "fire:astana").survives
    assert any("db-almaty" in note for note in result.notes)


def test_fire_without_standby_restores_from_offsite_backup_and_flags_the_missed_rto():
    spec = platform([DB])
    outcome = assess(spec, graph_for(spec, drop=[("db", "almaty")])).outcome("db", "fire:astana")
    assert outcome.survives and outcome.rpo_s == 6 * 3600
    assert outcome.flagged and not outcome.meets_rpo
    assert "100 GB / RESTORE_MB_S" in outcome.rto_formula


def test_without_witness_detection_is_an_operator_declaration():
    spec = platform([DB])
    result = assess(spec, graph_for(spec))
    assert "OPERATOR_DECLARATION_S" in result.outcome("db", "fire:astana").rto_formula
    assert result.automatic_failover and "no witness" in result.automatic_failover


def test_losing_the_sync_standby_site_blocks_writes_until_sync_is_relaxed():
    spec = platform([DB], witness=KARAGANDA)
    outcome = assess(spec, graph_for(spec)).outcome("db", "fire:almaty")
    assert outcome.survives and outcome.rpo_s == 0
    assert "RELAX_SYNC_S" in outcome.rto_formula and "writes block" in outcome.reason


def test_sites_closer_than_100_km_are_one_failure_domain_in_an_earthquake():
    sites = [site("almaty", 43.2220, 76.8512, "high", role="primary"), site("kaskelen", 43.2, 76.62, "high"),
             site("astana", 51.1694, 71.4491)]
    spec = platform([{**DB, "sites": ["almaty", "kaskelen"], "backup": None}], sites=sites)
    assert frozenset({"almaty", "kaskelen"}) in failure_domains(spec)
    quake = next(q for q in earthquakes(spec) if q.epicentre == "almaty")
    assert quake.lost == {"almaty", "kaskelen"}
    outcome = assess(spec, graph_for(spec)).outcome("db", "earthquake:almaty")
    assert not outcome.survives


def test_earthquake_takes_out_high_zone_sites_on_the_same_fault_system():
    sites = [site("almaty", 43.2220, 76.8512, "high", role="primary"), site("bishkek", 42.8746, 74.5698, "high"),
             site("astana", 51.1694, 71.4491)]
    spec = platform([{**DB, "sites": ["almaty", "bishkek"], "backup": None}], sites=sites)
    quake = next(q for q in earthquakes(spec) if q.epicentre == "almaty")
    assert quake.lost == {"almaty", "bishkek"} and "same high seismic zone" in quake.why


def test_host_failure_survives_in_site_with_anti_affinity_spread():
    web = {"name": "web", "kind": "vm-group", "sites": ["astana"], "rto": "5m", "size": {"count": 3}}
    spec = platform([web])
    graph = graph_for(spec, anti_affinity=[("web", "astana")], zones={("web", "astana"): ["az1", "az1", "az2"]})
    outcome = assess(spec, graph).outcome("web", "hardware:host")
    assert outcome.survives and outcome.rto_s == 30 and "distinct hosts" in outcome.reason


def test_single_instance_host_failure_relies_on_provider_evacuation():
    spec = platform([{**DB, "sites": ["astana"], "topology": "single-site", "replication": None, "backup": None,
                      "rpo": "1d", "rto": "4h"}])
    outcome = assess(spec, graph_for(spec)).outcome("db", "hardware:host")
    assert outcome.survives and outcome.owner == "provider" and "HOST_EVACUATION_S" in outcome.rto_formula


def test_az_loss_with_all_servers_in_one_zone_needs_the_other_site():
    spec = platform([DB], witness=KARAGANDA)
    outcome = assess(spec, graph_for(spec)).outcome("db", "hardware:az")
    assert outcome.survives and "one zone (az1)" in outcome.reason and "standby in almaty" in outcome.reason


def test_az_loss_is_survived_in_site_when_servers_span_two_zones():
    web = {"name": "web", "kind": "vm-group", "sites": ["astana"], "rto": "5m", "size": {"count": 2}}
    spec = platform([web])
    graph = graph_for(spec, zones={("web", "astana"): ["az1", "az2"]})
    outcome = assess(spec, graph).outcome("web", "hardware:az")
    assert outcome.survives and "across zones az1, az2" in outcome.reason


def test_ransomware_is_survived_only_with_a_lock_longer_than_detection():
    spec = platform([DB])
    outcome = assess(spec, graph_for(spec)).outcome("db", "ransomware")
    assert outcome.survives and outcome.rpo_s == 6 * 3600 and "object-locked" in outcome.reason


def test_ransomware_with_short_lock_loses_the_data():
    spec = platform([{**DB, "backup": {**DB["backup"], "immutable_days": 3}}])
    outcome = assess(spec, graph_for(spec)).outcome("db", "ransomware")
    assert not outcome.survives and "less than the 10-day detection window" in outcome.reason


def test_ransomware_reaches_every_replica_of_a_system_without_backup():
    spec = platform([{**DB, "backup": None}])
    outcome = assess(spec, graph_for(spec)).outcome("db", "ransomware")
    assert not outcome.survives and "replication carries the encryption" in outcome.reason


def test_partition_blocks_sync_writes_and_refuses_automatic_failover_without_witness():
    spec = platform([DB])
    outcome = assess(spec, graph_for(spec)).outcome("db", "partition:astana-almaty")
    assert outcome.survives and "writes block" in outcome.reason and "without a witness" in outcome.reason


def test_partition_leaves_an_async_system_serving():
    spec = platform([{**DB, "replication": "async", "rpo": "1m"}], witness=KARAGANDA)
    outcome = assess(spec, graph_for(spec)).outcome("db", "partition:astana-almaty")
    assert outcome.rto_s == 0 and "catch up" in outcome.reason


def test_assessment_json_lists_assumptions_and_flags():
    spec = platform([DB])
    data = assess(spec, graph_for(spec, drop=[("db", "almaty")])).to_json()
    assert data["flagged"] >= 1
    assert any(a["name"] == "RESTORE_MB_S" and a["source"] for a in data["assumptions"])


def test_human_durations():
    assert [human(s) for s in (0, 0.04, 7.3, 45, 60, 6000, 86400, None)] == [
        "0s", "0.04s", "7.3s", "45s", "1m", "1h40m", "1d", "∞"]
