"""Async streaming-replication lag between two local PostgreSQL servers under a pgbench load.

Prints the lag (bytes of WAL not yet replayed by the standby, and PostgreSQL's measured
replay_lag in seconds) sampled every --interval seconds from pg_stat_replication through
multidc.protection.postgres.replication_status, first with the primary idle (the
baseline, same run), then under pgbench TPC-B-like load. A benchmark, not a test: it
prints figures and never fails on a slow machine.

    PYTHONPATH=. .venv/bin/python benchmarks/replication_lag.py --seconds 20 --clients 4
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field

from multidc.local.postgres import LocalPostgres
from multidc.protection import postgres as rep


@dataclass
class Samples:
    lag_bytes: list[int] = field(default_factory=list)
    replay_lag_s: list[float] = field(default_factory=list)
    null_replay_lag: int = 0

    def take(self, primary: LocalPostgres) -> None:
        [status] = rep.replication_status(primary)
        self.lag_bytes.append(status.lag_bytes or 0)
        if status.replay_lag_s is None:
            self.null_replay_lag += 1
        else:
            self.replay_lag_s.append(status.replay_lag_s)

    def report(self, label: str) -> None:
        print(f"{label}: {len(self.lag_bytes)} samples")
        print(f"  lag bytes  : {_summary(self.lag_bytes, 'B', '.0f')}")
        print(f"  replay_lag : {_summary([s * 1000 for s in self.replay_lag_s], 'ms', '.3f')}"
              f" ({self.null_replay_lag} samples NULL = caught up and idle)")


def _summary(values: list[float] | list[int], unit: str, spec: str) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return (f"median {statistics.median(ordered):{spec}} {unit}, p95 {p95:{spec}} {unit}, "
            f"max {ordered[-1]:{spec}} {unit}")


def sample_for(primary: LocalPostgres, seconds: float, interval: float, stop: threading.Event | None = None) -> Samples:
    samples = Samples()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (stop and stop.is_set()):
        samples.take(primary)
        time.sleep(interval)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--scale", type=int, default=5, help="pgbench scale factor")
    parser.add_argument("--fsync-off", action="store_true", help="test-only speed setting")
    args = parser.parse_args()

    settings = {"fsync": "off"} if args.fsync_off else {}
    auth = rep.ReplicationAuth(password="bench-replicator")
    with LocalPostgres("bench-a", settings=settings) as primary, \
            LocalPostgres("bench-b", initialize=False, password=primary.password, settings=settings) as standby:
        rep.configure_primary(primary, auth, ["site_b"])
        rep.create_standby(primary, standby, auth, name="site_b")
        pgbench = rep.pg_client_tool("pgbench")
        env = {**os.environ, "PGPASSWORD": primary.password}
        target = ["-h", primary.host, "-p", str(primary.port), "-U", primary.user, "postgres"]
        subprocess.run([pgbench, "-i", "-q", "-s", str(args.scale), *target], env=env, check=True,
                       capture_output=True)
        rep.wait_for_replay(primary, standby, timeout=120)

        with primary.connect() as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        print(f"PostgreSQL {version}, "
              f"async streaming replication on 127.0.0.1, fsync={'off' if args.fsync_off else 'on'}, "
              f"{os.cpu_count()} CPUs, pgbench scale {args.scale}, {args.clients} clients, "
              f"sampling every {args.interval}s")
        sample_for(primary, 3, args.interval)  # let replay_lag settle to idle
        sample_for(primary, min(5.0, args.seconds), args.interval).report("baseline, primary idle")

        bench = subprocess.Popen(
            [pgbench, "-c", str(args.clients), "-j", str(min(args.clients, os.cpu_count() or 1)),
             "-T", str(int(args.seconds)), "-n", *target],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        done = threading.Event()
        result: dict[str, Samples] = {}
        sampler = threading.Thread(
            target=lambda: result.setdefault("load", sample_for(primary, args.seconds + 5, args.interval, done)))
        sampler.start()
        output, _ = bench.communicate()
        done.set()
        sampler.join()
        tps = next((line for line in output.splitlines() if line.startswith("tps")), "tps: ?")
        result["load"].report(f"under pgbench load ({tps.strip()})")
        caught_up_from = time.monotonic()
        rep.wait_for_replay(primary, standby, timeout=120)
        print(f"standby caught up {time.monotonic() - caught_up_from:.3f}s after the load stopped")


if __name__ == "__main__":
    main()
