"""A MariaDB/MySQL system in the site-loss drill: a writer through both endpoints, and what it measures.

The writer logs in as the application does (the placement's login from the outputs document,
which ``read_only`` stops) and INSERTs one row after another into a ``drill`` table of the
system's database on whichever endpoint takes them. The pair offers what the drill asks of a
replicated system (as ``multidc.drill.redis_pair`` does for Redis): RTO from the kill to the
first insert the surviving server acknowledged, the acknowledged inserts the new primary lacks
(0 for ``sync``: semi-synchronous, AFTER_SYNC), and for ``async`` the replica's lag at the moment
of the kill in binlog bytes (the primary's ``SHOW MASTER STATUS`` position minus the replica's
``Exec_Master_Log_Pos``, same binlog file).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from multidc.contract import GTID
from multidc.ops.outputs import Database, StackOutputs

from .report import SystemResult

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


class MariaDBWriter:
    """INSERTs one row after another where writes are taken, remembering every acknowledged one.

    As a client without a proxy would: on an error (a read-only replica refuses, a dead server
    drops the connection) it tries the other endpoint. An id whose insert failed is never reused:
    it may have been applied.
    """

    def __init__(self, endpoints: list[Login]) -> None:
        self.endpoints = endpoints
        self.acks: list[tuple[int, float, int]] = []  # id, acknowledged at, port
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        current, n, conn = 0, 1, None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = self.endpoints[current].connect(timeout=2)
                with conn.cursor() as cursor:
                    cursor.execute(f"INSERT INTO {TABLE} (id) VALUES (%s)", [n])
                self.acks.append((n, time.monotonic(), self.endpoints[current].port))
            except Exception:  # noqa: BLE001 - any failure: this endpoint does not take writes now
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:  # noqa: BLE001 - a dead connection may not even close
                        pass
                conn, current = None, 1 - current
                time.sleep(0.01)
            n += 1
        if conn is not None:
            conn.close()

    def first_ack_after(self, moment: float, port: int) -> Optional[float]:
        return next((t for _, t, p in self.acks if t > moment and p == port), None)

    def acked(self, port: Optional[int] = None) -> set[int]:
        return {n for n, _, p in self.acks if port in (None, p)}

    def halt(self) -> None:
        self.stop.set()
        self._thread.join(timeout=10)


def _ids(login: Login) -> set[int]:
    return {row[0] for row in login.query(f"SELECT id FROM {TABLE}")}


@dataclass
class MariaDBPair:
    """One MariaDB system's two servers (by site) in the drill, its writer and its result."""

    system: str
    mode: str
    primary_site: str
    standby_site: str
    logins: dict[str, Login]
    writer: Optional[MariaDBWriter] = None
    lag_at_kill: Optional[int] = None
    result: Optional[SystemResult] = None
    lost: set[int] = field(default_factory=set)

    @property
    def primary(self) -> Login:
        return self.logins[self.primary_site]

    @property
    def standby(self) -> Login:
        return self.logins[self.standby_site]

    def start(self, timeout: float = 30.0) -> None:
        """The drill table on the primary (replicated: GTID replication carries DDL), then the writer."""
        self.primary.query(DDL)
        deadline = time.monotonic() + timeout
        while not self.standby.query(f"SHOW TABLES LIKE '{TABLE}'"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.system}: the replica did not get the drill table within {timeout:.0f}s")
            time.sleep(0.05)
        self.writer = MariaDBWriter([self.primary, self.standby])
        self.writer.start()

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

    def after_failover(self, from_site: str, kill_at: float, command_at: float, wait_s: float = 30.0) -> SystemResult:
        """RTO from the kill to the first insert the surviving server acknowledged; acknowledged inserts lost."""
        assert self.writer is not None
        failed_over = self.primary_site == from_site
        serving = self.standby if failed_over else self.primary
        outcome = SystemResult(self.system, self.mode, self.primary_site, self.standby_site, GTID, failed_over)
        outcome.lag_at_kill_bytes = self.lag_at_kill
        deadline = time.monotonic() + wait_s
        while self.writer.first_ack_after(kill_at, serving.port) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        first = self.writer.first_ack_after(kill_at, serving.port)
        outcome.writes_continued = first is not None
        if first is not None:
            outcome.rto_from_kill_s = first - kill_at
            outcome.rto_from_command_s = first - command_at if failed_over else None
        acked = self.writer.acked(self.primary.port)
        self.lost = acked - _ids(serving)
        outcome.acknowledged = len(acked)
        outcome.missing_after_failover = len(self.lost)
        self.result = outcome
        return outcome

    def old_primary_refuses_writes(self) -> tuple[bool, str]:
        """An application insert on the restarted old primary (the fence must make it read-only)."""
        try:
            self.primary.query(f"INSERT INTO {TABLE} (id) VALUES (-1)")
        except Exception as error:  # noqa: BLE001 - the refusal is the evidence
            return True, str(error.args[-1] if error.args else error).splitlines()[0]
        return False, "an application INSERT committed on the restarted old primary"

    def after_failback(self, back_at: float, wait_s: float = 30.0) -> None:
        """Writes resume on the server that takes them now; every insert acknowledged before is there,
        except (async) what only the killed primary had, counted as lost at the failover."""
        assert self.writer is not None and self.result is not None
        deadline = time.monotonic() + wait_s
        serving_site = None
        while serving_site is None and time.monotonic() < deadline:
            serving_site = next((site for site, login in self.logins.items()
                                 if self.writer.first_ack_after(back_at, login.port) is not None), None)
            time.sleep(0.02)
        self.writer.halt()
        if serving_site is None:
            return
        serving = self.logins[serving_site]
        self.result.primary_after_failback = serving_site
        self.result.acknowledged_total = len(self.writer.acked())
        self.result.missing_after_failback = len(self.writer.acked() - self.lost - _ids(serving))
        self.result.failback_done = True


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
        pairs.append(MariaDBPair(name, mode, system.primary_site, standby,
                                 {site: _login(p.database) for site, p in placed.items()}))
    return pairs
