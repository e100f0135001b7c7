"""The archive: real PostgreSQL 18 archiving with barman-cloud into an object-locked vault that checks IAM."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.exceptions import ClientError

from archive_fixtures import IMMUTABLE_DAYS, archived_server, locked_vault  # noqa: F401
from restore_fixtures import graph, planned_outputs  # noqa: F401
from multidc.contract import ARCHIVE_TOOL
from multidc.protection import archive, pitr


def _archived_keys(vault) -> list[tuple[str, str]]:
    listing = vault.client(vault.admin).list_object_versions(Bucket=vault.bucket, Prefix=archive.ARCHIVE_PREFIX)
    return [(v["Key"], v["VersionId"]) for v in listing.get("Versions", [])]


def _refused(call) -> str:
    with pytest.raises(ClientError) as error:
        call()
    return error.value.response["Error"]["Code"]


def test_archive_holds_wal_and_a_base_backup_under_compliance_lock(archived_server, locked_vault):
    keys = [key for key, _ in _archived_keys(locked_vault)]
    assert any("/wals/" in k for k in keys), keys
    assert any(k.endswith("/backup.info") for k in keys), keys
    admin = locked_vault.client(locked_vault.admin)
    for key, version in _archived_keys(locked_vault):
        head = admin.head_object(Bucket=locked_vault.bucket, Key=key, VersionId=version)
        assert head.get("ObjectLockMode") == "COMPLIANCE", key
        assert head["ObjectLockRetainUntilDate"] > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=IMMUTABLE_DAYS - 1)


def test_database_host_keys_cannot_delete_the_archive_nor_change_its_lock(archived_server, locked_vault):
    writer = locked_vault.client(locked_vault.writer)
    key, version = next(kv for kv in _archived_keys(locked_vault) if "/wals/" in kv[0])
    bucket = locked_vault.bucket
    assert _refused(lambda: writer.delete_object(Bucket=bucket, Key=key, VersionId=version)) == "AccessDenied"
    assert _refused(lambda: writer.delete_object(Bucket=bucket, Key=key)) == "AccessDenied"  # no delete marker
    assert _refused(lambda: writer.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})) == "AccessDenied"
    assert _refused(lambda: writer.put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})) == "AccessDenied"
    # The lock itself holds against every key, the admin's too.
    admin = locked_vault.client(locked_vault.admin)
    assert _refused(lambda: admin.delete_object(Bucket=bucket, Key=key, VersionId=version)) == "AccessDenied"
    assert (key, version) in _archived_keys(locked_vault)
    listing = writer.list_objects_v2(Bucket=bucket, Prefix=archive.ARCHIVE_PREFIX)  # still readable: restores use it
    assert any(o["Key"] == key for o in listing["Contents"])


def test_database_host_policy_denies_shortening_retention():
    # moto authorises `PUT ?retention` as s3:PutObject (its ACTION_MAP), so the refusal itself cannot be
    # shown on moto; AWS and Ceph RGW check s3:PutObjectRetention, which this explicit deny covers.
    denied = next(s for s in archive.writer_policy("vault")["Statement"] if s["Effect"] == "Deny")
    assert {"s3:PutObjectRetention", "s3:BypassGovernanceRetention", "s3:DeleteObjectVersion"} <= set(denied["Action"])
    assert "arn:aws:s3:::vault/*" in denied["Resource"]


def _commit(conn, first: int, count: int) -> dict[int, dt.datetime]:
    stamps = {}
    for n in range(first, first + count):
        conn.execute("INSERT INTO ledger VALUES (%s, %s)", (n, f"row {n}"))
        stamps[n] = conn.execute("SELECT pg_xact_commit_timestamp(xmin) FROM ledger WHERE id = %s",
                                 (n,)).fetchone()[0]
    return stamps


def test_recovery_to_a_commit_time_excludes_that_commit_into_a_new_server(archived_server, tmp_path):
    source = archived_server.server
    with source.connect() as conn:
        stamps = _commit(conn, 1, 20)
        conn.execute("UPDATE ledger SET note = 'encrypted'")  # the attack, after the target
    archive.flush_to_archive(source)
    before = stamps[12]
    recovery = pitr.recover(archived_server.target, archived_server.credentials, before, "recovered",
                            password=source.password)
    try:
        assert recovery.server.port != source.port
        with recovery.server.connect() as conn:
            rows = conn.execute("SELECT id, note FROM ledger ORDER BY id").fetchall()
        assert rows == [(n, f"row {n}") for n in range(1, 12)]
        assert recovery.last_transaction == stamps[11]
        assert recovery.stopped_before == stamps[12]
        assert recovery.first_wal and recovery.last_wal and recovery.first_wal <= recovery.last_wal
    finally:
        recovery.server.close()
    with source.connect() as conn:  # the damaged server is left as it was
        assert conn.execute("SELECT count(*) FROM ledger WHERE note = 'encrypted'").fetchone()[0] == 20


def test_a_time_before_the_oldest_base_backup_is_refused(archived_server):
    oldest = archive.list_base_backups(archived_server.target, archived_server.credentials)[0]
    with pytest.raises(pitr.TooEarlyError, match="Pick a later --before") as error:
        pitr.recover(archived_server.target, archived_server.credentials, oldest.begin_time, "too-early",
                     password="unused")
    assert oldest.backup_id in str(error.value)


# --- multidc restore --to-new, on outputs naming this archive ---------------------------------

def _outputs_on_archive(graph, vault, tmp_path):
    from restore_fixtures import deployed_document, write_outputs

    document = deployed_document(graph)
    document["sites"]["almaty"]["s3"] = {"access_key": vault.writer[0], "secret_key": vault.writer[1]}
    backup = document["systems"]["core-db"]["backup"]
    backup["vault"].update(endpoint=vault.s3.endpoint_url, bucket=vault.bucket)
    assert backup["archive"]["tool"] == ARCHIVE_TOOL and backup["archive"]["server_name"] == "core-db"
    return write_outputs(tmp_path, document)


def test_restore_to_new_before_the_oldest_base_backup_is_exit_2_naming_it(archived_server, locked_vault, graph,
                                                                            tmp_path):
    from restore_fixtures import restore

    oldest = archive.list_base_backups(archived_server.target, archived_server.credentials)[0]
    outputs = _outputs_on_archive(graph, locked_vault, tmp_path)
    result = restore(outputs, "core-db", oldest.begin_time, "--site", "astana", "--to-new", "core-db-restored",
                     "--yes")
    assert result.exit_code == 2, result.output
    assert oldest.backup_id in result.output and "Pick a later --before" in result.output


def test_restore_to_a_time_in_the_future_is_refused_before_reading_anything(planned_outputs):
    from restore_fixtures import restore

    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    result = restore(planned_outputs, "core-db", future, "--site", "astana", "--to-new", "core-db-restored", "--yes")
    assert result.exit_code == 2, result.output
    assert "is in the future" in result.output
