"""MariaDB/MySQL replication between sites: GTID-based, semi-synchronous for ``sync``.

- initial copy: ``mariadb-dump --single-transaction --gtid --master-data=2`` of the primary's
  own databases (not ``mysql``: each side keeps its logins), loaded with ``mariadb`` into the
  replica; the dump's GTID position becomes the replica's ``gtid_slave_pos``;
- ``CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos``: the replica asks for what follows its
  position, so a restarted or re-pointed replica needs no file/offset bookkeeping;
- ``sync``: semi-synchronous replication (built into MariaDB >= 10.3): a commit returns once a
  replica has received it; ``rpl_semi_sync_master_timeout`` is set high so that it does not fall
  back to asynchronous on its own (the runbook relaxes it explicitly, as for PostgreSQL);
- the replica runs ``read_only`` so that only replication writes there.

Every function takes connection info (``Server``); connections are PyMySQL, with timeouts.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional
from contextlib import contextmanager

from multidc.protection.link_health import ABSENT, DISCONNECTED, PROMOTED, REPLICATING, LinkHealth

SYSTEM_DATABASES = ("mysql", "information_schema", "performance_schema", "sys")
SEMI_SYNC_TIMEOUT_MS = 24 * 3600 * 1000  # never fall back to async by itself
_GTID = re.compile(r"SET GLOBAL gtid_slave_pos\s*=\s*'([^']*)'")


class MariaDBReplicationError(RuntimeError):
    """A MariaDB replication step failed; the message names the server and the fix."""


@dataclass(frozen=True)
class Server:
    """Connection info for one server as an administrative login."""

    host: str
    port: int
    user: str
    password: Optional[str] = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@contextmanager
def _cursor(server: Server, timeout: float = 30.0) -> Iterator[Any]:
    import pymysql

    try:
        conn = pymysql.connect(host=server.host, port=server.port, user=server.user, password=server.password or "",
                               connect_timeout=5, read_timeout=int(timeout), write_timeout=int(timeout),
                               autocommit=True, cursorclass=pymysql.cursors.DictCursor)
    except pymysql.err.OperationalError as error:
        raise MariaDBReplicationError(f"cannot connect to MariaDB at {server.address}: {error.args[-1]}. Check that "
                                      "it is up and reachable and that the credentials are right.") from error
    try:
        with conn.cursor() as cursor:
            yield cursor
    finally:
        conn.close()


def _defaults_file(server: Server) -> str:
    """A client option file with the login (0600), so no password is on a command line."""
    fd, path = tempfile.mkstemp(prefix="multidc-my-", suffix=".cnf")
    with os.fdopen(fd, "w") as out:
        out.write(f"[client]\nhost={server.host}\nport={server.port}\nuser={server.user}\n"
                  f"password=\"{server.password or ''}\"\n")
    return path


def _tool(tool: str, server: Server, args: list[str], *, stdin: Any = None, stdout: Any = None,
          timeout: float) -> None:
    options = _defaults_file(server)
    try:
        done = subprocess.run([tool, f"--defaults-extra-file={options}", "--protocol=TCP", *args], stdin=stdin,
                              stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=timeout)
    finally:
        os.unlink(options)
    if done.returncode != 0:
        raise MariaDBReplicationError(f"{tool} against {server.address} failed: {done.stderr.strip()[-1500:]}")


def copy_data(primary: Server, replica: Server, *, timeout: float = 600.0) -> str:
    """Dump the primary's own databases into the replica; returns the dump's GTID position."""
    with _cursor(primary) as cursor:
        cursor.execute("SHOW DATABASES")
        databases = [row["Database"] for row in cursor.fetchall() if row["Database"] not in SYSTEM_DATABASES]
    with tempfile.TemporaryFile("w+b") as dump:
        _tool("mariadb-dump", primary, ["--single-transaction", "--gtid", "--master-data=2", "--routines",
                                        "--events", "--triggers", "--databases", *databases] if databases else
              ["--single-transaction", "--gtid", "--master-data=2", "--no-data", "--databases", "mysql"],
              stdout=dump, timeout=timeout)
        dump.seek(0)
        found = _GTID.search(dump.read(64 * 1024).decode(errors="replace"))
        if found is None:  # mariadb-dump >= 10.11 defers the position to the end of the dump
            size = dump.seek(0, os.SEEK_END)
            dump.seek(max(0, size - 64 * 1024))
            found = _GTID.search(dump.read().decode(errors="replace"))
        if found is None:
            raise MariaDBReplicationError(f"the dump of {primary.address} carries no GTID position; is binary "
                                          "logging (log_bin) on there?")
        if databases:
            dump.seek(0)
            # Not binlogged on the replica: its own binlog must hold no GTIDs the primary never wrote.
            _tool("mariadb", replica, ["--init-command=SET SESSION sql_log_bin = 0"], stdin=dump, timeout=timeout)
    return found.group(1)


def create_link(primary: Server, replica: Server, *, primary_host: str, primary_port: int, repl_user: str,
                repl_password: str, mode: str, timeout: float = 300.0) -> LinkHealth:
    """Replication user on the primary, initial copy, CHANGE MASTER with GTID, mode, caught up.

    Idempotent: a replica already replicating from that primary is not copied again; only the
    mode is applied and the catch-up waited for.
    """
    _replication_login(primary, repl_user, repl_password)
    status = _slave_status(replica)
    following = status is not None and status["Master_Host"] == primary_host and \
        int(status["Master_Port"]) == int(primary_port)
    if not following:
        with _cursor(replica) as cursor:
            cursor.execute("STOP SLAVE")
            cursor.execute("RESET SLAVE ALL")
        _follow(replica, copy_data(primary, replica, timeout=timeout), primary_host=primary_host,
                primary_port=primary_port, repl_user=repl_user, repl_password=repl_password)
    set_mode(primary, replica, mode)
    with _cursor(replica) as cursor:
        cursor.execute("SET GLOBAL read_only = ON")
        cursor.execute("START SLAVE")
    wait_caught_up(primary, replica, timeout=timeout)
    return link_health(primary, replica, primary_host=primary_host, primary_port=primary_port)


def _follow(replica: Server, position: str, *, primary_host: str, primary_port: int, repl_user: str,
            repl_password: str) -> None:
    """The replica asks the primary for what follows `position` (its GTIDs): ``MASTER_USE_GTID = slave_pos``."""
    with _cursor(replica) as cursor:
        cursor.execute("SET GLOBAL gtid_slave_pos = %s", [position])
        cursor.execute("CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = %s, "
                       "MASTER_PASSWORD = %s, MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1",
                       [primary_host, int(primary_port), repl_user, repl_password])


def _replication_login(primary: Server, repl_user: str, repl_password: str) -> None:
    """The login replicas connect with, on the primary; not binlogged, so that no replica that has it
    already (a former primary) fails to apply it."""
    with _cursor(primary) as cursor:
        # Checked first: in semi-synchronous mode with the replica stopped, any write here (even
        # a GRANT) would wait for an acknowledgement that cannot come before START SLAVE.
        cursor.execute("SELECT 1 FROM mysql.user WHERE user = %s AND host = '%%'", [repl_user])
        if cursor.fetchone() is None:
            cursor.execute("SET SESSION sql_log_bin = 0")
            cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", [repl_user, repl_password])
            cursor.execute("GRANT REPLICATION SLAVE ON *.* TO %s@'%%'", [repl_user])


def set_mode(primary: Server, replica: Server, mode: str) -> None:
    """``sync``: semi-synchronous on both (the replica's IO thread restarts to announce it); ``async``: off."""
    on = "ON" if mode == "sync" else "OFF"
    with _cursor(primary) as cursor:
        cursor.execute(f"SET GLOBAL rpl_semi_sync_master_enabled = {on}")
        cursor.execute(f"SET GLOBAL rpl_semi_sync_master_timeout = {SEMI_SYNC_TIMEOUT_MS}")
        # Lossless: the commit becomes visible on the primary only once the replica has it.
        cursor.execute("SET GLOBAL rpl_semi_sync_master_wait_point = AFTER_SYNC")
    with _cursor(replica) as cursor:
        cursor.execute("SELECT @@rpl_semi_sync_slave_enabled AS enabled")
        if bool(cursor.fetchone()["enabled"]) != (mode == "sync"):
            cursor.execute(f"SET GLOBAL rpl_semi_sync_slave_enabled = {on}")
            if _slave_status(replica) is not None:
                cursor.execute("STOP SLAVE IO_THREAD")
                cursor.execute("START SLAVE IO_THREAD")


def wait_caught_up(primary: Server, replica: Server, *, timeout: float = 60.0) -> None:
    """``MASTER_GTID_WAIT`` on the replica for the primary's current GTID position."""
    with _cursor(primary) as cursor:
        cursor.execute("SELECT @@gtid_binlog_pos AS pos")
        position = cursor.fetchone()["pos"]
    with _cursor(replica, timeout=timeout + 10) as cursor:
        cursor.execute("SELECT MASTER_GTID_WAIT(%s, %s) AS waited", [position, timeout])
        if cursor.fetchone()["waited"] != 0:
            status = _slave_status(replica) or {}
            raise MariaDBReplicationError(
                f"the replica {replica.address} did not reach GTID {position} of {primary.address} within "
                f"{timeout:.0f}s (IO {status.get('Slave_IO_Running')}, SQL {status.get('Slave_SQL_Running')}, "
                f"last error: {status.get('Last_IO_Error') or status.get('Last_SQL_Error') or 'none'})")


def _slave_status(replica: Server) -> Optional[dict[str, Any]]:
    with _cursor(replica) as cursor:
        cursor.execute("SHOW SLAVE STATUS")
        return cursor.fetchone()


def link_health(primary: Optional[Server], replica: Server, *, primary_host: str, primary_port: int) -> LinkHealth:
    """State and last error from SHOW SLAVE STATUS; lag in binlog bytes (same file) and seconds."""
    status = _slave_status(replica)
    mode = None
    if primary is not None:
        with _cursor(primary) as cursor:
            cursor.execute("SELECT @@rpl_semi_sync_master_enabled AS semi")
            mode = "sync" if cursor.fetchone()["semi"] else "async"
            cursor.execute("SHOW MASTER STATUS")
            master = cursor.fetchone()
    if status is None:
        with _cursor(replica) as cursor:
            cursor.execute("SELECT @@read_only AS ro")
            read_only = bool(cursor.fetchone()["ro"])
        return LinkHealth(ABSENT if read_only else PROMOTED, mode=mode,
                          last_error=None if read_only else f"{replica.address} replicates from nobody and takes writes")
    error = status.get("Last_IO_Error") or status.get("Last_SQL_Error") or None
    if status["Master_Host"] != primary_host or int(status["Master_Port"]) != int(primary_port):
        return LinkHealth(DISCONNECTED, mode=mode, last_error=f"follows {status['Master_Host']}:{status['Master_Port']}")
    if status["Slave_IO_Running"] != "Yes" or status["Slave_SQL_Running"] != "Yes":
        return LinkHealth(DISCONNECTED, mode=mode, last_error=error)
    lag_bytes = None
    if primary is not None and master and master["File"] == status["Master_Log_File"]:
        lag_bytes = max(0, int(master["Position"]) - int(status["Exec_Master_Log_Pos"]))
    behind = status.get("Seconds_Behind_Master")
    return LinkHealth(REPLICATING, lag_bytes, None if behind is None else float(behind), error, mode)


def promote(replica: Server, *, timeout: float = 60.0) -> None:
    """The replica applies what it received, stops replicating, forgets its primary and takes writes.
    Idempotent.

    Semi-synchronous replication acknowledges a commit once the replica has *received* it: it may
    still be in the relay log, which RESET SLAVE deletes. So the IO thread stops first (nothing more
    arrives) and the SQL thread is given until `timeout` to apply the rest. The promoted server does
    not wait for a semi-synchronous acknowledgement either, whatever it was set to when it last was a
    primary: with no replica yet, every commit would wait for one (re-protect sets the mode).
    """
    if _slave_status(replica) is not None:
        with _cursor(replica) as cursor:
            cursor.execute("STOP SLAVE IO_THREAD")
        _apply_relay_log(replica, timeout)
    with _cursor(replica) as cursor:
        cursor.execute("STOP SLAVE")
        cursor.execute("RESET SLAVE ALL")
        cursor.execute("SET GLOBAL rpl_semi_sync_slave_enabled = OFF")
        cursor.execute("SET GLOBAL rpl_semi_sync_master_enabled = OFF")
        cursor.execute("SET GLOBAL read_only = OFF")


def _apply_relay_log(replica: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = _slave_status(replica) or {}
        state = status.get("Slave_SQL_Running_State") or ""
        if status.get("Slave_SQL_Running") == "Yes" and state.startswith("Slave has read all relay log"):
            return
        if status.get("Last_SQL_Error"):
            raise MariaDBReplicationError(
                f"{replica.address}: the SQL thread stopped before applying everything it received "
                f"({status['Last_SQL_Error']}); fix that transaction, START SLAVE SQL_THREAD, then promote")
        if time.monotonic() > deadline:
            raise MariaDBReplicationError(f"{replica.address}: the relay log was not applied within {timeout:.0f}s "
                                          f"(SQL thread: {state or 'not running'}); promote again once it is")
        if status.get("Slave_SQL_Running") != "Yes":
            with _cursor(replica) as cursor:  # stopped by hand: what it holds must still be applied
                cursor.execute("START SLAVE SQL_THREAD")
        time.sleep(0.05)


def accepts_writes(server: Server, *, timeout: float = 5.0) -> bool:
    """Whether applications can write on `server`: it answers, replicates from nobody and is not read-only."""
    with _cursor(server, timeout=timeout) as cursor:
        cursor.execute("SELECT @@read_only AS ro")
        read_only = bool(cursor.fetchone()["ro"])
        cursor.execute("SHOW SLAVE STATUS")
        return not read_only and cursor.fetchone() is None


def fence(server: Server) -> None:
    """``read_only = ON``: application logins (without READ_ONLY ADMIN) can no longer write. Idempotent."""
    with _cursor(server) as cursor:
        cursor.execute("SET GLOBAL read_only = ON")


def unfence(server: Server) -> None:
    with _cursor(server) as cursor:
        cursor.execute("SET GLOBAL read_only = OFF")


def relax(primary: Server) -> None:
    """A primary whose semi-synchronous replica is lost stops waiting for it (commits are asynchronous)."""
    with _cursor(primary) as cursor:
        cursor.execute("SET GLOBAL rpl_semi_sync_master_enabled = OFF")


def _gtids(position: str) -> list[tuple[int, int, int]]:
    return [tuple(int(part) for part in gtid.split("-")) for gtid in position.replace(" ", "").split(",") if gtid]


def contained(position: str, binlog_state: str) -> bool:
    """Whether every GTID of `position` is in the history a server's `binlog_state` (its
    ``gtid_binlog_state``, and ``gtid_slave_pos``) describes.

    With ``gtid_strict_mode`` sequence numbers only grow within a domain, so a server's GTID d-s-n is
    in the other history when its last GTID from domain d and server s is d-s-m with m >= n.
    """
    last: dict[tuple[int, int], int] = {}
    for domain, server, seq in _gtids(binlog_state):
        last[(domain, server)] = max(seq, last.get((domain, server), -1))
    return all(last.get((domain, server), -1) >= seq for domain, server, seq in _gtids(position))


def reprotect(new_primary: Server, old: Server, *, primary_host: str, primary_port: int, repl_user: str,
              repl_password: str, mode: str, timeout: float = 300.0) -> tuple[LinkHealth, bool]:
    """The old primary becomes a replica of the new one: ``CHANGE MASTER ... MASTER_USE_GTID=slave_pos``.

    When everything the old primary wrote reached the new one (its GTID position is in the new
    primary's binlog), it resumes from its own position and nothing is copied. Otherwise it took
    writes the new primary never got (an asynchronous failover): its binlog is reset and its
    databases are replaced by a copy of the new primary's, so those writes are gone for good (they
    were counted as lost at the failover). Returns the link's health and whether a copy was made.
    Idempotent: a replica already following the new primary is left as it is (only the mode is set).
    """
    status = _slave_status(old)
    if status is not None and status["Master_Host"] == primary_host and int(status["Master_Port"]) == \
            int(primary_port) and status["Slave_IO_Running"] == "Yes" and status["Slave_SQL_Running"] == "Yes":
        set_mode(new_primary, old, mode)
        return link_health(new_primary, old, primary_host=primary_host, primary_port=primary_port), False
    _replication_login(new_primary, repl_user, repl_password)
    with _cursor(old) as cursor:
        cursor.execute("SET GLOBAL read_only = ON")  # only replication writes here from now on
        cursor.execute("STOP SLAVE")
        cursor.execute("RESET SLAVE ALL")
        cursor.execute("SELECT @@gtid_binlog_pos AS pos")
        own = cursor.fetchone()["pos"]
    with _cursor(new_primary) as cursor:
        # What it has seen: its binlog, and what it applied as a replica (a server re-protected after a
        # fresh copy has nothing of that copy in its binlog, only in gtid_slave_pos).
        cursor.execute("SELECT @@gtid_binlog_state AS state, @@gtid_slave_pos AS applied")
        seen = cursor.fetchone()
        diverged = not contained(own, ",".join(p for p in (seen["state"], seen["applied"]) if p))
    if diverged:
        with _cursor(old) as cursor:
            cursor.execute("RESET MASTER")
        own = copy_data(new_primary, old, timeout=timeout)
    _follow(old, own, primary_host=primary_host, primary_port=primary_port, repl_user=repl_user,
            repl_password=repl_password)
    set_mode(new_primary, old, mode)
    with _cursor(old) as cursor:
        cursor.execute("START SLAVE")
    wait_caught_up(new_primary, old, timeout=timeout)
    return link_health(new_primary, old, primary_host=primary_host, primary_port=primary_port), diverged


def drop_link(primary: Optional[Server], replica: Server) -> None:
    """Tear down: the primary stops waiting for semi-sync acknowledgements, the replica is promoted."""
    if primary is not None:
        with _cursor(primary) as cursor:
            cursor.execute("SET GLOBAL rpl_semi_sync_master_enabled = OFF")
    promote(replica)
