"""The binlog archive end to end, through the production commands: `multidc local up` on a lean stack (a real
mariadbd, a moto S3 vault with COMPLIANCE object lock, the streamer and uploader processes, a base backup), a
writer committing continuously with its commit times recorded, then `multidc restore --to-new` as a
subprocess, and `multidc local down`.

The cut is checked as it is documented (protection/binlog_pitr.py): every row acknowledged before T minus the
reported RPO is in the new server, and no row whose INSERT began at or after T is.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
from pathlib import Path

import boto3
import pymysql
import pytest
from typer.testing import CliRunner

from multidc import project
from multidc.cli import app
from multidc.contract import BINLOG_ARCHIVE_TOOL, OUTPUTS_KEY
from multidc.local.postgres import _pid_alive
from tests.helpers import project_with_stack, run_multidc

STACK = "binlog-lean"
pytestmark = pytest.mark.timeout(600)
UTC = dt.timezone.utc


def _connect(database: dict, **where) -> pymysql.Connection:
    return pymysql.connect(host=where.get("host", database["host"]), port=where.get("port", database["port"]),
                           user=database["user"], password=database["password"], database=database["database"],
                           autocommit=True, connect_timeout=10)


def _write(cursor, rows: list, until: float) -> None:
    """Autocommitted INSERTs until ``until`` (monotonic), each with when it began and when it was acknowledged."""
    while time.monotonic() < until:
        began = time.time()
        cursor.execute("INSERT INTO ledger (id, note) VALUES (%s, %s)", [len(rows), "x" * 64])
        rows.append((len(rows), began, time.time()))
        time.sleep(0.01)


def _next_second() -> None:
    time.sleep(1.05 - (time.time() % 1))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = project_with_stack(tmp_path_factory.mktemp("project"), Path(__file__).with_name(f"Pulumi.{STACK}.yaml"))
    outputs = folder / "out.json"
    run_multidc(folder, "local", "up", "--stack", STACK, "--outputs", str(outputs), timeout=300)
    found: dict = {}
    try:
        document = json.loads(outputs.read_text())[OUTPUTS_KEY]
        catalog = document["systems"]["catalog"]
        found["archive"] = catalog["backup"]["archive"]
        database = catalog["placements"]["onprem"]["database"]

        args = ["restore", "--stack", STACK, "--system", "catalog", "--site", "onprem", "--to-new",
                "catalog-restored", "--outputs", str(outputs), "--yes", "--json"]

        def refused(before: dt.datetime):
            """A refusal, in this process (the same command, without an interpreter start each)."""
            return CliRunner().invoke(app, [*args, "--before", before.isoformat()],
                                      env={project.PROJECT_DIR_ENV: str(folder)})

        rows: list = []
        with _connect(database) as conn, conn.cursor() as cursor:
            cursor.execute("CREATE TABLE ledger (id INT PRIMARY KEY, note VARCHAR(100))")
            # Longer than the largest RPO the cut can report (T's fraction of a second plus the second before).
            _write(cursor, rows, time.monotonic() + 3.0)
            t = dt.datetime.now(UTC)  # mid-second: the cut's one-second resolution is exercised
            _write(cursor, rows, time.monotonic() + 1.5)
        # A quiet TIME: nothing written at or after its second, so the archive cannot hold it yet (exit 1).
        _next_second()
        found["quiet"] = refused(dt.datetime.now(UTC))
        found["future"] = refused(dt.datetime.now(UTC) + dt.timedelta(hours=1))
        found["too_early"] = refused(t - dt.timedelta(hours=1))
        deadline = time.monotonic() + 60  # the archive's lag, with room for a loaded machine
        while True:
            done = run_multidc(folder, *args, "--before", t.isoformat(), expect=None)
            if done.returncode != 1 or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert done.returncode == 0, done.stderr[-3000:]
        report = json.loads(done.stdout)
        server = report["result"]["new_server"]
        with _connect(database, host=server["host"], port=server["port"]) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT id FROM ledger")
            found["restored_ids"] = {row[0] for row in cursor.fetchall()}
        found.update(report=report, rows=rows, t=t, restored_port=server["port"])
        vault, keys = catalog["backup"]["vault"], document["sites"]["cloud"]["s3"]
        s3 = boto3.client("s3", endpoint_url=vault["endpoint"], region_name="us-east-1",
                          aws_access_key_id=keys["access_key"], aws_secret_access_key=keys["secret_key"])
        versions = s3.list_object_versions(Bucket=vault["bucket"], Prefix=found["archive"]["prefix"])["Versions"]
        found["locks"] = {(v["Key"], v["VersionId"]): s3.head_object(
            Bucket=vault["bucket"], Key=v["Key"], VersionId=v["VersionId"]).get("ObjectLockMode") for v in versions}
    finally:
        state = json.loads((folder / ".multidc" / "local" / STACK / "state.json").read_text())
        found["archiver_pids"] = [pid for record in state.get("binlog_archives", []) for pid in record["pids"]]
        found["down"] = run_multidc(folder, "local", "down", "--stack", STACK, timeout=120)
        found["state_left"] = (folder / ".multidc" / "local" / STACK).exists()
    return found


def test_local_up_archives_the_binlog_into_the_locked_vault(run):
    archive = run["archive"]
    assert archive["tool"] == BINLOG_ARCHIVE_TOOL and archive["runs_on"] == "local"
    assert archive["archive_timeout_s"] > 0
    keys = {key for key, _ in run["locks"]}
    assert any("/base/dump-" in key for key in keys) and any("/binlog/" in key for key in keys), keys
    assert set(run["locks"].values()) == {"COMPLIANCE"}, run["locks"]


def test_every_row_acknowledged_before_t_minus_the_rpo_is_restored_and_none_begun_after_t(run):
    report, t = run["report"]["result"], run["t"]
    cut = t.timestamp() - report["rpo_s"]
    before = {row_id for row_id, _, acked in run["rows"] if acked < cut}
    after = {row_id for row_id, began, _ in run["rows"] if began >= t.timestamp()}
    assert before and after, ("the writer wrote on both sides of T - RPO and of T", report)
    assert before - run["restored_ids"] == set(), report
    assert after & run["restored_ids"] == set(), report
    # The binlog's seconds: the last applied commit began in the second before T's, so the RPO is below 2 s.
    assert 0 <= report["rpo_s"] < 2, report


def test_the_report_names_the_base_backup_the_binlog_range_and_the_last_transaction(run):
    result = run["report"]["result"]
    assert result["base_backup"].startswith("mysql-binlog/catalog/base/dump-"), result
    first, last = result["binlog_range"]
    assert first.startswith("binlog.") and last.startswith("binlog."), result
    assert result["last_transaction"] and result["transactions_applied"] > 0, result
    last_time = dt.datetime.fromisoformat(result["last_transaction_time"])
    assert last_time < run["t"] and result["seconds"] > 0, result


def _error(result) -> str:
    return json.loads(result.stdout)["error"]


def test_a_time_the_archive_does_not_hold_yet_is_refused_with_exit_1(run):
    assert run["quiet"].exit_code == 1, run["quiet"].output
    assert "does not yet hold binlog up to" in _error(run["quiet"])


def test_a_time_in_the_future_is_refused_with_exit_2(run):
    assert run["future"].exit_code == 2, run["future"].output
    assert "is in the future" in _error(run["future"])


def test_a_time_before_the_oldest_base_backup_is_exit_2_naming_it(run):
    assert run["too_early"].exit_code == 2, run["too_early"].output
    assert "the oldest is mysql-binlog/catalog/base/dump-" in _error(run["too_early"])


def test_local_down_stops_the_archiver_and_the_restored_server(run):
    assert run["archiver_pids"] and not any(_pid_alive(pid) for pid in run["archiver_pids"])
    assert not run["state_left"]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", run["restored_port"]), timeout=2).close()
