"""Database backups to S3, GFS retention and restore-before-a-time, on real PostgreSQL and moto S3."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest

from multidc.protection import db_backup as bk
from multidc.protection.postgres import pg_client_tool

UTC = timezone.utc


def _at(month: int, day: int, hour: int = 2) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def _seed(server, dbname: str, rows: int = 500) -> None:
    with server.connect(dbname) as conn:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric, note bytea)")
        conn.execute(
            "INSERT INTO accounts SELECT g, 'owner-' || g, g * 10.5, sha256(g::text::bytea) "
            "FROM generate_series(1, %s) g", [rows]
        )


def _checksum(server, dbname: str) -> str:
    """SHA-256 over every row of the table, in key order: equal means identical contents."""
    with server.connect(dbname) as conn:
        return conn.execute(
            "SELECT encode(sha256(convert_to(string_agg(a::text, E'\\n' ORDER BY id), 'UTF8')), 'hex') "
            "FROM accounts a"
        ).fetchone()[0]


def _ransomware(server, dbname: str) -> None:
    with server.connect(dbname) as conn:
        conn.execute("UPDATE accounts SET owner = 'ENCRYPTED', balance = 0, note = '\\xdeadbeef'")


def _wait_past(moment: datetime) -> None:
    while datetime.now(UTC) <= moment:
        time.sleep(0.05)


# -- keys -----------------------------------------------------------------------------------------------


def test_backup_key_encodes_system_and_utc_time() -> None:
    almaty = timezone(timedelta(hours=5))
    key = bk.backup_key("core-db", datetime(2026, 3, 1, 15, 4, 5, tzinfo=almaty))
    assert key == "db/core-db/20260301T100405Z.dump"
    assert bk.parse_backup_key(key) == ("core-db", datetime(2026, 3, 1, 10, 4, 5, tzinfo=UTC))


def test_backup_key_rejects_a_system_name_with_a_slash() -> None:
    with pytest.raises(ValueError, match="system name 'a/b'"):
        bk.backup_key("a/b", _at(1, 1))


# -- GFS retention (pure) -------------------------------------------------------------------------------


def test_gfs_keeps_seven_dailies_four_weeklies_three_monthlies_of_daily_backups() -> None:
    daily_backups = [_at(1, 1) + timedelta(days=i) for i in range(90)]  # 2026-01-01 .. 2026-03-31
    kept = bk.select_retained(daily_backups, daily=7, weekly=4, monthly=3)
    assert kept == {
        *(_at(3, d) for d in range(25, 32)),  # last 7 days
        _at(3, 29), _at(3, 22), _at(3, 15),   # newest of the previous ISO weeks (Sundays)
        _at(2, 28), _at(1, 31),               # newest of February and January
    }


def test_gfs_keeps_only_the_newest_backup_of_a_day() -> None:
    kept = bk.select_retained([_at(3, 1, 1), _at(3, 1, 13), _at(3, 1, 23)], daily=1, weekly=0, monthly=0)
    assert kept == {_at(3, 1, 23)}


def test_gfs_periods_without_backups_do_not_use_up_the_count() -> None:
    # A three-week outage: the two weekly slots go to the last two weeks that have backups.
    backups = [_at(1, 4), _at(1, 11), _at(2, 8)]
    assert bk.select_retained(backups, daily=0, weekly=2, monthly=0) == {_at(2, 8), _at(1, 11)}


def test_gfs_always_keeps_the_newest_backup() -> None:
    backups = [_at(1, 1) + timedelta(hours=7 * i) for i in range(200)]
    for policy in [(1, 0, 0), (0, 1, 0), (0, 0, 1)]:
        assert max(backups) in bk.select_retained(backups, *policy)


def test_gfs_rejects_a_policy_that_keeps_nothing() -> None:
    with pytest.raises(ValueError, match="keeps no backup"):
        bk.select_retained([_at(1, 1)], daily=0, weekly=0, monthly=0)


def test_gfs_rejects_times_without_timezone() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        bk.select_retained([datetime(2026, 1, 1)], daily=1, weekly=0, monthly=0)


def test_apply_retention_deletes_exactly_what_gfs_does_not_keep(s3_client, bucket) -> None:
    times = [_at(1, 1) + timedelta(days=i) for i in range(40)]
    for moment in times:
        s3_client.put_object(Bucket=bucket, Key=bk.backup_key("core-db", moment), Body=b"x")
    s3_client.put_object(Bucket=bucket, Key=bk.backup_key("other-db", times[0]), Body=b"x")

    deleted = bk.apply_retention(s3_client, bucket, "core-db", daily=3, weekly=2, monthly=2)

    kept = bk.select_retained(times, 3, 2, 2)
    assert sorted(deleted) == sorted(bk.backup_key("core-db", t) for t in times if t not in kept)
    assert {b.taken_at for b in bk.list_backups(s3_client, bucket, "core-db")} == kept
    assert len(bk.list_backups(s3_client, bucket, "other-db")) == 1


# -- backup --------------------------------------------------------------------------------------------


def test_backup_uploads_a_restorable_pg_dump_archive_under_the_system_key(
    pg_server, fresh_database, s3_client, bucket, tmp_path
) -> None:
    _seed(pg_server, fresh_database)
    record = bk.backup_database(pg_server.dsn_for(fresh_database), bucket, "core-db", s3_client)

    assert bk.parse_backup_key(record.key) == ("core-db", record.taken_at)
    assert [b.key for b in bk.list_backups(s3_client, bucket, "core-db")] == [record.key]
    local = tmp_path / "b.dump"
    s3_client.download_file(bucket, record.key, str(local))
    listing = subprocess.run([pg_client_tool("pg_restore"), "--list", str(local)],
                             capture_output=True, text=True, check=True).stdout
    assert "TABLE public accounts" in listing
    assert s3_client.head_object(Bucket=bucket, Key=record.key)["Metadata"]["sha256"] == record.sha256


def test_backup_key_time_is_not_earlier_than_the_dump(pg_server, fresh_database, s3_client, bucket) -> None:
    started = datetime.now(UTC)
    record = bk.backup_database(pg_server.dsn_for(fresh_database), bucket, "core-db", s3_client)
    assert record.taken_at >= started and record.taken_at.microsecond == 0


def test_immutable_backup_is_written_with_compliance_object_lock(
    pg_server, fresh_database, s3_client, locked_bucket
) -> None:
    record = bk.backup_database(pg_server.dsn_for(fresh_database), locked_bucket, "core-db", s3_client,
                                immutable_days=30)
    # HEAD, not GetObjectRetention: moto 5.2's server does not serve ?retention.
    head = s3_client.head_object(Bucket=locked_bucket, Key=record.key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    until = head["ObjectLockRetainUntilDate"]
    assert timedelta(days=29) < until - datetime.now(UTC) <= timedelta(days=30)


def test_immutable_backup_version_cannot_be_deleted(pg_server, fresh_database, s3_client, locked_bucket) -> None:
    from botocore.exceptions import ClientError

    record = bk.backup_database(pg_server.dsn_for(fresh_database), locked_bucket, "core-db", s3_client,
                                immutable_days=1)
    version = s3_client.head_object(Bucket=locked_bucket, Key=record.key)["VersionId"]
    with pytest.raises(ClientError):
        s3_client.delete_object(Bucket=locked_bucket, Key=record.key, VersionId=version)
    assert s3_client.head_object(Bucket=locked_bucket, Key=record.key, VersionId=version)["ContentLength"] > 0


# -- restore ---------------------------------------------------------------------------------------------


def test_restore_before_the_attack_brings_back_every_row_byte_for_byte(
    pg_server, fresh_database, s3_client, bucket
) -> None:
    _seed(pg_server, fresh_database)
    before_attack = _checksum(pg_server, fresh_database)
    record = bk.backup_database(pg_server.dsn_for(fresh_database), bucket, "core-db", s3_client)
    _wait_past(record.taken_at)
    attack_time = datetime.now(UTC)
    _ransomware(pg_server, fresh_database)
    assert _checksum(pg_server, fresh_database) != before_attack

    restored = bk.restore_database_before(pg_server.dsn_for(fresh_database), bucket, "core-db",
                                          attack_time, s3_client)

    assert restored.key == record.key
    assert _checksum(pg_server, fresh_database) == before_attack


def test_the_password_never_reaches_a_command_line_of_pg_dump_or_pg_restore(
    pg_server, fresh_database, s3_client, bucket, monkeypatch
) -> None:
    # Any user of the machine can read a command line (ps, /proc/<pid>/cmdline).
    command_lines: list[str] = []
    real_run = subprocess.run

    def recording_run(command, *args, **kwargs):
        command_lines.append(" ".join(map(str, command)))
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(bk.subprocess, "run", recording_run)
    _seed(pg_server, fresh_database)
    clean = _checksum(pg_server, fresh_database)
    record = bk.backup_database(pg_server.dsn_for(fresh_database), bucket, "core-db", s3_client)
    _wait_past(record.taken_at)
    _ransomware(pg_server, fresh_database)

    bk.restore_database_before(pg_server.dsn_for(fresh_database), bucket, "core-db", datetime.now(UTC), s3_client)

    assert _checksum(pg_server, fresh_database) == clean
    assert [line.split()[0].rsplit("/", 1)[-1] for line in command_lines] == ["pg_dump", "pg_restore", "pg_restore"]
    assert all(pg_server.password not in line for line in command_lines), command_lines


def test_restore_picks_the_newest_backup_strictly_older_than_the_time(
    pg_server, fresh_database, s3_client, bucket
) -> None:
    dsn = pg_server.dsn_for(fresh_database)
    _seed(pg_server, fresh_database)
    first_state = _checksum(pg_server, fresh_database)
    bk.backup_database(dsn, bucket, "core-db", s3_client, taken_at=_at(3, 1, 10))
    _ransomware(pg_server, fresh_database)
    bk.backup_database(dsn, bucket, "core-db", s3_client, taken_at=_at(3, 1, 11))

    # 11:00 exactly is not strictly before 11:00: the 10:00 backup is the one.
    restored = bk.restore_database_before(dsn, bucket, "core-db", _at(3, 1, 11), s3_client)

    assert restored.taken_at == _at(3, 1, 10)
    assert _checksum(pg_server, fresh_database) == first_state


def test_restore_refuses_when_no_backup_is_older_and_changes_nothing(
    pg_server, fresh_database, s3_client, bucket
) -> None:
    dsn = pg_server.dsn_for(fresh_database)
    _seed(pg_server, fresh_database)
    bk.backup_database(dsn, bucket, "core-db", s3_client, taken_at=_at(3, 1, 10))
    _ransomware(pg_server, fresh_database)
    attacked = _checksum(pg_server, fresh_database)

    with pytest.raises(bk.NoBackupBeforeError) as refused:
        bk.restore_database_before(dsn, bucket, "core-db", _at(3, 1, 9), s3_client)

    message = str(refused.value)
    assert "'core-db'" in message and "2026-03-01T09:00:00+00:00" in message
    assert "the oldest is 2026-03-01T10:00:00+00:00" in message
    assert _checksum(pg_server, fresh_database) == attacked


def test_restore_refuses_a_backup_whose_checksum_does_not_match(
    pg_server, fresh_database, s3_client, bucket
) -> None:
    dsn = pg_server.dsn_for(fresh_database)
    _seed(pg_server, fresh_database)
    record = bk.backup_database(dsn, bucket, "core-db", s3_client, taken_at=_at(3, 1, 10))
    s3_client.put_object(Bucket=bucket, Key=record.key, Body=b"tampered",
                         Metadata={"sha256": record.sha256 or ""})
    _ransomware(pg_server, fresh_database)
    attacked = _checksum(pg_server, fresh_database)

    with pytest.raises(bk.BackupError, match="is corrupt"):
        bk.restore_database_before(dsn, bucket, "core-db", _at(3, 2), s3_client)
    assert _checksum(pg_server, fresh_database) == attacked


def test_restore_requires_a_timezone_for_the_time(s3_client, bucket) -> None:
    with pytest.raises(ValueError, match="no timezone"):
        bk.restore_database_before("dbname=x", bucket, "core-db", datetime(2026, 3, 1), s3_client)
