"""A MariaDB/MySQL system in the site-loss drill: a writer through both endpoints, and what it measures.

The writer (``multidc.drill.pairs``) logs in as the application does (the placement's login from
the outputs document, which ``read_only`` stops) and INSERTs one row after another into a ``drill``
table of the system's database on whichever endpoint takes them. The pair offers what the drill asks of a
replicated system (as ``multidc.drill.redis_pair`` does for Redis): RTO from the kill to the
first insert the surviving server acknowledged, the acknowledged inserts the new primary lacks
(0 for ``sync``: semi-synchronous, AFTER_SYNC), and for ``async`` the replica's lag at the moment
of the kill in binlog bytes (the primary's ``SHOW MASTER STATUS`` position minus the replica's
``Exec_Master_Log_Pos``, same binlog file).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

from multidc.contract import GTID
from multidc.ops.outputs import Database, StackOutputs

from .pairs import AckWriter, WriterPair

TABLE = "drill"
DDL = f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigint PRIMARY KEY, at timestamp(6) NOT NULL DEFAULT now(6))"


@dataclass(frozen=True)
class Login:
    """The application's login to one endpoint (from the outputs) and, for probes, the admin's."""

    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    admin_user: Optional[str] = None

    def connect(self, *, admin: bool = False, timeout: float = 5.0) -> Any:
        import pymysql

        return pymysql.connect(host=self.host, port=self.port, user=(self.admin_user or self.user) if admin else
                               self.user, password=self.password, database=self.database, autocommit=True,
                               connect_timeout=min(timeout, 3), read_timeout=int(timeout), write_timeout=int(timeout))

    def query(self, sql: str, *, admin: bool = False) -> list[tuple[Any, ...]]:
        with self.connect(admin=admin) as conn, conn.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())


class MariaDBPair(WriterPair):
    """One MariaDB system: INSERTs one row after another as the application's login (a read-only replica
    refuses, a dead server drops the connection: the writer tries the other endpoint)."""

    mechanism = GTID

    def start(self, timeout: float = 30.0) -> None:
        """The drill table on the primary (replicated: GTID replication carries DDL), then the writer."""
        self.primary.query(DDL)
        deadline = time.monotonic() + timeout
        while not self.standby.query(f"SHOW TABLES LIKE '{TABLE}'"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.system}: the replica did not get the drill table within {timeout:.0f}s")
            time.sleep(0.05)
        logins = [self.primary, self.standby]
        connections: list[Any] = [None, None]

        def insert(current: int, n: int) -> None:
            if connections[current] is None:
                connections[current] = logins[current].connect(timeout=2)
            with connections[current].cursor() as cursor:
                cursor.execute(f"INSERT INTO {TABLE} (id) VALUES (%s)", [n])

        def drop(current: int) -> None:
            connection, connections[current] = connections[current], None
            try:
                if connection is not None:
                    connection.close()
            except Exception:  # noqa: BLE001 - a dead connection may not even close
                pass

        self.writer = AckWriter([login.port for login in logins], insert, drop)
        self.writer.start()

    def ids(self, server: Login) -> set[int]:
        return {row[0] for row in server.query(f"SELECT id FROM {TABLE}")}

    def sample_lag(self) -> None:
        """The replica's lag behind the primary in binlog bytes, just before the kill (None: not measurable)."""
        try:
            master = self.primary.query("SHOW MASTER STATUS", admin=True)[0]
            with self.standby.connect(admin=True) as conn:
                import pymysql

                with conn.cursor(pymysql.cursors.DictCursor) as cursor:
                    cursor.execute("SHOW SLAVE STATUS")
                    status = cursor.fetchone()
            if status and status["Relay_Master_Log_File"] == master[0]:
                self.lag_at_kill = max(0, int(master[1]) - int(status["Exec_Master_Log_Pos"]))
        except Exception:  # noqa: BLE001 - a missing sample is reported as such (None)
            self.lag_at_kill = None

    def old_primary_refuses_writes(self) -> tuple[bool, str]:
        """An application insert on the restarted old primary (the fence must make it read-only)."""
        try:
            self.primary.query(f"INSERT INTO {TABLE} (id) VALUES (-1)")
        except Exception as error:  # noqa: BLE001 - the refusal is the evidence
            return True, str(error.args[-1] if error.args else error).splitlines()[0]
        return False, "an application INSERT committed on the restarted old primary"

    def serving_site(self, back_at: float, wait_s: float) -> Optional[str]:
        """The site whose server acknowledged an insert after failback (the other one is read-only)."""
        assert self.writer is not None
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            for site, login in self.servers.items():
                if self.writer.first_ack_after(back_at, login.port) is not None:
                    return site
            time.sleep(0.02)
        return None


def _login(database: Database) -> Login:
    return Login(database.host, database.port, database.database or "", database.user or "",
                 database.password.get_secret_value() if database.password else "",
                 database.local.admin_user if database.local else None)


def mariadb_pairs(document: StackOutputs, sites: set[str]) -> list[MariaDBPair]:
    """Every MySQL/MariaDB system of the document replicated between `sites`, primary site first."""
    pairs = []
    for name, system in document.systems.items():
        placed = {site: p for site, p in system.placements.items() if p.database is not None}
        if system.kind != "mysql" or set(placed) != sites:
            continue
        standby = next(site for site in placed if site != system.primary_site)
        mode = (placed[standby].replication_link or {}).get("mode") or system.replication or "async"
        pairs.append(MariaDBPair(name, system.primary_site, standby,
                                 {site: _login(p.database) for site, p in placed.items()}, mode))
    return pairs
