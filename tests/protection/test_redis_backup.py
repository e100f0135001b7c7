"""Redis RDB snapshots into an object-locked vault, and the newest one before T restored into a new server."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from archive_fixtures import locked_vault  # noqa: F401
from multidc.local.redis import LocalRedis
from multidc.protection import redis_backup


@pytest.fixture(scope="module")
def vault(locked_vault):
    """The locked vault (COMPLIANCE) with the admin's keys: (client, bucket, keys)."""
    return locked_vault.client(locked_vault.admin), locked_vault.bucket, locked_vault.admin


@pytest.fixture(scope="module")
def sessions(vault):
    """A Redis primary with 50 keys snapshotted into the vault, then 10 more written after T."""
    client, bucket, _ = vault
    with LocalRedis("sessions", password="pw") as server:
        redis = server.client()
        for n in range(50):
            redis.set(f"session:{n}", f"user-{n}")
        taken = redis_backup.snapshot(server.host, server.port, server.password, client, bucket)
        while dt.datetime.now(dt.timezone.utc) <= taken.taken_at:  # T after the snapshot's stamp
            time.sleep(0.05)
        t = dt.datetime.now(dt.timezone.utc)
        for n in range(50, 60):
            redis.set(f"session:{n}", f"user-{n}")
        redis.set("session:0", "ENCRYPTED")
        yield taken, t


def test_the_snapshot_is_in_the_vault_under_compliance_lock(vault, sessions):
    client, bucket, _ = vault
    taken, _ = sessions
    head = client.head_object(Bucket=bucket, Key=taken.key)
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ContentLength"] == taken.size
    assert [s.key for s in redis_backup.list_snapshots(client, bucket)] == [taken.key]


def test_restore_before_t_brings_back_the_snapshot_into_a_new_server_and_nothing_after(vault, sessions):
    client, bucket, _ = vault
    taken, t = sessions
    chosen = redis_backup.choose(redis_backup.list_snapshots(client, bucket), t, bucket)
    restored = redis_backup.restore_to_new(client, bucket, chosen, "sessions-restored", "pw")
    try:
        redis = restored.server.client()
        assert restored.keys == 50
        assert redis.get("session:0") == b"user-0" and redis.get("session:49") == b"user-49"
        assert redis.get("session:50") is None
    finally:
        restored.server.close()


def test_a_time_before_the_oldest_snapshot_is_refused_naming_it(vault, sessions):
    client, bucket, _ = vault
    taken, _ = sessions
    with pytest.raises(redis_backup.TooEarlyError, match=taken.key):
        redis_backup.choose(redis_backup.list_snapshots(client, bucket), taken.taken_at, bucket)


@pytest.fixture
def sessions_outputs(tmp_path, planned_outputs, vault, monkeypatch):
    """kz-prod's outputs with sessions backed up by RDB snapshots into the test's vault (the vault's
    site keys in the environment, as an operator passes them)."""
    import copy
    import json

    from multidc.contract import OUTPUTS_KEY

    client, bucket, keys = vault
    document = copy.deepcopy(planned_outputs)
    core = document["systems"]["core-db"]["backup"]
    document["systems"]["sessions"]["backup"] = {
        **core, "mechanism": "redis-rdb", "archive": None, "urn": None,
        "vault": {**core["vault"], "bucket": bucket, "endpoint": client.meta.endpoint_url}}
    document["systems"]["sessions"]["placements"]["astana"]["database"]["password"] = "pw"
    monkeypatch.setenv("MULTIDC_S3_ACCESS_KEY_ALMATY", keys[0])
    monkeypatch.setenv("MULTIDC_S3_SECRET_KEY_ALMATY", keys[1])
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({OUTPUTS_KEY: document}))
    return path


def test_multidc_restore_to_new_starts_a_redis_server_from_the_snapshot_before_t(sessions_outputs, sessions):
    import json

    import redis
    from restore_fixtures import restore

    _, t = sessions
    result = restore(sessions_outputs, "sessions", t, "--site", "astana", "--to-new", "sessions-restored",
                     "--yes", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    server = report["result"]["new_server"]
    client = redis.Redis(host=server["host"], port=server["port"], password="pw", socket_timeout=5)
    try:
        assert report["result"]["keys"] == 50 and client.dbsize() == 50
        assert client.get("session:0") == b"user-0" and client.get("session:50") is None
        assert 0 <= report["result"]["rpo_s"] < 10
    finally:
        client.shutdown(nosave=True)


def test_multidc_restore_of_redis_before_the_oldest_snapshot_is_exit_2_naming_it(sessions_outputs, sessions):
    from restore_fixtures import restore

    taken, _ = sessions
    result = restore(sessions_outputs, "sessions", taken.taken_at - dt.timedelta(hours=1), "--site", "astana",
                     "--to-new", "sessions-restored", "--yes")
    assert result.exit_code == 2, result.output
    assert taken.key in result.output
