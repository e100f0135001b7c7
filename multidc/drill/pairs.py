"""A replicated system other than PostgreSQL in the site-loss drill: a writer through both endpoints
and what the drill measures on it (Redis: ``redis_pair.py``, MariaDB: ``mariadb_pair.py``).

The writer writes one numbered item after another on whichever endpoint takes it, as a client
without a proxy would (on an error it tries the other endpoint), and remembers every acknowledged
one with the server that acknowledged it. The pair reports RTO from the kill to the first write the
surviving server acknowledged, the acknowledged writes the new primary lacks, the replica's lag
just before the kill (``sample_lag``), the killed old primary refusing a write once its site is back,
and after failback every acknowledged write except those only the killed primary had.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .report import SystemResult


class AckWriter:
    """A thread calling ``write(endpoint index, n)`` for n = 1, 2, ...; never reuses an n whose write failed
    (it may have been applied)."""

    def __init__(self, ports: list[int], write: Callable[[int, int], None],
                 drop: Callable[[int], None] = lambda _: None) -> None:
        self.ports, self.write, self.drop = ports, write, drop
        self.acks: list[tuple[int, float, int, float]] = []  # n, acknowledged at, port, begun at
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        current, n = 0, 1
        while not self.stop.is_set():
            begun = time.monotonic()
            try:
                self.write(current, n)
                self.acks.append((n, time.monotonic(), self.ports[current], begun))
            except Exception:  # noqa: BLE001 - any failure: this endpoint does not take writes now
                self.drop(current)
                current = 1 - current
                time.sleep(0.01)
            n += 1

    def first_ack_after(self, moment: float, port: int) -> Optional[float]:
        return next((t for _, t, p, _ in self.acks if t > moment and p == port), None)

    def acked(self, port: Optional[int] = None) -> set[int]:
        return {n for n, _, p, _ in self.acks if port in (None, p)}

    def halt(self) -> None:
        self.stop.set()
        self._thread.join(timeout=10)


@dataclass
class WriterPair:
    """One system's two servers (by site) in the drill, its writer and its result."""

    system: str
    primary_site: str
    standby_site: str
    servers: dict[str, Any]
    mode: str = "async"
    writer: Optional[AckWriter] = None
    lag_at_kill: Optional[int] = None
    result: Optional[SystemResult] = None
    lost: set[int] = field(default_factory=set)

    mechanism = ""

    @property
    def primary(self) -> Any:
        return self.servers[self.primary_site]

    @property
    def standby(self) -> Any:
        return self.servers[self.standby_site]

    def ids(self, server: Any) -> set[int]:
        """The numbers of the items present on `server`."""
        raise NotImplementedError

    def serving_site(self, back_at: float, wait_s: float) -> Optional[str]:
        """The site whose server takes writes after failback."""
        raise NotImplementedError

    def _wait_ack(self, moment: float, port: int, wait_s: float) -> Optional[float]:
        assert self.writer is not None
        deadline = time.monotonic() + wait_s
        while self.writer.first_ack_after(moment, port) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.writer.first_ack_after(moment, port)

    def after_failover(self, from_site: str, kill_at: float, command_at: float, wait_s: float = 30.0) -> SystemResult:
        """RTO from the kill to the first write the surviving server acknowledged; acknowledged writes lost."""
        assert self.writer is not None
        failed_over = self.primary_site == from_site
        serving = self.standby if failed_over else self.primary
        outcome = SystemResult(self.system, self.mode, self.primary_site, self.standby_site, self.mechanism,
                               failed_over)
        outcome.lag_at_kill_bytes = self.lag_at_kill
        first = self._wait_ack(kill_at, serving.port, wait_s)
        outcome.writes_continued = first is not None
        if first is not None:
            outcome.rto_from_kill_s = first - kill_at
            outcome.rto_from_command_s = first - command_at if failed_over else None
        acked = self.writer.acked(self.primary.port)
        self.lost = acked - self.ids(serving)
        outcome.acknowledged = len(acked)
        outcome.missing_after_failover = len(self.lost)
        self.result = outcome
        return outcome

    def after_failback(self, back_at: float, wait_s: float = 30.0) -> None:
        """Writes resume on the server that takes them now; every write acknowledged before is there, except
        those only the killed primary had (asynchronous: counted as lost at the failover)."""
        assert self.writer is not None and self.result is not None
        serving_site = self.serving_site(back_at, wait_s)
        if serving_site is None:
            self.writer.halt()
            return
        serving = self.servers[serving_site]
        self._wait_ack(back_at, serving.port, wait_s)
        self.writer.halt()
        self.result.primary_after_failback = serving_site
        self.result.acknowledged_total = len(self.writer.acked())
        self.result.missing_after_failback = len(self.writer.acked() - self.lost - self.ids(serving))
        self.result.failback_done = True


def stop_all(pairs: list[WriterPair]) -> Any:
    """A stopper for the drill's cleanup."""
    def stop() -> None:
        for pair in pairs:
            if pair.writer is not None:
                pair.writer.halt()
    return stop
