"""`multidc restore` against kz-prod's buckets on two real local S3 sites and a real PostgreSQL.

The command reads the deployed stack's outputs, as after `pulumi up`: each test writes the
document the program exports (the offline plan's `multidc` output) with every endpoint, the
S3 keys and the database replaced by local ones: astana on the moto server process
``site_a``, almaty on ``site_b``, core-db on a real PostgreSQL. It creates the buckets the
plan declares, with the settings the plan declares (versioning, COMPLIANCE lock on the
vault), attacks them for real and runs the command as an operator would, with `--outputs`.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import urllib.request
from pathlib import Path
from typing import Any, Optional

import pytest
from typer.testing import CliRunner

from multidc.cli import app
from multidc.components.bucket_provider import BucketProvider
from multidc.contract import DYNAMIC, OUTPUTS_KEY
from multidc.ops.outputs import OutputsError, parse
from multidc.protection import db_backup
from multidc.protection.bucket_restore import (
    Action,
    KeyPlan,
    RestorePlan,
    list_versions,
    write_immutable_copy,
)
from multidc.protection.commands import UsageError, choose_source, parse_before, site_credentials
from multidc.protection.locate import BucketLocation, LocateError, locate
from s3_fixtures import bucket_digests, fill_bucket, site_a, site_b  # noqa: F401
# The attacks and checks of the library's own tests, so both test the same attack.
from test_bucket_restore import attack_time, ransomware
from test_db_backup import _checksum, _ransomware, _seed, _wait_past

UTC = dt.timezone.utc
STACK = "kz-prod"
SECRET = "never-print-this-secret-0451"
runner = CliRunner()


# --- the two sites, the deployed document, the buckets it names -------------------------------

@pytest.fixture
def sites(site_a, site_b, monkeypatch) -> dict[str, Any]:  # noqa: F811
    """kz-prod's sites on two moto processes, emptied first; no S3 keys or DSN in the environment."""
    for site in (site_a, site_b):
        request = urllib.request.Request(f"{site.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    for name in ("ASTANA", "ALMATY"):
        monkeypatch.delenv(f"MULTIDC_S3_ACCESS_KEY_{name}", raising=False)
        monkeypatch.delenv(f"MULTIDC_S3_SECRET_KEY_{name}", raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MULTIDC_TARGET_DSN"):
        monkeypatch.delenv(name, raising=False)
    return {"astana": site_a, "almaty": site_b}


@pytest.fixture(scope="module")
def graph(planned):
    return planned(STACK)[1]


def deployed_document(graph, sites, *, keys: bool = True, endpoints: bool = True,
                      database: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The program's outputs document as `pulumi stack output --show-secrets` would give it for
    kz-prod deployed on the local sites: their endpoints and keys, ``database`` as core-db's in astana."""
    document = copy.deepcopy(graph.outputs[OUTPUTS_KEY])
    for name, site in document["sites"].items():
        if keys:
            site["s3"] = {"access_key": f"key-{name}", "secret_key": SECRET}
    for system in document["systems"].values():
        for site, placement in system["placements"].items():
            if placement["bucket"] is not None and endpoints:
                placement["bucket"]["endpoint"] = sites[site].endpoint_url
        if system["backup"] is not None and endpoints:
            system["backup"]["vault"]["endpoint"] = sites[system["backup"]["site"]].endpoint_url
    if database is not None:
        document["systems"]["core-db"]["placements"]["astana"]["database"] = database
    return document


def write_outputs(tmp_path: Path, document: Any, name: str = "outputs.json") -> Path:
    """Saved as `pulumi stack output --json --show-secrets > FILE` saves it: the whole map of outputs."""
    path = tmp_path / name
    path.write_text(json.dumps({OUTPUTS_KEY: document}))
    return path


@pytest.fixture
def outputs(graph, sites, tmp_path) -> Path:
    return write_outputs(tmp_path, deployed_document(graph, sites))


def create_declared(graph, sites, location: BucketLocation) -> Any:
    """Create a bucket exactly as the plan declares it, on the local site; return a client on it."""
    site = sites[location.site]
    declared = [node for node in graph.of_type(DYNAMIC) if node.inputs.get("bucket") == location.bucket]
    assert len(declared) == 1, f"the plan declares {len(declared)} buckets named {location.bucket}"
    props = dict(declared[0].inputs)
    props.update(endpoint=site.endpoint_url, access_key=site.access_key, secret_key=site.secret_key)
    BucketProvider().create(props)
    return site.client()


def restore(outputs: Optional[Path], system, before, *extra: str, input: str | None = None):
    """Run `multidc restore` on kz-prod as an operator would, with `--outputs` unless ``outputs`` is None."""
    moment = before if isinstance(before, str) else before.isoformat()
    args = ["restore", "--stack", STACK, "--system", system, "--before", moment,
            *(["--outputs", str(outputs)] if outputs is not None else []), *extra]
    return runner.invoke(app, args, input=input)


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
    planned_endpoints = write_outputs(tmp_path, deployed_document(graph, sites, endpoints=False))
    overrides = [arg for name, site in sites.items() for arg in ("--endpoint", f"{name}={site.endpoint_url}")]

    result = restore(planned_endpoints, "documents", before, "--site", "astana", "--yes", "--json", *overrides)

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["target"]["endpoint"] == sites["astana"].endpoint_url
    assert bucket_digests(live_s3, data.live_bucket("astana").bucket) == originals


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


def test_postgres_restore_into_the_database_the_outputs_name_brings_back_every_row(
        graph, sites, pg_server, fresh_database, tmp_path):
    record = backed_up_core_db(graph, sites, pg_server, fresh_database)
    clean = _checksum(pg_server, fresh_database)
    _wait_past(record.taken_at)
    before = dt.datetime.now(UTC)
    _ransomware(pg_server, fresh_database)
    assert _checksum(pg_server, fresh_database) != clean

    result = restore(core_db_outputs(graph, sites, tmp_path, pg_server, fresh_database), "core-db", before,
                     "--site", "astana", "--yes", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["result"]["backup"] == record.key and report["target"]["dbname"] == fresh_database
    assert _checksum(pg_server, fresh_database) == clean


def test_postgres_target_dsn_overrides_the_database_in_the_outputs(
        graph, sites, pg_server, fresh_database, tmp_path):
    record = backed_up_core_db(graph, sites, pg_server, fresh_database)
    clean = _checksum(pg_server, fresh_database)
    _wait_past(record.taken_at)
    before = dt.datetime.now(UTC)
    _ransomware(pg_server, fresh_database)
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


# --- inputs ----------------------------------------------------------------------------------

def test_bad_time_is_exit_2_naming_the_input_and_the_formats(outputs):
    result = restore(outputs, "documents", "yesterday-ish", "--site", "astana")
    assert result.exit_code == 2
    assert "'yesterday-ish'" in result.stderr and "ISO 8601" in result.stderr and "2h" in result.stderr


def test_time_without_a_zone_is_refused():
    with pytest.raises(UsageError, match="time zone"):
        parse_before("2026-11-27T08:00:00")


def test_relative_time_counts_back_from_now():
    now = dt.datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert parse_before("2h", now) == dt.datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_iso_time_with_an_offset_is_converted_to_utc():
    assert parse_before("2026-11-27T13:00:00+05:00") == dt.datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_unsupported_kind_says_what_is_supported(outputs):
    result = restore(outputs, "sessions", "1h", "--site", "astana", "--dry-run")
    assert result.exit_code == 2
    assert "redis system" in result.stderr and "bucket and postgres" in result.stderr


def test_site_outside_the_system_is_exit_2_naming_its_sites(outputs):
    result = restore(outputs, "analytics", "1h", "--site", "almaty", "--dry-run")
    assert result.exit_code == 2 and "runs in astana" in result.stderr


def test_no_outputs_and_no_pulumi_cli_is_exit_2_naming_both_ways(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `pulumi` on it
    result = restore(None, "documents", "1h", "--site", "astana", "--dry-run")
    assert result.exit_code == 2, result.output
    assert "--outputs FILE" in result.stderr and "Pulumi CLI" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("change, phrase", [
    (lambda d: d.update(schema="multidc.outputs/v0"), "schema 'multidc.outputs/v0'"),
    (lambda d: d.pop("schema"), "no 'schema' key"),
    (lambda d: d.pop("sites"), "sites: Field required"),
])
def test_outputs_of_the_wrong_schema_are_exit_2_naming_the_problem(graph, sites, tmp_path, change, phrase):
    document = deployed_document(graph, sites)
    change(document)
    result = restore(write_outputs(tmp_path, document), "documents", "1h", "--site", "astana", "--dry-run")
    assert result.exit_code == 2, result.output
    assert phrase in result.stderr and "--outputs" in result.stderr
    assert "Traceback" not in result.output


def test_outputs_that_are_not_json_are_exit_2_naming_the_file(tmp_path):
    broken = tmp_path / "out.json"
    broken.write_text("Current stack outputs (1):\n")
    result = restore(broken, "documents", "1h", "--site", "astana", "--dry-run")
    assert result.exit_code == 2 and f"--outputs {broken}: not JSON" in result.stderr


def test_a_system_not_in_the_outputs_is_exit_2_naming_the_known_systems(graph, sites, tmp_path):
    document = deployed_document(graph, sites)
    del document["systems"]["documents"]
    result = restore(write_outputs(tmp_path, document), "documents", "1h", "--site", "astana", "--dry-run")
    assert result.exit_code == 2, result.output
    assert "--system documents" in result.stderr and "has no such system" in result.stderr
    assert "core-db" in result.stderr and "Traceback" not in result.output


def test_outputs_of_another_stack_are_exit_2_naming_both(outputs):
    result = runner.invoke(app, ["restore", "--stack", "no-such-stack", "--system", "documents",
                                 "--before", "1h", "--site", "astana", "--outputs", str(outputs)])
    assert result.exit_code == 2
    assert "'kz-prod'" in result.stderr and "no-such-stack" in result.stderr


def test_site_keys_come_before_the_aws_pair():
    env = {"MULTIDC_S3_ACCESS_KEY_KZ_WEST": "site", "MULTIDC_S3_SECRET_KEY_KZ_WEST": "site-secret",
           "AWS_ACCESS_KEY_ID": "aws", "AWS_SECRET_ACCESS_KEY": "aws-secret"}
    assert site_credentials("kz-west", env) == ("site", "site-secret")


def test_site_keys_come_before_the_keys_in_the_outputs_and_those_before_the_aws_pair():
    aws = {"AWS_ACCESS_KEY_ID": "aws", "AWS_SECRET_ACCESS_KEY": "aws-secret"}
    site = {"MULTIDC_S3_ACCESS_KEY_ASTANA": "site", "MULTIDC_S3_SECRET_KEY_ASTANA": "site-secret"}
    deployed = ("deployed", "deployed-secret")
    assert site_credentials("astana", {**aws, **site}, deployed) == ("site", "site-secret")
    assert site_credentials("astana", aws, deployed) == deployed


def test_half_a_site_key_pair_is_refused_not_completed_from_the_aws_pair():
    env = {"MULTIDC_S3_ACCESS_KEY_ASTANA": "site", "AWS_ACCESS_KEY_ID": "aws", "AWS_SECRET_ACCESS_KEY": "aws-secret"}
    with pytest.raises(UsageError, match="MULTIDC_S3_SECRET_KEY_ASTANA"):
        site_credentials("astana", env)


def test_half_a_key_pair_in_the_outputs_is_refused_naming_the_keys():
    with pytest.raises(UsageError, match="sites.astana.s3.access_key"):
        site_credentials("astana", {}, ("deployed", None))


# --- locate and choose_source: pure ----------------------------------------------------------

@pytest.fixture(scope="module")
def planned_outputs(graph):
    return parse(graph.outputs[OUTPUTS_KEY], "plan")


def test_locate_finds_the_live_bucket_and_the_locked_vault_in_the_outputs(planned_outputs, graph):
    data = locate(planned_outputs, "documents")
    live, vault = data.live_bucket("astana"), data.vault
    assert (live.site, vault.site, vault.object_lock_mode) == ("astana", "almaty", "COMPLIANCE")
    assert live.bucket == graph.outputs[OUTPUTS_KEY]["systems"]["documents"]["placements"]["astana"]["bucket"]["bucket"]
    assert live.bucket != vault.bucket
    assert (live.access_key, live.secret_key) == (None, None), "masked keys read as absent"


def test_locate_names_the_known_systems_for_an_unknown_one(planned_outputs):
    with pytest.raises(OutputsError, match="documents"):
        locate(planned_outputs, "no-such-system")


def test_locate_names_the_way_around_a_site_without_a_database(planned_outputs):
    data = locate(planned_outputs, "core-db")
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
