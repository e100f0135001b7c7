"""A real etcd cluster on 127.0.0.1 for tests and drills: one member per site plus the witness.

etcd comes from Debian (`etcd-server`); as root each member runs as ``nobody`` in a private
directory (multidc.local.postgres.as_server_user). `kill(name)` is a SIGKILL (a site lost),
`start(name)` brings the member back with its data; `stop()` ends every member and removes
the directories. `detached=True` members outlive this process (`multidc local up` starts them so):
`record()` is what the local deployment's state keeps, `LocalEtcd.attach(record)` controls them
again from another process, by their pids.
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

    def __init__(self, names: list[str], *, start_timeout: float = 60.0, detached: bool = False) -> None:
        self.names, self.start_timeout, self.detached = list(names), start_timeout, detached
        self.client_ports = {name: free_port() for name in names}
        self.peer_ports = {name: free_port() for name in names}
        self._dir = Path(tempfile.mkdtemp(prefix="multidc-etcd-"))
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self.pids: dict[str, int] = {}
        self._started = False

    def record(self) -> dict:
        """What another process needs to control these members (JSON)."""
        return {"dir": str(self._dir), "names": self.names, "client_ports": self.client_ports,
                "peer_ports": self.peer_ports, "pids": self.pids}

    @classmethod
    def attach(cls, record: dict) -> "LocalEtcd":
        """Members started detached by another process, from their `record()`."""
        cluster = cls.__new__(cls)
        cluster.names, cluster.start_timeout, cluster.detached = list(record["names"]), 60.0, True
        cluster.client_ports, cluster.peer_ports = dict(record["client_ports"]), dict(record["peer_ports"])
        cluster._dir, cluster._processes, cluster._started = Path(record["dir"]), {}, True
        cluster.pids = {name: int(pid) for name, pid in record["pids"].items()}
        return cluster

    def endpoint(self, name: str) -> str:
        return f"http://127.0.0.1:{self.client_ports[name]}"

    def _command(self, name: str) -> list[str]:
        binary = shutil.which("etcd")
        if binary is None:
            raise LocalEtcdError("etcd is not installed; install it with `make system-deps` (apt-get install etcd-server)")
        cluster = ",".join(f"{n}=http://127.0.0.1:{self.peer_ports[n]}" for n in self.names)
        return [binary, "--name", name, "--data-dir", str(self._dir / name),
                "--listen-client-urls", self.endpoint(name), "--advertise-client-urls", self.endpoint(name),
                "--listen-peer-urls", f"http://127.0.0.1:{self.peer_ports[name]}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_ports[name]}",
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", self._dir.name,
                # One site's loss is noticed within a second, not the WAN defaults.
                "--heartbeat-interval", "100", "--election-timeout", "1000"]

    def start(self, name: Optional[str] = None) -> "LocalEtcd":
        """Every member (the first time), or the one named; returns once each started member is healthy."""
        names = [name] if name else self.names
        first = not self._started
        if _must_drop_privileges() and first:
            uid, gid = _run_as_ids()
            os.chown(self._dir, uid, gid)
        for member in names:
            log = open(self._dir / f"{member}.log", "ab")
            self._processes[member] = subprocess.Popen(as_server_user(self._command(member)), stdout=log,
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
