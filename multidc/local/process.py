"""Ending local server processes: a child process politely then for certain, and servers found by
their pid file (the local Redis and MariaDB), stopped or killed; never waiting forever."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

from multidc.local.postgres import _must_drop_privileges, _pid_alive, _run_as_ids, free_port


def terminate(process: Optional[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """SIGTERM, and SIGKILL if it has not exited within `timeout`; reaps it either way."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


class PidFileServer:
    """A server process on 127.0.0.1 that writes its pid to ``pid_file`` inside its private ``base_dir``
    (owned by the unprivileged server user when we are root)."""

    host = "127.0.0.1"
    engine = "server"
    pid_file: Path

    def __init__(self, name: str, *, port: Optional[int] = None, password: Optional[str] = None,
                 base_dir: Optional[Path] = None, start_timeout: float = 60.0) -> None:
        self.name = name
        self.port = port or free_port()
        self.password = password or secrets.token_urlsafe(16)
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix=f"multidc-{self.engine}-{name}-"))
        self.base_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.start_timeout = start_timeout
        if _must_drop_privileges():
            os.chown(self.base_dir, *_run_as_ids())

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> Optional[int]:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def is_running(self) -> bool:
        pid = self.pid
        return pid is not None and _pid_alive(pid)

    def kill(self) -> None:
        """SIGKILL, as a power cut: nothing is flushed that the server had not written. Idempotent."""
        self._signal(signal.SIGKILL)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a clean shutdown), SIGKILL after ``timeout``. Idempotent."""
        self._signal(signal.SIGTERM, timeout)

    def close(self) -> None:
        """Kill and delete the directory (nothing in it is kept, so no clean shutdown). Idempotent."""
        self.kill()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def _signal(self, sig: signal.Signals, timeout: float = 10.0) -> None:
        from multidc.local.deployment import _kill_pid  # signals, waits, escalates to SIGKILL

        pid = self.pid
        if pid is not None and _pid_alive(pid):
            _kill_pid(pid, sig, timeout)
