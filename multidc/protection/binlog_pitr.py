"""Point-in-time recovery of MySQL/MariaDB from the binlog archive into a NEW server, never over the damaged one.

A recovery takes the newest base backup that finished before TIME, loads it into a new local
``mariadbd``, then applies the archived binary logs from the position the dump was taken at with
``mariadb-binlog --stop-datetime`` (exclusive: it stops at the first event stamped at or after it).

What "exclusive" means at the binlog's resolution: event timestamps are whole seconds, the second
the statement (for an explicit transaction, its COMMIT) began. TIME is cut down to its second: no
transaction whose commit began at or after that second is applied, and the ones that began in
TIME's own second, before TIME, are not applied either (up to one second more lost, counted in the
reported RPO). A transaction that began before the cut and finished after it is applied: the cut is
by the commit's start, not its end. An interrupted transaction is rolled back (mariadb-binlog ends its
output with ROLLBACK).

The dump is loaded without binary logging (the new server's binlog must not hold GTIDs of its own
before the source's); the applied binlog keeps the source's GTIDs, so the new server's GTID position
is the source's at the last applied transaction.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from multidc.local.mariadb import LocalMariaDB, LocalMariaDBError
from multidc.protection import binlog_archive as archive
from multidc.protection.mariadb import Server, _tool, MariaDBReplicationError

_POSITION = re.compile(r"CHANGE MASTER TO MASTER_LOG_FILE='([^']+)', MASTER_LOG_POS=(\d+)")
_GTID_POS = re.compile(r"SET GLOBAL gtid_slave_pos\s*=\s*'([^']*)'")
_HEADER = re.compile(r"^#(\d\d)(\d\d)(\d\d)\s+(\d{1,2}):(\d\d):(\d\d) server id \d+\s+end_log_pos (\d+)\b(.*)$")
_GTID = re.compile(r"\bGTID (\d+-\d+-\d+)( ddl)?")
_ROTATE = re.compile(r"\bRotate to (\S+)\s+pos: (\d+)")


class TooEarlyError(archive.BinlogArchiveError):
    """TIME is not after the oldest base backup: the archive cannot reach it."""


class TargetNotArchivedError(archive.BinlogArchiveError):
    """The archive does not yet hold binlog up to TIME; it will within the archive's lag."""


@dataclass(frozen=True)
class Position:
    """Where a base backup's snapshot sits in its server's binlog."""

    file: str
    offset: int
    gtid: Optional[str]


@dataclass(frozen=True)
class Applied:
    """What applying the binlog did: from the base backup's position to the end of the last transaction committed,
    that transaction's GTID and binlog time, how many were committed."""

    first: str
    last: str
    last_gtid: Optional[str]
    last_time: Optional[dt.datetime]
    transactions: int


def choose(dumps: list[archive.BaseDump], before: dt.datetime, where: str) -> archive.BaseDump:
    """The newest base backup that had finished before TIME; TooEarlyError names the oldest when none had."""
    usable = [d for d in dumps if d.finished < before]
    if not usable:
        oldest = (f"the oldest is {dumps[0].key} (finished by {dumps[0].finished.isoformat()})" if dumps
                  else "it holds no base backup yet")
        raise TooEarlyError(f"--before {before.isoformat()}: the binlog archive {where} cannot reach that time: "
                            f"{oldest}. Pick a later --before")
    return usable[-1]


def dump_position(sql: bytes) -> Position:
    """The binlog file, offset and GTID position a dump's snapshot was taken at (``--master-data=2``)."""
    text = sql[:65536].decode(errors="replace") + sql[-65536:].decode(errors="replace")
    found = _POSITION.search(text)
    if found is None:
        raise archive.BinlogArchiveError("the base backup carries no binlog position (dumped without "
                                         "--master-data=2, or binary logging off on its server)")
    gtid = _GTID_POS.search(text)
    return Position(found.group(1), int(found.group(2)), gtid.group(1) if gtid else None)


def stop_datetime(before: dt.datetime) -> str:
    """TIME as ``--stop-datetime`` reads it (the tool's time zone is set to UTC): cut down to its second."""
    return before.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def binlog_command(files: list[Path], start: int, before: dt.datetime, tool: str = "mariadb-binlog") -> list[str]:
    """``mariadb-binlog`` decoding ``files`` from ``start`` (in the first) to just before TIME's second."""
    return [tool, f"--start-position={start}", f"--stop-datetime={stop_datetime(before)}", *map(str, files)]


def last_committed(decoded: str, position: Position, year_base: int = 2000) -> Applied:
    """What applying ``decoded`` (mariadb-binlog's output from ``position``) commits: the range read up to the
    last committed transaction's end, its GTID and binlog time, how many committed. A transaction counts once
    its Xid (or COMMIT, or its DDL statement) is in the output; the file changes at each Rotate event."""
    pending: Optional[str] = None
    file, end = position.file, position.offset
    last: tuple[Optional[str], Optional[dt.datetime], str] = (None, None, f"{file}:{end}")
    count = 0
    header_time: Optional[dt.datetime] = None

    def commit() -> None:
        nonlocal pending, last, count
        last, count, pending = (pending, header_time, f"{file}:{end}"), count + 1, None

    for line in decoded.splitlines():
        header = _HEADER.match(line)
        if header:
            yy, mo, dd, hh, mi, ss = (int(header.group(i)) for i in range(1, 7))
            header_time = dt.datetime(year_base + yy, mo, dd, hh, mi, ss, tzinfo=dt.timezone.utc)
            end, rest = int(header.group(7)), header.group(8)
            gtid, rotate = _GTID.search(rest), _ROTATE.search(rest)
            if gtid:
                pending = gtid.group(1)
                if gtid.group(2):  # a DDL statement is its own transaction
                    commit()
            elif "Xid = " in rest and pending:
                commit()
            elif rotate:
                file, end = rotate.group(1), int(rotate.group(2))
        elif line.startswith("COMMIT") and pending:
            commit()
    return Applied(first=f"{position.file}:{position.offset}", last=last[2], last_gtid=last[0], last_time=last[1],
                   transactions=count)


@dataclass
class Recovery:
    """What a point-in-time recovery restored, and the new server it runs in."""

    server: LocalMariaDB
    dump: archive.BaseDump
    position: Position
    applied: Applied
    seconds: float

    def rpo_s(self, before: dt.datetime) -> float:
        """TIME minus the last applied transaction's binlog second (or the base backup, when none applied):
        an upper bound, the binlog's time being the commit's start cut down to its second."""
        since = self.applied.last_time or self.dump.finished
        return max(0.0, (before - since).total_seconds())


def _fetch_binlogs(s3: Any, bucket: str, root: str, dump: archive.BaseDump, position: Position,
                   folder: Path) -> dict[str, bytes]:
    """The archived binlog files of the dump's server from its position on, each cut to whole events."""
    files = {}
    for name, pieces in archive.list_pieces(s3, bucket, root, dump.server_id).items():
        if name < position.file:
            continue
        data = archive.assemble(name, ((offset, s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                                       for offset, key, _ in pieces))
        files[name] = archive.whole_events(data)
        (folder / name).write_bytes(files[name])
    if position.file not in files:
        raise TargetNotArchivedError(f"the binlog archive holds nothing of {position.file} (server "
                                     f"{dump.server_id}), where base backup {dump.key} starts; is the archiver "
                                     "running? Retry once it has uploaded")
    return files


def recover(s3: Any, bucket: str, root: str, before: dt.datetime, name: str, *, login: dict[str, str],
            base_dir: Optional[Path] = None, timeout: float = 600) -> Recovery:
    """Recover ``root`` (``<prefix>/<system>`` in ``bucket``) as of just before TIME into a new server ``name``.

    ``login`` (database, user, password) is created in the new server as the source's application
    login. The server is returned running; on failure it is closed and the error says why.
    """
    started = time.monotonic()
    where = f"s3://{bucket}/{root}"
    dump = choose(archive.list_dumps(s3, bucket, root), before, where)
    folder = Path(tempfile.mkdtemp(prefix="multidc-binlog-restore-"))
    server: Optional[LocalMariaDB] = None
    try:
        sql = gzip.decompress(s3.get_object(Bucket=bucket, Key=dump.key)["Body"].read())
        position = dump_position(sql)
        files = _fetch_binlogs(s3, bucket, root, dump, position, folder)
        if not archive.holds(files, position.file, position.offset, before):
            raise TargetNotArchivedError(
                f"the binlog archive {where} does not yet hold binlog up to {before.isoformat()}: retry after "
                f"the archive's lag ({archive.lag_bound_s()} s); if the primary has been quiet since, nothing "
                "after TIME was written yet (a write, or FLUSH BINARY LOGS on the primary, lets the archive reach it)")
        decoded = _decode(sorted(folder.iterdir()), position.offset, before, timeout)
        applied = last_committed(decoded.decode(errors="replace"), position)
        server = LocalMariaDB(name, base_dir=base_dir, start_timeout=timeout).start()
        server.add_application_login(login["database"], login["user"], login["password"])
        admin = Server(server.host, server.port, server.user, server.password)
        with tempfile.TemporaryFile() as stream:
            stream.write(sql)
            stream.seek(0)
            _tool("mariadb", admin, ["--init-command=SET SESSION sql_log_bin = 0"], stdin=stream, timeout=timeout)
            stream.seek(0)
            stream.truncate()
            stream.write(decoded)
            stream.seek(0)
            _tool("mariadb", admin, ["--binary-mode"], stdin=stream, timeout=timeout)
        return Recovery(server, dump, position, applied, time.monotonic() - started)
    except (MariaDBReplicationError, LocalMariaDBError) as error:
        if server is not None:
            server.close()
        raise archive.BinlogArchiveError(f"recovering into {name}: {error}") from None
    except BaseException:
        if server is not None:
            server.close()
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _decode(files: list[Path], start: int, before: dt.datetime, timeout: float) -> bytes:
    """The SQL that replays ``files`` from ``start`` to just before TIME's second (the tool's zone: UTC)."""
    binary = shutil.which("mariadb-binlog")
    if binary is None:
        raise archive.BinlogArchiveError("mariadb-binlog is not on PATH (apt-get install mariadb-client, or "
                                         "make system-deps)")
    try:
        done = subprocess.run(binlog_command(files, start, before, binary), capture_output=True, timeout=timeout,
                              env={**os.environ, "TZ": "UTC"}, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise archive.BinlogArchiveError(f"mariadb-binlog did not finish within {timeout:.0f}s") from None
    if done.returncode != 0:
        raise archive.BinlogArchiveError(f"mariadb-binlog failed: {done.stderr.decode(errors='replace')[-1500:]}")
    return done.stdout
