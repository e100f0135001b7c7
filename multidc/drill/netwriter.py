"""The partition drill's writer, run inside one site's network namespace (`ip netns exec NS python -m ...`).

It connects to its own site's databases (their site address: the application of that site) and
inserts one row after another into each, appending every acknowledged commit to `<OUT>/<system>.acks`
as `id acknowledged begun` (CLOCK_MONOTONIC seconds, multidc.drill.acks). A refused or failed write
is not recorded and its id is never used again. The connection strings come on stdin as JSON
(`{"first_id": N, "systems": {"core-db": "host=... password=..."}}`), never on the command line.
Runs until SIGTERM.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path

import psycopg

RETRY_S = 0.05


def _now() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def write(conninfo: str, out: Path, first_id: int, stop: threading.Event) -> None:
    """Insert until `stop`; every acknowledged commit goes to `out` at once (flushed)."""
    next_id, conn = first_id, None
    with out.open("a") as record:
        while not stop.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=2)
                begun = _now()
                conn.execute("INSERT INTO drill (id) VALUES (%s)", [next_id])
                record.write(f"{next_id} {_now():.6f} {begun:.6f}\n")
                record.flush()
            except psycopg.Error:
                # A new session each time: a promoted server's settings (no longer read-only) reach new
                # sessions only. Not in a tight loop: a standby refuses every write until promoted.
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(RETRY_S)
            next_id += 1  # a failed attempt may have committed: its id is never reused


def main() -> None:
    out = Path(sys.argv[1])
    config = json.load(sys.stdin)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    for name, conninfo in config["systems"].items():
        threading.Thread(target=write, args=(conninfo, out / f"{name}.acks", int(config["first_id"]), stop),
                         daemon=True).start()
    while not stop.wait(0.5):
        pass
    # A commit waiting for a synchronous standby that is cut off never returns: daemon threads end with us.


if __name__ == "__main__":
    main()
