"""A real etcd cluster on 127.0.0.1 for tests and drills: one member per site plus the witness.

etcd comes from Debian (`etcd-server`); as root each member runs as ``nobody`` in a private
directory (multidc.local.postgres.as_server_user). `kill(name)` is a SIGKILL (a site lost),
`start(name)` brings the member back with its data; `stop()` ends every member and removes
the directories. `detached=True` members outlive this process (`multidc local up` starts them so):
`record()` is what the local deployment's state keeps, `LocalEtcd.attach(record)` controls them
again from another process, by their pids.

In a partition drill each member runs in its location's network namespace: `hosts` gives each
member's address (it then listens on the standard ports 2379 and 2380 there) and `launchers` the
command prefix that starts it inside (`ip netns exec NS`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Optional

from .process import terminate
from .postgres import _must_drop_privileges, _pid_alive, _run_as_ids, as_server_user, free_port


class LocalEtcdError(RuntimeError):
    """The cluster could not start; the message has the member's log and the fix."""


class LocalEtcd:
    """Members `names` (e.g. astana, almaty, karaganda), each with a client and a peer port on 127.0.0.1."""

    def __init__(self, names: list[str], *, start_timeout: float = 60.0, detached: bool = False,
                 hosts: Optional[dict[str, str]] = None, launchers: Optional[dict[str, list[str]]] = None) -> None:
        self.names, self.start_timeout, self.detached = list(names), start_timeout, detached
        self.hosts = dict(hosts or {name: "127.0.0.1" for name in names})
        self.launchers = dict(launchers or {})
        self.client_ports = {name: 2379 if hosts else free_port() for name in names}
        self.peer_ports = {name: 2380 if hosts else free_port() for name in names}
        self._dir = Path(tempfile.mkdtemp(prefix="multidc-etcd-"))
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self.pids: dict[str, int] = {}
        self._started = False

    def record(self) -> dict:
        """What another process needs to control these members (JSON)."""
        return {"dir": str(self._dir), "names": self.names, "client_ports": self.client_ports,
                "peer_ports": self.peer_ports, "pids": self.pids, "hosts": self.hosts, "launchers": self.launchers}

    @classmethod
    def attach(cls, record: dict) -> "LocalEtcd":
        """Members started detached by another process, from their `record()`."""
        cluster = cls.__new__(cls)
        cluster.names, cluster.start_timeout, cluster.detached = list(record["names"]), 60.0, True
        cluster.client_ports, cluster.peer_ports = dict(record["client_ports"]), dict(record["peer_ports"])
        cluster._dir, cluster._processes, cluster._started = Path(record["dir"]), {}, True
        cluster.pids = {name: int(pid) for name, pid in record["pids"].items()}
        cluster.hosts = dict(record.get("hosts") or {name: "127.0.0.1" for name in cluster.names})
        cluster.launchers = dict(record.get("launchers") or {})
        return cluster

    def endpoint(self, name: str) -> str:
        return f"http://{self.hosts[name]}:{self.client_ports[name]}"

    def _peer_url(self, name: str) -> str:
        return f"http://{self.hosts[name]}:{self.peer_ports[name]}"

    def _command(self, name: str) -> list[str]:
        binary = shutil.which("etcd")
        if binary is None:
            raise LocalEtcdError("etcd is not installed; install it with `make system-deps` (apt-get install etcd-server)")
        cluster = ",".join(f"{n}={self._peer_url(n)}" for n in self.names)
        return [binary, "--name", name, "--data-dir", str(self._dir / name),
                "--listen-client-urls", self.endpoint(name), "--advertise-client-urls", self.endpoint(name),
                "--listen-peer-urls", self._peer_url(name), "--initial-advertise-peer-urls", self._peer_url(name),
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", self._dir.name,
                # One site's loss is noticed within a second, not the WAN defaults.
                "--heartbeat-interval", "100", "--election-timeout", "1000",
                # A member cut off and back (a healed partition) asks before it calls an election, so
                # its higher term does not depose a leader the others still follow.
                "--pre-vote"]

    def start(self, name: Optional[str] = None) -> "LocalEtcd":
        """Every member (the first time), or the one named; returns once each started member is healthy."""
        names = [name] if name else self.names
        first = not self._started
        if _must_drop_privileges() and first:
            uid, gid = _run_as_ids()
            os.chown(self._dir, uid, gid)
        for member in names:
            log = open(self._dir / f"{member}.log", "ab")
            self._processes[member] = subprocess.Popen([*self.launchers.get(member, ()),
                                                        *as_server_user(self._command(member))], stdout=log,
                                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd="/",
                                                       start_new_session=self.detached)
            self.pids[member] = self._processes[member].pid
            log.close()
        self._started = True
        deadline = time.monotonic() + self.start_timeout
        waiting = set(names)
        while waiting and time.monotonic() < deadline:
            waiting = {m for m in waiting if not self.healthy(m)}
            dead = [m for m in waiting if self._processes[m].poll() is not None]
            if dead:
                break
            time.sleep(0.1)
        if waiting:
            logs = "\n".join(f"--- {m}\n" + (self._dir / f"{m}.log").read_text(errors="replace")[-1500:]
                             for m in sorted(waiting))
            if first:
                self.stop()
            else:  # one member coming back: the others keep running
                for member in waiting:
                    self.kill(member)
            raise LocalEtcdError(f"etcd members {', '.join(sorted(waiting))} not healthy within "
                                 f"{self.start_timeout:.0f}s:\n{logs}")
        return self

    def healthy(self, name: str) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint(name) + "/health", timeout=1) as reply:
                return json.loads(reply.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def kill(self, name: str) -> None:
        """SIGKILL member `name` (a site lost with it); returns once it is gone. Idempotent."""
        process = self._processes.pop(name, None)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        self._signal(name, signal.SIGKILL)

    def alive(self, name: str) -> bool:
        return name in self.pids and _pid_alive(self.pids[name])

    def _signal(self, name: str, sig: signal.Signals) -> None:
        from .deployment import _kill_pid  # signals, waits, escalates to SIGKILL

        pid = self.pids.pop(name, None)
        if pid is not None:
            _kill_pid(pid, sig, timeout=10)

    def stop(self) -> None:
        for name in list(self._processes):
            terminate(self._processes.pop(name))
        for name in list(self.pids):
            self._signal(name, signal.SIGTERM)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "LocalEtcd":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _post(endpoint: str, path: str, body: dict[str, object], timeout: float = 2.0) -> dict[str, object]:
    request = urllib.request.Request(f"{endpoint}/v3/{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return json.loads(reply.read())


def leader(endpoints: dict[str, str]) -> Optional[str]:
    """The name of the cluster's leader, as the first member that knows one sees it (None: none does)."""
    for endpoint in endpoints.values():
        try:
            status = _post(endpoint, "maintenance/status", {})
            members = _post(endpoint, "cluster/member/list", {})["members"]
        except (OSError, ValueError, KeyError):
            continue
        found = next((m["name"] for m in members if str(m["ID"]) == str(status.get("leader"))), None)
        if found is not None:
            return found  # else this member has no leader now (cut off): ask the next one
    return None


def move_leader(endpoints: dict[str, str], to: str, timeout: float = 15.0) -> None:
    """Make member `to` the leader (etcd's leadership transfer, `etcdctl move-leader`); bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = leader(endpoints)
        if current == to:
            return
        if current is not None:
            try:
                members = _post(endpoints[current], "cluster/member/list", {})["members"]
                target = next(m["ID"] for m in members if m["name"] == to)
                _post(endpoints[current], "maintenance/transfer-leadership", {"targetID": str(target)}, timeout=5)
            except (OSError, ValueError, KeyError, StopIteration):
                pass
        time.sleep(0.2)
    raise LocalEtcdError(f"etcd member {to} did not become the leader within {timeout:.0f}s "
                         f"(leader: {leader(endpoints)})")
