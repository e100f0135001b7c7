"""The `db.*` steps for MariaDB/MySQL replicated with GTIDs (semi-synchronous for `sync`).

- fence: a reachable old primary gets ``read_only = ON`` (application logins can no longer write);
  an unreachable one the toolkit runs (a local stand-in) gets ``read_only = ON`` in its option file,
  so when its site comes back it starts read-only;
- promote: ``STOP SLAVE; RESET SLAVE ALL; read_only = OFF`` (and no semi-synchronous wait until
  re-protect), refused while the old primary still takes writes;
- relax: a surviving primary whose semi-synchronous replica was lost stops waiting for it;
- wait_replay: ``MASTER_GTID_WAIT`` on the replica for the primary's ``gtid_binlog_pos``;
- reprotect: the old primary follows the new one (``CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos``),
  from its own position when it holds nothing the new primary lacks, else after a fresh copy
  (its binlog reset: the writes only it had are dropped), in the system's mode.

The steps log in with the placement's login from the outputs; for a local stand-in with its
administrative login (``local.admin_user``, same password), as the operator of a self-managed
server does. On Trove that login must hold REPLICATION SLAVE ADMIN and READ_ONLY ADMIN (the
instance's root): docs/replication.md.

Atomic: each SQL statement; no verb as a whole. Idempotent: every verb. Timeout: `timeout` per
statement; the copy of re-protect is bounded by ``COPY_TIMEOUT_S``.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any, Optional

from multidc.dr.backends import BackendError
from multidc.dr.engines.dispatch import EngineBackend
from multidc.dr.runbook import Step
from multidc.protection import mariadb as my

COPY_TIMEOUT_S = 300.0
REPL_USER = "multidc_repl"  # as the ReplicationLink creates it (multidc.providers.mariadb_link)


@dataclass(frozen=True)
class MariaDBServer(my.Server):
    """One MariaDB endpoint from the outputs, as the login the steps use; ``base_dir`` only for a server the
    toolkit runs."""

    base_dir: Optional[str] = None

    def local(self) -> Any:
        """The local stand-in (its option file, its process)."""
        from pathlib import Path

        from multidc.local.mariadb import LocalMariaDB

        assert self.base_dir is not None
        return LocalMariaDB(port=self.port, password=self.password, base_dir=Path(self.base_dir))


def _reachable(server: MariaDBServer) -> bool:
    try:
        socket.create_connection((server.host, server.port), timeout=2).close()
    except OSError:
        return False
    try:
        my.accepts_writes(server, timeout=3)
        return True
    except my.MariaDBReplicationError:
        return False


@dataclass
class MariaDBDatabaseBackend(EngineBackend):
    """`db.*` steps of MariaDB/MySQL systems on the servers it is given (``MariaDBServer``); others go to
    `fallback`."""

    def run(self, step: Step) -> str:
        import pymysql

        try:
            return super().run(step)
        except my.MariaDBReplicationError as error:
            raise BackendError(f"{step.system}@{step.site}: {error}") from None
        except pymysql.err.MySQLError as error:  # a refused privilege names what the login lacks
            raise BackendError(f"{step.system}@{step.site}: {error.args[-1]}. The failover steps need a login with "
                               "REPLICATION SLAVE ADMIN and READ_ONLY ADMIN (on Trove: the instance's root)") from None

    def _fence(self, step: Step, server: MariaDBServer) -> str:
        if _reachable(server):
            my.fence(server)
            if my.accepts_writes(server):
                raise BackendError(f"{step.system}@{step.site}: read_only set but {server.address} still takes writes")
            return f"{server.address} refuses application writes (read_only = ON)"
        if server.base_dir is None:
            return f"{server.address} unreachable; fencing left to the provider's isolation of the site"
        # Split brain: the killed primary would restart from its data as a writable primary, and
        # clients that try it first would write there while the promoted replica takes writes too;
        # re-protect would then throw those writes away. Fenced in its option file, it restarts
        # read-only and refuses every application write until re-protect makes it a replica.
        server.local().fence()
        return f"{server.address} unreachable; it will start read-only (read_only = ON in its option file)"

    def _unfence(self, step: Step, server: MariaDBServer) -> str:
        my.unfence(server)
        if server.base_dir is not None:
            server.local().unfence()
        return f"{server.address} takes writes again"

    def _promote(self, step: Step, server: MariaDBServer) -> str:
        old = self._peer(step)
        if old is not None and _reachable(old) and my.accepts_writes(old):
            # Split brain: the old primary still takes writes; promoting now would let both sites
            # commit transactions the other never sees (and re-protect would drop one side's).
            raise BackendError(f"{step.system}@{step.site}: refusing to promote {server.address}: the old primary "
                               f"{old.address} still takes writes; fence it first")
        my.promote(server, timeout=self.timeout)
        if server.base_dir is not None:
            server.local().unfence()  # a fence from an earlier failover must not come back with a restart
        if not my.accepts_writes(server):
            raise BackendError(f"{step.system}@{step.site}: promoted but {server.address} still refuses writes; "
                               "check SHOW SLAVE STATUS and @@read_only there")
        return f"{server.address} replicates from nobody and takes writes (STOP SLAVE, RESET SLAVE ALL, read_only OFF)"

    def _relax(self, step: Step, server: MariaDBServer) -> str:
        my.relax(server)
        return (f"{server.address} no longer waits for a semi-synchronous replica (standby site "
                f"{step.param('standby_site')} lost)")

    def _wait_replay(self, step: Step, server: MariaDBServer) -> str:
        primary = self._peer(step)
        if primary is None:
            raise BackendError(f"{step.system}: no primary to wait for")
        my.wait_caught_up(primary, server, timeout=self.timeout)
        return f"{server.address} applied every GTID of {primary.address}"

    def _reprotect(self, step: Step, server: MariaDBServer) -> str:
        primary = self._peer(step)
        if primary is None:
            raise BackendError(f"{step.system}: no new primary to follow")
        if server.base_dir is not None and not _reachable(server):
            server.local().start()  # a local stand-in coming back with its site
        mode = step.param("mode") or "async"
        health, copied = my.reprotect(primary, server, primary_host=primary.host,
                                      primary_port=primary.port, repl_user=REPL_USER,
                                      repl_password=server.password or "", mode=mode,
                                      timeout=max(self.timeout, COPY_TIMEOUT_S))
        how = ("after a fresh copy (it held writes the new primary never got: dropped)" if copied
               else "from its own GTID position, nothing copied")
        return f"{server.address} follows {primary.address} again ({mode}, {health.state}) {how}"


def servers(outputs: Any) -> dict[tuple[str, str], MariaDBServer]:
    """Every MySQL/MariaDB placement of the outputs document with an endpoint."""
    found = {}
    for name, system in outputs.systems.items():
        for site, placement in system.placements.items():
            database = placement.database
            if system.kind == "mysql" and database is not None:
                local = database.local
                found[(name, site)] = MariaDBServer(
                    database.host, database.port,
                    (local.admin_user if local else None) or database.user or "root",
                    database.password.get_secret_value() if database.password else None,
                    local.base_dir if local else None)
    return found
