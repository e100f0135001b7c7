"""Redis RDB snapshots in the locked vault, and restoring the newest one before T into a new server.

The production job (``components/backup.py``, mechanism ``redis-rdb``) runs ``redis-cli --rdb``
against the primary on the spec's schedule and rclone uploads the file into the vault as
``redis-rdb/dump-<UTC stamp>.rdb``. ``snapshot`` does the same from this host with the same kept
tool (redis-cli's replication-protocol dump: no shell on the server needed, as on a managed Redis)
and names the file with a stamp never earlier than the moment the snapshot finished, so "the
newest snapshot before T" never picks one taken after T. ``restore_to_new`` starts a new
``redis-server`` on this host from that file, never touching the damaged one.

S3 calls go through the boto3 client given (bounded by its own timeouts); redis-cli is bounded
by ``timeout``. Uploads carry Content-MD5, which object-locked buckets require.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from multidc.local.postgres import _must_drop_privileges, _run_as_ids
from multidc.local.redis import LocalRedis

KEY_PREFIX = "redis-rdb"
_KEY = re.compile(rf"^{KEY_PREFIX}/dump-(\d{{8}}T\d{{6}}Z)\.rdb$")
_STAMP = "%Y%m%dT%H%M%SZ"


class SnapshotError(RuntimeError):
    """A snapshot or restore step failed; the message names the server or the vault and the fix."""


class TooEarlyError(SnapshotError):
    """No snapshot in the vault is older than the TIME asked for."""


@dataclass(frozen=True)
class Snapshot:
    """One RDB file in the vault: its key, when it was taken (at the latest), its size and SHA-256."""

    key: str
    taken_at: dt.datetime
    size: int
    sha256: Optional[str] = None


def snapshot(host: str, port: int, password: Optional[str], s3: Any, bucket: str, *,
             timeout: float = 300) -> Snapshot:
    """Dump the server's data set with ``redis-cli --rdb`` and put it into the vault; returns the record."""
    binary = shutil.which("redis-cli")
    if binary is None:
        raise SnapshotError("redis-cli is not on PATH (Debian: apt-get install redis-tools, or make system-deps)")
    env = {**os.environ, "REDISCLI_AUTH": password} if password else dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="multidc-rdb-") as folder:
        path = Path(folder) / "dump.rdb"
        try:
            done = subprocess.run([binary, "-h", host, "-p", str(port), "--rdb", str(path)], env=env,
                                  capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise SnapshotError(f"redis-cli --rdb of {host}:{port} did not finish within {timeout:.0f}s") from None
        if done.returncode != 0 or not path.exists():
            raise SnapshotError(f"redis-cli --rdb of {host}:{port} failed: {(done.stderr or done.stdout).strip()[-500:]}")
        body = path.read_bytes()
    # Rounded up to the next whole second: the stamp is never earlier than the snapshot.
    taken_at = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)).replace(microsecond=0)
    key = f"{KEY_PREFIX}/dump-{taken_at.strftime(_STAMP)}.rdb"
    s3.put_object(Bucket=bucket, Key=key, Body=body,
                  ContentMD5=base64.b64encode(hashlib.md5(body).digest()).decode())
    return Snapshot(key, taken_at, len(body), hashlib.sha256(body).hexdigest())


def parse_key(key: str) -> Optional[dt.datetime]:
    """When the snapshot under ``key`` was taken (at the latest); None for a key not shaped like one."""
    match = _KEY.match(key)
    return dt.datetime.strptime(match.group(1), _STAMP).replace(tzinfo=dt.timezone.utc) if match else None


def list_snapshots(s3: Any, bucket: str) -> list[Snapshot]:
    """The snapshots in the vault, oldest first (keys not shaped like one are ignored)."""
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{KEY_PREFIX}/"):
        for item in page.get("Contents", []):
            taken = parse_key(item["Key"])
            if taken is not None:
                found.append(Snapshot(item["Key"], taken, item["Size"]))
    return sorted(found, key=lambda s: s.taken_at)


def choose(snapshots: list[Snapshot], before: dt.datetime, where: str) -> Snapshot:
    """The newest snapshot strictly older than ``before``; TooEarlyError names the oldest there is."""
    older = [s for s in snapshots if s.taken_at < before]
    if not older:
        oldest = (f"the oldest is {snapshots[0].key} ({snapshots[0].taken_at.isoformat()})" if snapshots
                  else "there are none")
        raise TooEarlyError(f"no Redis snapshot older than {before.isoformat()} in {where}: {oldest}; "
                            "pick a later --before")
    return older[-1]


@dataclass
class RedisRestore:
    """What ``restore_to_new`` did: the new server, the snapshot, how many keys came back, how long it took."""

    server: LocalRedis
    snapshot: Snapshot
    keys: int
    seconds: float


def restore_to_new(s3: Any, bucket: str, chosen: Snapshot, name: str, password: str) -> RedisRestore:
    """Start a new redis-server on this host holding ``chosen``'s data set (its SHA-256 checked)."""
    started = time.monotonic()
    body = s3.get_object(Bucket=bucket, Key=chosen.key)["Body"].read()
    if chosen.sha256 is not None and hashlib.sha256(body).hexdigest() != chosen.sha256:
        raise SnapshotError(f"{chosen.key} in {bucket} does not match the snapshot's SHA-256; nothing was started")
    server = LocalRedis(name, password=password)
    _write_restore_conf(server)
    dump = server.base_dir / "dump.rdb"
    dump.write_bytes(body)
    dump.chmod(0o600)
    if _must_drop_privileges():
        os.chown(dump, *_run_as_ids())
    server.start()
    keys = int(server.client().dbsize())
    return RedisRestore(server, chosen, keys, time.monotonic() - started)


def _write_restore_conf(server: LocalRedis) -> None:
    """The local server's settings, loading ``dump.rdb`` at start: with AOF on, Redis would start empty."""
    server._write_conf(server.conf_file)
    lines = [line for line in server.conf_file.read_text().splitlines() if not line.startswith("appendonly")]
    server.conf_file.write_text("\n".join([*lines, "appendonly no", "dbfilename dump.rdb"]) + "\n")
