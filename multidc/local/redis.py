"""A real local Redis server (Debian's ``redis-server``) for one site.

It runs as the unprivileged user ``nobody`` when we are root (as ``multidc.local.postgres``
does), listens on 127.0.0.1 on a free port, requires a password, keeps an append-only file in
its own directory, and writes a pid file there so that another process (``multidc local
kill``) can find and kill it. ``close()`` stops it and deletes its directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from multidc.local.postgres import _must_drop_privileges, _run_as_ids, as_server_user
from multidc.local.process import PidFileServer

REDIS_SERVER = "redis-server"
INSTALL_HINT = "install: make system-deps, or apt-get install redis-server"


class LocalRedisError(RuntimeError):
    """A local Redis server could not be started or stopped; the message names it and the fix."""


class LocalRedis(PidFileServer):
    """One ``redis-server`` process; ``detached`` ones outlive this process (a local deployment)."""

    engine = "redis"

    def __init__(self, name: str = "redis", *, port: Optional[int] = None, password: Optional[str] = None,
                 base_dir: Optional[Path] = None, start_timeout: float = 30.0, host: str = "127.0.0.1",
                 launcher: Sequence[str] = ()) -> None:
        super().__init__(name, port=port, password=password, base_dir=base_dir, start_timeout=start_timeout)
        # `host`: the address it binds; `launcher`: the command prefix it starts through (`ip netns exec NS`).
        self.host, self.launcher = host, list(launcher)

    @property
    def pid_file(self) -> Path:
        return self.base_dir / "redis.pid"

    def client(self, **kwargs: Any) -> Any:
        import redis

        return redis.Redis(host=self.host, port=self.port, password=self.password, socket_timeout=5,
                           socket_connect_timeout=5, **kwargs)

    def start(self) -> "LocalRedis":
        """Start (idempotent) and wait until it answers PING; bounded by ``start_timeout``."""
        if self.is_running():
            return self
        binary = shutil.which(REDIS_SERVER)
        if binary is None:
            raise LocalRedisError(f"{self.name}: {REDIS_SERVER} is not on PATH ({INSTALL_HINT})")
        conf = self.conf_file
        if not conf.exists():  # written once: a fence (a `replicaof` line) survives restarts
            self._write_conf(conf)
        self.pid_file.unlink(missing_ok=True)
        subprocess.Popen([*self.launcher, *as_server_user([binary, str(conf)])], cwd="/", stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except Exception as error:  # noqa: BLE001 - not up yet
                last = error
            time.sleep(0.05)
        raise LocalRedisError(f"{self.name} at {self.address} did not answer PING within {self.start_timeout:.0f}s "
                              f"({last}); log: {self.base_dir / 'redis.log'}")

    @property
    def conf_file(self) -> Path:
        return self.base_dir / "redis.conf"

    def _write_conf(self, conf: Path) -> None:
        conf.write_text("\n".join([
            f"port {self.port}", f"bind {self.host}", f"dir {self.base_dir}", f"pidfile {self.pid_file}",
            f"requirepass {self.password}", f"masterauth {self.password}", "daemonize no", "save \"\"",
            "appendonly yes", "appendfsync always", f"logfile {self.base_dir / 'redis.log'}",
            # A replica whose primary is gone keeps answering reads (it is the copy we fail over to).
            "replica-serve-stale-data yes", "repl-timeout 10", "repl-diskless-sync-delay 0",
        ]) + "\n")
        conf.chmod(0o600)
        if _must_drop_privileges():
            os.chown(conf, *_run_as_ids())

    def __enter__(self) -> "LocalRedis":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.close()
