"""Replication lag between two local servers under a write load: streaming (pgbench), and per mechanism.

Default: async physical streaming under pgbench, as below. With ``--per-mechanism`` each mechanism a
ReplicationLink realises (PostgreSQL logical and streaming, Redis REPLICAOF, MariaDB GTID) is set up
by ``ReplicationLinkProvider.create`` on two real local servers; one client writes single-row commits
for --seconds while ``read`` samples the link's lag; then the same load runs in sync mode where the
engine has one (logical: synchronous_standby_names; GTID: semi-sync) and the commit latency is
printed against the async run's (the baseline, same run):

    PYTHONPATH=. .venv/bin/python benchmarks/replication_lag.py --per-mechanism --seconds 10

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


# --- per mechanism -------------------------------------------------------------------------------

def _writer(mechanism: str, primary, seconds: float):  # type: ignore[no-untyped-def]
    """Single-row commits for `seconds`; returns per-commit latencies in seconds."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    if mechanism in ("logical", "physical-streaming"):
        with primary.connect("app") as conn:
            while time.monotonic() < deadline:
                started = time.monotonic()
                conn.execute("INSERT INTO bench (v) VALUES ('x')")
                latencies.append(time.monotonic() - started)
    elif mechanism == "replicaof":
        client, n = primary.client(), 0
        while time.monotonic() < deadline:
            started = time.monotonic()
            client.set(f"bench:{n}", "x")
            latencies.append(time.monotonic() - started)
            n += 1
    else:
        with primary.connect() as conn, conn.cursor() as cursor:
            while time.monotonic() < deadline:
                started = time.monotonic()
                cursor.execute("INSERT INTO app.bench (v) VALUES ('x')")
                latencies.append(time.monotonic() - started)
    return latencies


def _servers(mechanism: str, stack):  # type: ignore[no-untyped-def]
    from multidc.local.mariadb import LocalMariaDB
    from multidc.local.redis import LocalRedis

    if mechanism == "replicaof":
        primary = stack.enter_context(LocalRedis("bench-a"))
        return primary, stack.enter_context(LocalRedis("bench-b", password=primary.password)), {}
    if mechanism == "gtid":
        primary, standby = stack.enter_context(LocalMariaDB("bench-a")), stack.enter_context(LocalMariaDB("bench-b"))
        with primary.connect() as conn, conn.cursor() as cursor:
            cursor.execute("CREATE DATABASE app")
            cursor.execute("CREATE TABLE app.bench (id bigint AUTO_INCREMENT PRIMARY KEY, v text)")
        return primary, standby, {}
    primary = stack.enter_context(LocalPostgres("bench-a", settings={"wal_level": "logical"}))
    with primary.connect() as conn:
        conn.execute("CREATE DATABASE app")
    with primary.connect("app") as conn:
        conn.execute("CREATE TABLE bench (id bigserial PRIMARY KEY, v text)")
    if mechanism == "logical":
        standby = stack.enter_context(LocalPostgres("bench-b"))
        with standby.connect() as conn:
            conn.execute("CREATE DATABASE app")
        return primary, standby, {}
    standby = LocalPostgres("bench-b", initialize=False, password=primary.password)
    stack.callback(standby.close)
    return primary, standby, {"primary_base_dir": str(primary.data_dir.parent),
                              "standby_base_dir": str(standby.data_dir.parent)}


def per_mechanism(seconds: float, interval: float) -> None:
    from contextlib import ExitStack

    from multidc.providers.replication_link import ReplicationLinkArgs, ReplicationLinkProvider, driver_for, \
        link_from_props

    print(f"{os.cpu_count()} CPUs, loopback, one client of single-row commits, {seconds:.0f}s per run, lag sampled "
          f"every {interval}s through ReplicationLinkProvider.read")
    for mechanism, modes in (("physical-streaming", ("async", "sync")), ("logical", ("async", "sync")),
                             ("replicaof", ("async",)), ("gtid", ("async", "sync"))):
        with ExitStack() as stack:
            primary, standby, options = _servers(mechanism, stack)
            baseline = None
            for mode in modes:
                props = ReplicationLinkArgs(
                    system="bench", primary_site="a", standby_site="b", mechanism=mechanism, mode=mode,
                    primary={"host": primary.host, "port": primary.port, "user": getattr(primary, "user", None),
                             "database": "app"},
                    standby={"host": standby.host, "port": standby.port, "user": getattr(standby, "user", None),
                             "database": "app"},
                    primary_password=primary.password, standby_password=standby.password, options=options,
                    timeout_s=120).to_props()
                provider = ReplicationLinkProvider()
                started = time.monotonic()
                provider.create(props) if mode == modes[0] else provider.update("", {"state": "replicating"}, props)
                setup_s = time.monotonic() - started
                link, lags = link_from_props(props), Samples()
                driver, done = driver_for(mechanism), threading.Event()

                def sample() -> None:
                    while not done.is_set():
                        health = driver.read(link)
                        lags.lag_bytes.append(health.lag_bytes or 0)
                        if health.lag_seconds is not None:
                            lags.replay_lag_s.append(health.lag_seconds)
                        time.sleep(interval)

                sampler = threading.Thread(target=sample)
                sampler.start()
                latencies = _writer(mechanism, primary, seconds)
                done.set()
                sampler.join()
                median = statistics.median(latencies)
                ratio = "" if baseline is None else f", {median / baseline:.2f}x the async median"
                baseline = baseline or median
                print(f"{mechanism} {mode}: set up in {setup_s:.2f}s; {len(latencies) / seconds:.0f} commits/s, "
                      f"commit median {median * 1000:.3f} ms{ratio}")
                print(f"  lag bytes  : {_summary(lags.lag_bytes, 'B', '.0f')}")
                print(f"  lag seconds: {_summary([v * 1000 for v in lags.replay_lag_s], 'ms', '.3f')}")
            driver_for(mechanism).delete(link)


if __name__ == "__main__":
    import sys

    if "--per-mechanism" in sys.argv:
        parser = argparse.ArgumentParser()
        parser.add_argument("--per-mechanism", action="store_true")
        parser.add_argument("--seconds", type=float, default=10)
        parser.add_argument("--interval", type=float, default=0.2)
        options = parser.parse_args()
        per_mechanism(options.seconds, options.interval)
    else:
        main()
