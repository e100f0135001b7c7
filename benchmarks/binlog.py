"""The MariaDB binlog archive on this machine: base backup and point-in-time restore times, the archive's lag,
and mariadb-backup against the dump on the same data.

    PYTHONPATH=. .venv/bin/python benchmarks/binlog.py [--rows 200000] [--lag-samples 10]

One local mariadbd (Debian's), one moto S3 vault with COMPLIANCE object lock, the archive's own programs
(multidc.local.binlog: streamer, uploader, base backup). Prints:

  base backup    mariadb-dump --single-transaction --master-data=2 --gtid | gzip, uploaded with rclone
  mariadb-backup --backup --stream=mbstream | gzip (the data directory read on this host, as the server's
                 user) and, for its restore, --prepare: what a self-managed server could use instead
  restore        binlog_pitr.recover into a new server: newest dump, the binlog after it, to a TIME
  archive lag    a committed row until the vault holds the piece with its event (--lag-samples of them)

Figures are for this machine (shared, 2 cores) and moto; they compare the paths, they do not predict a
production endpoint.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from multidc.contract import BINLOG_ARCHIVE_PREFIX, BINLOG_LOG_DIR  # noqa: E402
from multidc.local import binlog  # noqa: E402
from multidc.local.mariadb import LocalMariaDB  # noqa: E402
from multidc.local.postgres import as_server_user  # noqa: E402
from multidc.local.s3 import LocalS3  # noqa: E402
from multidc.protection import binlog_archive, binlog_pitr  # noqa: E402

BUCKET = "binlog-bench-vault"


def _fill(server: LocalMariaDB, rows: int) -> None:
    with server.connect() as conn, conn.cursor() as cursor:
        cursor.execute("CREATE DATABASE catalog")
        cursor.execute("CREATE TABLE catalog.items (id INT PRIMARY KEY, name VARCHAR(64), body TEXT)")
        batch = 2000
        for start in range(0, rows, batch):
            cursor.executemany("INSERT INTO catalog.items VALUES (%s, %s, %s)",
                               [(n, f"item-{n}", "x" * 80) for n in range(start, min(rows, start + batch))])


def _size_mb(server: LocalMariaDB) -> float:
    with server.connect() as conn, conn.cursor() as cursor:
        cursor.execute("ANALYZE TABLE catalog.items")
        cursor.fetchall()
        cursor.execute("SELECT SUM(data_length + index_length) FROM information_schema.tables "
                       "WHERE table_schema = 'catalog'")
        return float(cursor.fetchone()[0]) / 1e6


def _mariadb_backup(server: LocalMariaDB) -> tuple[float, float, int] | None:
    """(backup s, prepare s, compressed bytes), or None without mariadb-backup."""
    if shutil.which("mariadb-backup") is None:
        return None
    folder = Path(tempfile.mkdtemp(prefix="multidc-mbackup-"))
    os.chmod(folder, 0o777)
    try:
        started = time.monotonic()
        stream = folder / "backup.mbstream.gz"
        done = subprocess.run(as_server_user(["sh", "-c", (
            f"mariadb-backup --backup --stream=mbstream --datadir={server.data_dir} --socket={server.socket} "
            f"--user=admin --password=\"$PW\" --target-dir={folder} | gzip > {stream}")]),
            env={**os.environ, "PW": server.password}, capture_output=True, text=True, cwd="/")
        backup_s = time.monotonic() - started
        if done.returncode != 0 or not stream.exists():
            print(f"mariadb-backup failed: {done.stderr[-500:]}")
            return None
        target = folder / "restore"
        target.mkdir()
        started = time.monotonic()
        subprocess.run(["sh", "-c", f"gunzip -c {stream} | mbstream -x -C {target}"], check=True)
        subprocess.run(["mariadb-backup", "--prepare", f"--target-dir={target}"], check=True, capture_output=True)
        return backup_s, time.monotonic() - started, stream.stat().st_size
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _lag(server: LocalMariaDB, s3, samples: int) -> list[float]:
    lags = []
    root = f"{BINLOG_ARCHIVE_PREFIX}/catalog/{BINLOG_LOG_DIR}/"
    for n in range(samples):
        with server.connect() as conn, conn.cursor() as cursor:
            cursor.execute("INSERT INTO catalog.items VALUES (%s, 'lag', '')", [10_000_000 + n])
            committed = time.monotonic()
            cursor.execute("SHOW MASTER STATUS")
            file, position = cursor.fetchone()[:2]
        while True:
            pieces = s3.list_objects_v2(Bucket=BUCKET, Prefix=root).get("Contents", [])
            ends = [int(p["Key"].rsplit("/", 1)[1]) + p["Size"] for p in pieces if f"/{file}/" in p["Key"]]
            if ends and max(ends) >= position:
                lags.append(time.monotonic() - committed)
                break
            time.sleep(0.05)
        time.sleep(1.3)  # spread the commits over the uploader's rounds
    return lags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--lag-samples", type=int, default=10)
    options = parser.parse_args()
    with LocalS3(name="binlog-bench") as vault, LocalMariaDB("binlog-bench") as server:
        s3 = vault.client()
        s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        _fill(server, options.rows)
        print(f"data: {options.rows} rows, {_size_mb(server):.1f} MB in InnoDB")
        planned = {"systems": {"catalog": {"kind": "mysql", "backup": {
            "site": "vault", "immutable_days": 1, "object_lock_mode": "COMPLIANCE", "vault": {"bucket": BUCKET},
            "archive": {"prefix": BINLOG_ARCHIVE_PREFIX, "server_name": "catalog"}}}}}
        engines = [{"system": "catalog", "engine": "mysql", "port": server.port, "admin_user": server.user,
                    "password": server.password}]
        started = time.monotonic()
        records = binlog.start(planned, engines, {"vault": vault.endpoint_url}, Path(tempfile.mkdtemp()))
        print(f"archiver started and base backup taken (dump | gzip, rclone upload): {time.monotonic() - started:.1f} s")
        try:
            dump = s3.head_object(Bucket=BUCKET, Key=records[0]["base_backup"])
            print(f"  base backup size: {dump['ContentLength'] / 1e6:.1f} MB gzip, lock {dump.get('ObjectLockMode')}")
            measured = _mariadb_backup(server)
            if measured is None:
                print("mariadb-backup: not installed (apt-get install mariadb-backup) or failed")
            else:
                print(f"mariadb-backup --backup --stream | gzip: {measured[0]:.1f} s, {measured[2] / 1e6:.1f} MB; "
                      f"its restore's extract + --prepare: {measured[1]:.1f} s (needs the data directory: not on Trove)")
            lags = _lag(server, s3, options.lag_samples)
            print(f"archive lag over {len(lags)} commits: median {statistics.median(lags):.1f} s, "
                  f"worst {max(lags):.1f} s (bound {binlog_archive.lag_bound_s()} s)")
            before = dt.datetime.now(dt.timezone.utc)
            time.sleep(1.1)
            with server.connect() as conn, conn.cursor() as cursor:
                cursor.execute("INSERT INTO catalog.items VALUES (99999999, 'after', '')")
            time.sleep(binlog_archive.lag_bound_s())
            recovery = binlog_pitr.recover(s3, BUCKET, f"{BINLOG_ARCHIVE_PREFIX}/catalog", before, "binlog-bench-restored",
                                           login={"database": "catalog", "user": "catalog", "password": "bench"})
            try:
                print(f"point-in-time restore into a new server: {recovery.seconds:.1f} s "
                      f"({recovery.applied.transactions} binlog transactions applied after the dump)")
            finally:
                recovery.server.close()
        finally:
            binlog.stop(records)


if __name__ == "__main__":
    main()
