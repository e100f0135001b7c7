"""Automatic failover on the etcd lease, repeated: how long a standby waits before it may take over,
and how early a primary cut from its quorum fences itself.

Each run starts a real three-member etcd cluster on loopback (Debian etcd-server; members astana,
almaty, karaganda, as multidc.local.etcd), lets astana's watcher take and renew the lease (TTL
`--ttl`), then either SIGKILLs astana's member and stops its watcher (the site is lost: measured,
kill -> almaty's watcher holds the lease and calls its take-over, i.e. the moment `multidc failover`
would start), or SIGKILLs the two other members (astana is cut from the quorum: measured, cut ->
astana fences itself, and the lead that fence has over the earliest moment the lease could expire
on a surviving leader). The failover command's own time comes on top (see benchmarks/drill.py).
Anchor, not measured here: Patroni's defaults (ttl 30 s, loop_wait 10 s, retry_timeout 10 s) fail
over in about 30-40 s. A benchmark, not a test: it prints figures and never fails.

    PYTHONPATH=. .venv/bin/python benchmarks/lease.py --runs 10 --ttl 3
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from multidc.local.etcd import LocalEtcd
from multidc.ops.lease import Etcd, SiteLease
from multidc.ops.watch import Watcher

SITES = ["astana", "almaty", "karaganda"]
KEY = "/multidc/bench/primary"
PATRONI_DEFAULTS = {"ttl_s": 30, "loop_wait_s": 10, "retry_timeout_s": 10, "failover_s": "about 30-40"}


def _watch(watcher: Watcher, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=watcher.run, args=(stop.is_set,), daemon=True)
    thread.start()
    return thread


def site_lost(ttl: int) -> float:
    """Seconds from the kill of the primary site to the standby's take-over."""
    with LocalEtcd(SITES) as cluster:
        taken = threading.Event()
        stop_primary, stop_standby = threading.Event(), threading.Event()
        primary = Watcher(SiteLease(Etcd(cluster.endpoint("astana")), KEY, "astana", ttl), fence=lambda: None,
                          take_over=lambda token: None, primary=True)
        standby = Watcher(SiteLease(Etcd(cluster.endpoint("almaty")), KEY, "almaty", ttl), fence=lambda: None,
                          take_over=lambda token: taken.set(), primary=False)
        threads = [_watch(primary, stop_primary)]
        while primary.lease.token is None:
            time.sleep(0.05)
        threads.append(_watch(standby, stop_standby))
        time.sleep(ttl)  # steady state
        killed = time.monotonic()
        stop_primary.set()
        cluster.kill("astana")
        taken.wait(timeout=10 * ttl)
        seconds = time.monotonic() - killed
        stop_standby.set()
        for thread in threads:
            thread.join(timeout=5)
        return seconds


def quorum_lost(ttl: int) -> tuple[float, float]:
    """Seconds from the cut to the primary's self-fence, and its lead over the lease's earliest expiry."""
    with LocalEtcd(SITES) as cluster:
        fenced: list[float] = []
        stop = threading.Event()
        lease = SiteLease(Etcd(cluster.endpoint("astana"), timeout=0.5), KEY, "astana", ttl)
        primary = Watcher(lease, fence=lambda: fenced.append(time.monotonic()), take_over=lambda token: None,
                          primary=True)
        thread = _watch(primary, stop)
        while lease.token is None:
            time.sleep(0.05)
        time.sleep(ttl)
        last_answered = lease.renewal_sent
        cut = time.monotonic()
        cluster.kill("almaty")
        cluster.kill("karaganda")
        deadline = time.monotonic() + 10 * ttl
        while not fenced and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        thread.join(timeout=5)
        last_answered = lease.renewal_sent or last_answered
        # The lease cannot expire on a leader before last renewal sent + ttl (etcd counts from receipt).
        return fenced[0] - cut, (last_answered + ttl) - fenced[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--ttl", type=int, default=3)
    args = parser.parse_args()
    takeovers = [site_lost(args.ttl) for _ in range(args.runs)]
    fences = [quorum_lost(args.ttl) for _ in range(args.runs)]
    print(f"lease TTL {args.ttl} s, {args.runs} runs, 3 etcd members on loopback")
    print(f"site lost -> standby takes the lease: median {statistics.median(takeovers):.2f} s, "
          f"worst {max(takeovers):.2f} s")
    print(f"quorum lost -> primary fences itself: median {statistics.median(f for f, _ in fences):.2f} s, "
          f"worst {max(f for f, _ in fences):.2f} s; its lead over the lease's earliest expiry: "
          f"smallest {min(lead for _, lead in fences):.2f} s (must be > 0)")
    print(f"Patroni defaults (anchor, not measured): ttl {PATRONI_DEFAULTS['ttl_s']} s, loop_wait "
          f"{PATRONI_DEFAULTS['loop_wait_s']} s, retry_timeout {PATRONI_DEFAULTS['retry_timeout_s']} s: failover "
          f"{PATRONI_DEFAULTS['failover_s']} s; ratio of TTLs {PATRONI_DEFAULTS['ttl_s'] / args.ttl:.0f}x")


if __name__ == "__main__":
    main()
