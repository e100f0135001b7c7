"""Continuous binlog archiving of MySQL/MariaDB into the locked vault, with kept tools only.

Three shell programs do the work, the same ones in the production Deployment and CronJob
(``components/binlog_archive.py``) and in a local deployment (``multidc.local.binlog``):

- the **streamer**: ``mariadb-binlog --read-from-remote-server --raw --stop-never`` connects to the
  primary as a replication client (a login with REPLICATION SLAVE and BINLOG MONITOR) and writes the
  primary's binary logs, byte for byte and event by event, into ``$BINLOG_DIR/<server id>/``. It
  starts from the newest file it already holds, else from the oldest the primary still has, and
  starts again (every 2 s) when the connection drops; ``$BINLOG_DIR/.streaming`` exists while it streams
  (its container's probe);
- the **uploader**: every ``BINLOG_UPLOAD_INTERVAL_S`` seconds, for every file that grew, rclone
  uploads the new bytes as one object ``binlog/<server id>/<file>/<offset>`` (rclone sends
  Content-MD5, which an object-locked bucket requires). Pieces are append-only: a growing file is
  never uploaded again whole, so a COMPLIANCE-locked vault keeps each byte once, not every version
  of a growing file for ``immutable_days``. The archive's lag, how long a committed transaction can
  wait before it is in the vault, is the interval plus one upload (the streamer receives a commit
  within milliseconds): ``lag_bound_s``. It touches ``$BINLOG_DIR/.alive`` every round (its probe);
- the **base backup**: ``mariadb-dump --single-transaction --master-data=2 --gtid`` (MySQL:
  ``mysqldump --source-data=2``) of the system's own databases, gzip, named
  ``dump-<UTC stamp>-s<server id>.sql.gz`` after it finished (the stamp rounded up: never earlier
  than the dump), then uploaded under ``base/``. The dump carries the binlog file and position (and
  GTID) its snapshot was taken at, where a restore starts applying the binlog.

Why a dump and not ``mariadb-backup`` for base backups: a managed server (Trove) gives no access to
its data directory, which mariadb-backup reads; a dump works against any server over the network,
in production and here alike (docs/ransomware.md has the measurements).

Credentials reach the tools through the environment (``MYSQL_PWD``, rclone's
``RCLONE_CONFIG_DST_*``), never a command line.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

from multidc.protection.rclone import DESTINATION_REMOTE, S3Location, rclone_command
from multidc.contract import (
    BINLOG_ARCHIVE_PREFIX,
    BINLOG_BASE_DIR,
    BINLOG_LOG_DIR,
    BINLOG_UPLOAD_ALLOWANCE_S,
    BINLOG_UPLOAD_INTERVAL_S,
)

# The streamer's server id on the primary: a replication client needs one no server of the system uses
# (the local servers use their port, below 65536).
STREAMER_SERVER_ID = 1_000_042
MAGIC = b"\xfebin"
HEADER = struct.Struct("<IBIII H")  # timestamp, type, server id, event size, next position, flags
_DUMP = re.compile(r"^dump-(\d{8}T\d{6}Z)-s(\d+)\.sql\.gz$")
_STAMP = "%Y%m%dT%H%M%SZ"
# How every client program reaches the server: TCP, the address and login from the environment (the password in
# MYSQL_PWD, never on a command line).
LOGIN = '--protocol=TCP --host="$DB_HOST" --port="$DB_PORT" --user="$DB_USER"'


class BinlogArchiveError(RuntimeError):
    """The binlog archive cannot be read or is incomplete; the message names the object and the fix."""


@dataclass(frozen=True)
class Tools:
    """The client programs of one engine family: the binlog streamer, the client, the dump, their options."""

    binlog: str
    client: str
    dump: str
    server_id_option: str
    position_options: tuple[str, ...]


MARIADB = Tools("mariadb-binlog", "mariadb", "mariadb-dump", "--stop-never-slave-server-id",
                ("--master-data=2", "--gtid"))
# MySQL 8 (Trove's `mysql` datastore): its own tools, same roles.
MYSQL = Tools("mysqlbinlog", "mysql", "mysqldump", "--connection-server-id", ("--source-data=2",))


def lag_bound_s(interval_s: int = BINLOG_UPLOAD_INTERVAL_S) -> int:
    """The longest a committed transaction waits before it is in the vault: one interval and one upload."""
    return interval_s + BINLOG_UPLOAD_ALLOWANCE_S


def system_prefix(system: str, prefix: str = BINLOG_ARCHIVE_PREFIX) -> str:
    return f"{prefix}/{system}"


def streamer_script(tools: Tools = MARIADB) -> str:
    """The streamer, as ``sh -c`` runs it. Environment: DB_HOST, DB_PORT, DB_USER, MYSQL_PWD, BINLOG_DIR."""
    login = LOGIN
    return (
        "set -u\n"
        "while :; do\n"
        f"  sid=$({tools.client} {login} -N -B -e 'SELECT @@server_id') &&\n"
        f"  first=$({tools.client} {login} -N -B -e 'SHOW BINARY LOGS' | head -n 1 | cut -f 1) &&\n"
        '  [ -n "$sid" ] && [ -n "$first" ] && {\n'
        '    mkdir -p "$BINLOG_DIR/$sid"\n'
        '    last=$(ls "$BINLOG_DIR/$sid" | sort | tail -n 1)\n'
        '    touch "$BINLOG_DIR/.streaming"\n'
        f"    {tools.binlog} {login} --read-from-remote-server --raw --stop-never "
        f"{tools.server_id_option}={STREAMER_SERVER_ID} "
        '--result-file="$BINLOG_DIR/$sid/" "${last:-$first}"\n'
        '    rm -f "$BINLOG_DIR/.streaming"\n'
        "  }\n"
        "  sleep 2\n"
        "done\n")


def uploader_script() -> str:
    """The uploader, as ``sh -c`` runs it (busybox or GNU tools). Environment: BINLOG_DIR, DEST (the rclone
    path of ``binlog/``, e.g. ``DST:vault/mysql-binlog/catalog/binlog``), INTERVAL and the DST remote's
    RCLONE_CONFIG_DST_*. A piece goes up only after the previous one of its file did; a failed upload is
    retried from the same offset at the next round."""
    return (
        "set -u\n"
        'cd "$BINLOG_DIR"\n'
        "while :; do\n"
        "  touch .alive\n"
        "  for path in */*; do\n"
        '    [ -f "$path" ] || continue\n'
        '    sid=${path%%/*}; file=${path#*/}; mark=".sent-$sid-$file"\n'
        '    size=$(stat -c %s "$path"); sent=$(cat "$mark" 2>/dev/null || echo 0)\n'
        '    if [ "$size" -gt "$sent" ]; then\n'
        '      tail -c +$((sent + 1)) "$path" | head -c $((size - sent)) > .piece\n'
        '      rclone copyto .piece "$DEST/$sid/$file/$(printf %012d "$sent")" --retries 3 '
        "--low-level-retries 10 && echo \"$size\" > \"$mark\"\n"
        "    fi\n"
        "  done\n"
        '  sleep "$INTERVAL"\n'
        "done\n")


def dump_script(tools: Tools = MARIADB) -> str:
    """The base backup, as ``bash -c`` runs it. Environment: DB_HOST, DB_PORT, DB_USER, MYSQL_PWD,
    BACKUP_DIR. Leaves ``dump-<stamp>-s<server id>.sql.gz`` in BACKUP_DIR, named once complete."""
    login = LOGIN
    return (
        "set -euo pipefail\n"
        f"sid=$({tools.client} {login} -N -B -e 'SELECT @@server_id')\n"
        f"databases=$({tools.client} {login} -N -B -e 'SHOW DATABASES' | "
        "grep -v -x -e mysql -e information_schema -e performance_schema -e sys)\n"
        f"{tools.dump} {login} --single-transaction {' '.join(tools.position_options)} --routines --events "
        '--triggers --databases $databases | gzip > "$BACKUP_DIR/dump.partial"\n'
        "sleep 1\n"
        'mv "$BACKUP_DIR/dump.partial" "$BACKUP_DIR/dump-$(date -u +%Y%m%dT%H%M%SZ)-s$sid.sql.gz"\n')


def rclone_destination_env(endpoint: str, bucket: str, keys: tuple[Optional[str], Optional[str]] = (None, None)
                           ) -> dict[str, str]:
    """rclone's settings for the DST remote on the vault (``protection.rclone``'s), keys only when given."""
    location = S3Location(endpoint=endpoint, bucket=bucket, access_key=keys[0], secret_key=keys[1])
    _, env = rclone_command(location, location)
    remote = f"RCLONE_CONFIG_{DESTINATION_REMOTE}_"
    return {k: v for k, v in env.items() if k == "RCLONE_CONFIG" or k.startswith(remote)}


# --- reading the vault ---------------------------------------------------------------------------

@dataclass(frozen=True)
class BaseDump:
    """One base backup in the vault: its key, when it had finished (at the latest), the server it came from."""

    key: str
    finished: dt.datetime
    server_id: int
    size: int


def parse_dump_key(key: str) -> Optional[tuple[dt.datetime, int]]:
    match = _DUMP.match(key.rsplit("/", 1)[-1])
    if match is None:
        return None
    return dt.datetime.strptime(match.group(1), _STAMP).replace(tzinfo=dt.timezone.utc), int(match.group(2))


def list_dumps(s3: Any, bucket: str, system_root: str) -> list[BaseDump]:
    """The base backups under ``<system_root>/base/``, oldest first (other keys ignored)."""
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{system_root}/{BINLOG_BASE_DIR}/"):
        for item in page.get("Contents", []):
            parsed = parse_dump_key(item["Key"])
            if parsed is not None:
                found.append(BaseDump(item["Key"], parsed[0], parsed[1], item["Size"]))
    return sorted(found, key=lambda d: d.finished)


def list_pieces(s3: Any, bucket: str, system_root: str, server_id: int) -> dict[str, list[tuple[int, str, int]]]:
    """Per binlog file of ``server_id``: its pieces (offset, key, size), by offset (the newest version of each)."""
    files: dict[str, list[tuple[int, str, int]]] = {}
    root = f"{system_root}/{BINLOG_LOG_DIR}/{server_id}/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root):
        for item in page.get("Contents", []):
            name, _, offset = item["Key"][len(root):].rpartition("/")
            if name and offset.isdigit():
                files.setdefault(name, []).append((int(offset), item["Key"], item["Size"]))
    return {name: sorted(pieces) for name, pieces in sorted(files.items())}


def assemble(name: str, pieces: Iterable[tuple[int, bytes]]) -> bytes:
    """A binlog file from its pieces (offset, bytes), which may overlap (a streamer that started again
    sends a file from its start); a gap means the archive misses bytes: BinlogArchiveError."""
    data = bytearray()
    for offset, body in sorted(pieces, key=lambda p: p[0]):
        if offset > len(data):
            raise BinlogArchiveError(f"binlog {name}: the archive lacks bytes {len(data)}..{offset - 1} (a piece "
                                     "never reached the vault); restore to a time before them")
        data[offset:offset + len(body)] = body
    return bytes(data)


@dataclass(frozen=True)
class Event:
    """One binlog event's header: where it starts and ends in its file, its timestamp (whole seconds), type."""

    offset: int
    end: int
    timestamp: int
    type: int


def events(data: bytes) -> list[Event]:
    """The complete events of a binlog file (a partial last one, still being streamed, is left out)."""
    if not data.startswith(MAGIC):
        raise BinlogArchiveError("not a binlog file (no magic number): the archive holds something else")
    found, offset = [], len(MAGIC)
    while offset + HEADER.size <= len(data):
        timestamp, kind, _, size, _, _ = HEADER.unpack_from(data, offset)
        if size < HEADER.size or offset + size > len(data):
            break
        found.append(Event(offset, offset + size, timestamp, kind))
        offset += size
    return found


def whole_events(data: bytes) -> bytes:
    """``data`` cut after its last complete event."""
    found = events(data)
    return data[:found[-1].end] if found else data[:len(MAGIC)]


def holds(files: Mapping[str, bytes], start_file: str, start_position: int, before: dt.datetime) -> bool:
    """Whether the archive reaches TIME: it holds an event at or after TIME's second past the start, so every
    event before it (all that `--stop-datetime` applies) is archived. A quiet primary writes no event: the
    archive then reaches TIME with the next write (or a FLUSH BINARY LOGS on the primary)."""
    cut = int(before.replace(microsecond=0).timestamp())
    for name, data in files.items():
        if name < start_file:
            continue
        first = start_position if name == start_file else 0
        if any(e.timestamp >= cut for e in events(data) if e.offset >= first):
            return True
    return False
