"""Automatic trigger: a site-health watcher that fails over only with the witness's agreement.

The decision is a pure function over a frozen snapshot (after Patroni's HA loop): tests
assert on its decision and its reason. The watcher around it only gathers snapshots.

Why a witness: from the standby's site, a burnt primary site and a cut interconnect look
the same (no heartbeats). Failing over on a cut link gives two primaries that both take
writes. A witness in a third location can still see the primary if only the link is cut;
it agrees only when it cannot reach the primary either.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Mapping, Optional

WAIT, FAILOVER, REFUSE = "wait", "failover", "refuse"


@dataclass(frozen=True)
class SiteSnapshot:
    """What the watcher knows at one moment."""

    primary_site: str
    missed_heartbeats: int
    threshold: int
    witness_problem: Optional[str]  # None: a qualified witness is configured
    witness_sees_primary: Optional[bool]  # None: not asked yet, or the witness did not answer
    standby_healthy: bool = True


@dataclass(frozen=True)
class Decision:
    action: str  # wait, failover, refuse
    reason: str


def decide(snapshot: SiteSnapshot) -> Decision:
    """Fail over only when the primary missed `threshold` heartbeats and the witness cannot see it either."""
    s = snapshot
    if s.missed_heartbeats < s.threshold:
        return Decision(WAIT, f"{s.primary_site} missed {s.missed_heartbeats} of {s.threshold} heartbeats")
    if s.witness_problem is not None:
        return Decision(REFUSE, f"{s.primary_site} missed {s.missed_heartbeats} heartbeats, but automatic failover "
                                f"is refused: {s.witness_problem}. An operator must declare the site lost.")
    if s.witness_sees_primary is None:
        return Decision(REFUSE, f"{s.primary_site} missed {s.missed_heartbeats} heartbeats and the witness does not "
                                "answer: this site may be the one cut off. No automatic failover.")
    if s.witness_sees_primary:
        return Decision(REFUSE, f"the witness still reaches {s.primary_site}: the interconnect is cut, the site is "
                                "up. No failover (relax synchronous replication if writes block).")
    if not s.standby_healthy:
        return Decision(REFUSE, f"{s.primary_site} is lost but the standby is not healthy; an operator must decide")
    return Decision(FAILOVER, f"{s.primary_site} missed {s.missed_heartbeats} heartbeats and the witness cannot "
                              "reach it either")


class Watcher:
    """Polls the primary's heartbeat; after `threshold` misses in a row asks the witness and decides.

    `heartbeat()` returns True when the primary answered; `witness()` returns whether the
    witness reaches the primary (None: no answer). Bounded: `watch(timeout)` returns at
    the latest after `timeout` seconds.
    """

    def __init__(self, primary_site: str, heartbeat: Callable[[], bool],
                 witness: Optional[Callable[[], Optional[bool]]], *, witness_problem: Optional[str],
                 interval: float = 1.0, threshold: int = 3,
                 standby_healthy: Callable[[], bool] = lambda: True) -> None:
        if threshold < 1:
            raise ValueError(f"threshold {threshold}: at least one missed heartbeat is needed to declare a site lost")
        self.primary_site, self.heartbeat, self.witness = primary_site, heartbeat, witness
        self.witness_problem, self.interval, self.threshold = witness_problem, interval, threshold
        self.standby_healthy = standby_healthy

    def watch(self, timeout: float, stop: Optional[threading.Event] = None) -> Decision:
        deadline = time.monotonic() + timeout
        missed = 0
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            beat_started = time.monotonic()
            missed = 0 if self.heartbeat() else missed + 1
            sees = None
            if missed >= self.threshold and self.witness_problem is None and self.witness is not None:
                sees = self.witness()
            decision = decide(SiteSnapshot(self.primary_site, missed, self.threshold, self.witness_problem, sees,
                                           self.standby_healthy() if missed >= self.threshold else True))
            if decision.action != WAIT:
                return decision
            time.sleep(max(0.0, self.interval - (time.monotonic() - beat_started)))
        return Decision(WAIT, f"no decision within {timeout:.0f}s; {self.primary_site} missed {missed} heartbeats")


# --- the witness: a small HTTP service in the third location -------------------------------------

class WitnessServer:
    """GET /v1/sites/<site> -> {"site": ..., "reachable": bool}, from the witness's own probes.

    `probes` maps a site to a function that checks it from where the witness runs. Listens
    on 127.0.0.1 (a free port) here; in production it runs at the spec's witness endpoint.
    """

    def __init__(self, probes: Mapping[str, Callable[[], bool]], host: str = "127.0.0.1", port: int = 0) -> None:
        probes = dict(probes)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                site = self.path.rstrip("/").rsplit("/", 1)[-1]
                if not self.path.startswith("/v1/sites/") or site not in probes:
                    self.send_error(404, f"unknown site; known: {', '.join(probes)}")
                    return
                body = json.dumps({"site": site, "reachable": bool(probes[site]())}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "WitnessServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def ask_witness(endpoint: str, site: str, timeout: float = 1.0) -> Optional[bool]:
    """Whether the witness at `endpoint` reaches `site`; None when the witness does not answer in time."""
    try:
        with urllib.request.urlopen(f"{endpoint.rstrip('/')}/v1/sites/{site}", timeout=timeout) as response:
            return bool(json.loads(response.read())["reachable"])
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return None
