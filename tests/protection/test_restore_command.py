"""`multidc restore` against kz-prod's buckets on two real local S3 sites and a real PostgreSQL.

The command reads kz-prod's deployed outputs (restore_fixtures): astana on the moto server
process ``site_a``, almaty on ``site_b``, core-db on a real PostgreSQL. Each test creates the
buckets the plan declares, with the settings the plan declares (versioning, COMPLIANCE lock on
the vault), attacks them for real and runs the command as an operator would, with `--outputs`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from multidc.contract import OUTPUTS_KEY
from multidc.local.postgres import free_port
from multidc.ops.outputs import OutputsError, parse
from multidc.protection import db_backup
from multidc.protection.bucket_restore import (
    Action,
    KeyPlan,
    RestorePlan,
    list_versions,
    write_immutable_copy,
)
from multidc.protection.bucket_command import choose_source
from multidc.protection.locate import LocateError, locate
from restore_fixtures import (  # noqa: F401
    SECRET,
    create_declared,
    deployed_document,
    graph,
    outputs,
    restore,
    sites,
    write_outputs,
)
from s3_fixtures import bucket_digests, fill_bucket, site_a, site_b  # noqa: F401
# The attacks and checks of the library's own tests, so both test the same attack.
from test_bucket_restore import attack_time, ransomware
from test_db_backup import _checksum, _ransomware, _seed, _wait_past

UTC = dt.timezone.utc


def wipe_history(s3, bucket: str, prefix: str = "") -> None:
    """What an attacker holding the live site's keys does next: delete every old version."""
    for version in list_versions(s3, bucket, prefix):
        if not version.is_latest:
            s3.delete_object(Bucket=bucket, Key=version.key, VersionId=version.version_id)


def versions_listing(s3, bucket: str) -> list[tuple[str, str, bool, bool]]:
    return sorted((v.key, v.version_id, v.is_latest, v.is_delete_marker) for v in list_versions(s3, bucket))


def attacked_documents(graph, sites, *, with_vault: bool):
    """kz-prod's documents bucket in astana (and its vault in almaty), written, then attacked."""
    data = locate(parse(deployed_document(graph, sites), "test"), "documents")
    live = data.live_bucket("astana")
    live_s3 = create_declared(graph, sites, live)
    originals = fill_bucket(live_s3, live.bucket, 30, size=3000)
    originals.update(fill_bucket(live_s3, live.bucket, 1, size=6 * 1024 * 1024 + 17, prefix="scans/"))
    vault_s3 = None
    if with_vault:
        vault_s3 = create_declared(graph, sites, data.vault)
        write_immutable_copy(live_s3, live.bucket, vault_s3, data.vault.bucket, immutable_days=1)
    before = attack_time()
    ransomware(live_s3, live.bucket, list(originals))
    assert bucket_digests(live_s3, live.bucket) != originals
    return data, live_s3, vault_s3, originals, before


# --- buckets ---------------------------------------------------------------------------------

def test_restore_from_versions_undoes_ransomware_byte_for_byte(graph, sites, outputs):
    data, live_s3, _, originals, before = attacked_documents(graph, sites, with_vault=False)

    result = restore(outputs, "documents", before, "--site", "astana", "--from", "versions", "--yes")

    assert result.exit_code == 0, result.output
    assert bucket_digests(live_s3, data.live_bucket("astana").bucket) == originals


def test_restore_from_the_vault_after_the_attacker_wiped_the_live_versions(graph, sites, outputs):
    data, live_s3, vault_s3, originals, before = attacked_documents(graph, sites, with_vault=True)
    live = data.live_bucket("astana").bucket
    wipe_history(live_s3, live)
    # The scheduled copy runs after the attack and locks the encrypted objects too.
    write_immutable_copy(live_s3, live, vault_s3, data.vault.bucket, immutable_days=1)

    result = restore(outputs, "documents", before, "--site", "astana", "--from", "vault", "--yes")

    assert result.exit_code == 0, result.output
    assert bucket_digests(live_s3, live) == originals


def test_auto_restores_from_the_vault_when_the_live_history_was_wiped(graph, sites, outputs):
    data, live_s3, _, originals, before = attacked_documents(graph, sites, with_vault=True)
    wipe_history(live_s3, data.live_bucket("astana").bucket)

    result = restore(outputs, "documents", before, "--site", "astana", "--yes", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["source"], report["status"]) == ("vault", "restored")
    assert bucket_digests(live_s3, data.live_bucket("astana").bucket) == originals


def test_auto_restores_from_the_vault_when_some_keys_lost_their_history(graph, sites, outputs):
    data, live_s3, _, originals, before = attacked_documents(graph, sites, with_vault=True)
    wipe_history(live_s3, data.live_bucket("astana").bucket, prefix="obj/0001")

    result = restore(outputs, "documents", before, "--site", "astana", "--yes", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["source"] == "vault" and "10 key(s)" in report["reason"]
    assert bucket_digests(live_s3, data.live_bucket("astana").bucket) == originals


def test_auto_restores_from_versions_when_they_hold_every_key_the_vault_holds(graph, sites, outputs):
    data, live_s3, _, originals, before = attacked_documents(graph, sites, with_vault=True)

    result = restore(outputs, "documents", before, "--site", "astana", "--yes", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["source"] == "versions"
    assert bucket_digests(live_s3, data.live_bucket("astana").bucket) == originals


def test_restore_before_any_copy_refuses_with_exit_1_and_changes_nothing(graph, sites, outputs):
    data, live_s3, _, _, _ = attacked_documents(graph, sites, with_vault=True)
    live = data.live_bucket("astana").bucket
    listing, contents = versions_listing(live_s3, live), bucket_digests(live_s3, live)
    too_early = dt.datetime(2020, 1, 1, tzinfo=UTC)

    result = restore(outputs, "documents", too_early, "--site", "astana", "--yes")

    assert result.exit_code == 1, result.output
    assert "documents" in result.stderr and "2020-01-01T00:00:00+00:00" in result.stderr
    assert "nothing was changed" in result.stderr
    assert (versions_listing(live_s3, live), bucket_digests(live_s3, live)) == (listing, contents)


def test_refusal_from_versions_names_the_oldest_version(graph, sites, outputs):
    data, live_s3, _, _, _ = attacked_documents(graph, sites, with_vault=False)
    oldest = min(v.last_modified for v in list_versions(live_s3, data.live_bucket("astana").bucket))

    result = restore(outputs, "documents", "2020-01-01T00:00:00Z", "--site", "astana", "--from", "versions", "--yes")

    assert result.exit_code == 1
    assert f"oldest version in the live bucket: {oldest.isoformat()}" in result.stderr


def test_dry_run_prints_the_plan_and_changes_nothing(graph, sites, outputs):
    data, live_s3, _, originals, before = attacked_documents(graph, sites, with_vault=False)
    live = data.live_bucket("astana").bucket
    listing, contents = versions_listing(live_s3, live), bucket_digests(live_s3, live)

    result = restore(outputs, "documents", before, "--site", "astana", "--from", "versions", "--dry-run", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # All 31 keys (7 of them deleted by the attacker) are restored; the ransom note is delete-marked.
    assert (report["status"], report["plan"]["restore"], report["plan"]["delete_mark"]) == ("planned", 31, 1)
    assert report["target"] == {"site": "astana", "bucket": live, "endpoint": sites["astana"].endpoint_url}
    assert (versions_listing(live_s3, live), bucket_digests(live_s3, live)) == (listing, contents)


def test_declining_the_confirmation_changes_nothing(graph, sites, outputs):
    data, live_s3, _, _, before = attacked_documents(graph, sites, with_vault=False)
    live = data.live_bucket("astana").bucket
    listing = versions_listing(live_s3, live)

    result = restore(outputs, "documents", before, "--site", "astana", "--from", "versions", input="n\n")

    assert result.exit_code == 1
    assert f"Restore s3://{live} on {sites['astana'].endpoint_url}" in result.stderr
    assert "31 objects to copy" in result.stdout
    assert versions_listing(live_s3, live) == listing


def test_auto_with_a_missing_vault_refuses_naming_it_and_the_way_around(graph, sites, outputs):
    data, live_s3, _, _, before = attacked_documents(graph, sites, with_vault=False)
    listing = versions_listing(live_s3, data.live_bucket("astana").bucket)

    result = restore(outputs, "documents", before, "--site", "astana", "--yes")

    assert result.exit_code == 1
    assert f"s3://{data.vault.bucket} on {sites['almaty'].endpoint_url}" in result.stderr
    assert "--from versions" in result.stderr
    assert versions_listing(live_s3, data.live_bucket("astana").bucket) == listing


def test_restore_never_prints_the_s3_secret_key(graph, sites, outputs):
    _, _, _, _, before = attacked_documents(graph, sites, with_vault=True)
    result = restore(outputs, "documents", before, "--site", "astana", "--yes", "--json")
    assert result.exit_code == 0 and SECRET not in result.output


def test_masked_s3_keys_and_none_in_the_environment_are_an_error_naming_the_variables(graph, sites, tmp_path):
    # Saved without --show-secrets: the keys read "[secret]", which is no key at all.
    masked = write_outputs(tmp_path, deployed_document(graph, sites, keys=False))
    result = restore(masked, "documents", "1h", "--site", "astana", "--dry-run")
    assert result.exit_code == 2
    assert "no S3 keys for site 'astana'" in result.stderr and "MULTIDC_S3_ACCESS_KEY_ASTANA" in result.stderr
    assert "--show-secrets" in result.stderr


def test_masked_s3_keys_are_taken_from_the_site_variables(graph, sites, tmp_path, monkeypatch):
    data, live_s3, _, originals, before = attacked_documents(graph, sites, with_vault=False)
    for name in ("ASTANA", "ALMATY"):
        monkeypatch.setenv(f"MULTIDC_S3_ACCESS_KEY_{name}", f"key-{name.lower()}")
        monkeypatch.setenv(f"MULTIDC_S3_SECRET_KEY_{name}", SECRET)
    masked = write_outputs(tmp_path, deployed_document(graph, sites, keys=False))

    result = restore(masked, "documents", before, "--site", "astana", "--from", "versions", "--yes")

    assert result.exit_code == 0, result.output
    assert bucket_digests(live_s3, data.live_bucket("astana").bucket) == originals


def test_endpoint_option_overrides_the_endpoints_in_the_outputs(graph, sites, tmp_path):
    data, live_s3, _, originals, before = attacked_documents(graph, sites, with_vault=True)
    # The outputs as planned: the provider's endpoints, which this machine cannot reach.
    planned_endpoints = write_outputs(tmp_path, deployed_document(graph))
    overrides = [arg for name, site in sites.items() for arg in ("--endpoint", f"{name}={site.endpoint_url}")]

    result = restore(planned_endpoints, "documents", before, "--site", "astana", "--yes", "--json", *overrides)

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["target"]["endpoint"] == sites["astana"].endpoint_url
    assert bucket_digests(live_s3, data.live_bucket("astana").bucket) == originals


def test_an_unreachable_endpoint_in_the_outputs_is_refused_naming_it_and_the_way_around(
        graph, sites, tmp_path):
    document = deployed_document(graph, sites)
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    document["systems"]["documents"]["placements"]["astana"]["bucket"]["endpoint"] = closed

    result = restore(write_outputs(tmp_path, document), "documents", "1h", "--site", "astana", "--yes")

    assert result.exit_code == 1, result.output
    assert closed in result.stderr and "--endpoint astana=URL" in result.stderr
    assert "nothing was changed" in result.stderr and "Traceback" not in result.output


# --- postgres --------------------------------------------------------------------------------

def backed_up_core_db(graph, sites, pg_server, dbname: str) -> db_backup.BackupRecord:
    """core-db seeded and dumped into its locked vault in almaty, as the backup job does."""
    vault = locate(parse(deployed_document(graph, sites), "test"), "core-db").vault
    vault_s3 = create_declared(graph, sites, vault)
    _seed(pg_server, dbname)
    return db_backup.backup_database(pg_server.dsn_for(dbname), vault.bucket, "core-db", vault_s3,
                                     immutable_days=1)


def core_db_outputs(graph, sites, tmp_path, pg_server, dbname: str) -> Path:
    """The outputs with core-db in astana on the test's server, as a managed database's entry reads."""
    database = {"engine": "postgresql", "host": pg_server.host, "port": pg_server.port, "database": dbname,
                "user": pg_server.user, "password": pg_server.password}
    return write_outputs(tmp_path, deployed_document(graph, sites, database=database), "core-db.json")


def attacked_core_db(graph, sites, pg_server, dbname: str) -> tuple[db_backup.BackupRecord, str, dt.datetime]:
    """core-db backed up, then every row overwritten: the backup, the clean checksum, a time between."""
    record = backed_up_core_db(graph, sites, pg_server, dbname)
    clean = _checksum(pg_server, dbname)
    _wait_past(record.taken_at)
    before = dt.datetime.now(UTC)
    _ransomware(pg_server, dbname)
    assert _checksum(pg_server, dbname) != clean
    return record, clean, before


def test_postgres_restore_into_the_database_the_outputs_name_brings_back_every_row(
        graph, sites, pg_server, fresh_database, tmp_path):
    record, clean, before = attacked_core_db(graph, sites, pg_server, fresh_database)

    result = restore(core_db_outputs(graph, sites, tmp_path, pg_server, fresh_database), "core-db", before,
                     "--site", "astana", "--yes", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["result"]["backup"] == record.key and report["target"]["dbname"] == fresh_database
    assert _checksum(pg_server, fresh_database) == clean


def test_postgres_target_dsn_overrides_the_database_in_the_outputs(
        graph, sites, pg_server, fresh_database, tmp_path):
    _, clean, before = attacked_core_db(graph, sites, pg_server, fresh_database)
    elsewhere = core_db_outputs(graph, sites, tmp_path, pg_server, "no_such_database")

    result = restore(elsewhere, "core-db", before, "--site", "astana", "--yes", "--json",
                     "--target-dsn", pg_server.dsn_for(fresh_database))

    assert result.exit_code == 0, result.output
    assert _checksum(pg_server, fresh_database) == clean


def test_postgres_restore_before_the_first_backup_refuses_and_leaves_the_database(
        graph, sites, pg_server, fresh_database, tmp_path):
    record = backed_up_core_db(graph, sites, pg_server, fresh_database)
    _ransomware(pg_server, fresh_database)
    attacked = _checksum(pg_server, fresh_database)

    result = restore(core_db_outputs(graph, sites, tmp_path, pg_server, fresh_database), "core-db",
                     record.taken_at - dt.timedelta(hours=1), "--site", "astana", "--yes")

    assert result.exit_code == 1
    assert f"the oldest is from {record.taken_at.isoformat()}" in result.stderr
    assert _checksum(pg_server, fresh_database) == attacked


def test_postgres_target_is_named_without_its_password(graph, sites, pg_server, fresh_database, tmp_path):
    record = backed_up_core_db(graph, sites, pg_server, fresh_database)
    _wait_past(record.taken_at)
    result = restore(core_db_outputs(graph, sites, tmp_path, pg_server, fresh_database), "core-db", "0s",
                     "--site", "astana", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"dbname={fresh_database}" in result.stdout
    assert pg_server.password not in result.output


# --- locate and choose_source: pure ----------------------------------------------------------

@pytest.fixture(scope="module")
def planned_document(graph):
    return parse(graph.outputs[OUTPUTS_KEY], "plan")


def test_locate_finds_the_live_bucket_and_the_locked_vault_in_the_outputs(planned_document, graph):
    data = locate(planned_document, "documents")
    live, vault = data.live_bucket("astana"), data.vault
    assert (live.site, vault.site, vault.object_lock_mode) == ("astana", "almaty", "COMPLIANCE")
    assert live.bucket == graph.outputs[OUTPUTS_KEY]["systems"]["documents"]["placements"]["astana"]["bucket"]["bucket"]
    assert live.bucket != vault.bucket
    assert (live.access_key, live.secret_key) == (None, None), "masked keys read as absent"


def test_locate_names_the_known_systems_for_an_unknown_one(planned_document):
    with pytest.raises(OutputsError, match="documents"):
        locate(planned_document, "no-such-system")


def test_locate_names_the_way_around_a_site_without_a_database(planned_document):
    data = locate(planned_document, "core-db")
    assert data.database("astana").port == 5432
    with pytest.raises(LocateError, match="--target-dsn"):
        data.database("kz-west")


def _plan(*keys: tuple[str, Action]) -> RestorePlan:
    return RestorePlan(before=dt.datetime(2026, 1, 1, tzinfo=UTC),
                       keys=tuple(KeyPlan(key, action, "v", hashlib.md5(key.encode()).hexdigest(), 1)
                                  for key, action in keys))


def test_choose_source_prefers_versions_that_cover_the_vault():
    versions = _plan(("a", Action.restore), ("b", Action.keep))
    vault = _plan(("a", Action.restore), ("b", Action.keep), ("note", Action.delete))
    assert choose_source(versions, vault)[0] == "versions"


def test_choose_source_takes_the_vault_when_a_key_lost_its_history():
    versions = _plan(("a", Action.restore), ("b", Action.delete))
    vault = _plan(("a", Action.restore), ("b", Action.restore))
    source, reason = choose_source(versions, vault)
    assert source == "vault" and "'b'" in reason


def test_choose_source_takes_the_vault_when_the_live_bucket_has_nothing_before_t():
    assert choose_source(None, _plan(("a", Action.restore)))[0] == "vault"
