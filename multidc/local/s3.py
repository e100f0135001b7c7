"""A real local S3 endpoint for one site: moto's server in its own process on 127.0.0.1.

Why a process and not ``moto.server.ThreadedMotoServer``: moto keeps its S3 state in
module-level backends, so two threaded servers in one Python process serve the *same*
buckets (checked with moto 5.2: a bucket created through server A is listed by server B).
Two such "sites" would secretly be one store and every cross-site copy, replica or
restore test would pass without moving a byte. One ``python -m moto.server`` process per
site gives each site its own memory, as two data centers have.
"""

from __future__ import annotations

import os
import socket
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config

DUMMY_ACCESS_KEY = "multidc-local"
DUMMY_SECRET_KEY = "multidc-local-secret"
DEFAULT_REGION = "us-east-1"


class LocalS3Error(RuntimeError):
    """The local S3 endpoint could not be started."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalS3:
    """One site's S3-compatible endpoint: a moto server process on 127.0.0.1 and a free port.

    Use as a context manager (``with LocalS3() as site_a: ...``) or call ``start()`` and
    ``stop()``. State lives in the server process's memory and is gone after ``stop()``.
    moto does not check credentials; any key pair is accepted, the dummy ones below are
    what ``client()`` and ``credentials`` hand out.
    """

    def __init__(
        self,
        *,
        name: str = "site",
        port: int | None = None,
        region: str = DEFAULT_REGION,
        startup_timeout: float = 20.0,
        detached: bool = False,
    ) -> None:
        self.name = name
        self.region = region
        self.access_key = DUMMY_ACCESS_KEY
        self.secret_key = DUMMY_SECRET_KEY
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: str | None = None
        # Detached: the server runs in a session of its own and outlives this process (a local
        # deployment); it is stopped by its PID (`pid`) from another process.
        self._detached = detached

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``; only valid after ``start()``."""
        if self._port is None:
            raise LocalS3Error(f"LocalS3 {self.name!r} is not started; call start() first")
        return f"http://127.0.0.1:{self._port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> "LocalS3":
        """Start the server and wait (bounded by ``startup_timeout``) until it answers HTTP."""
        if self.running:
            return self
        # A port picked free can be taken before the server binds it: retry with a new one.
        attempts = 1 if self._requested_port else 3
        last_error = ""
        for _ in range(attempts):
            port = self._requested_port or _free_port()
            self._spawn(port)
            error = self._wait_ready()
            if error is None:
                return self
            last_error = error
            self._terminate()
        raise LocalS3Error(
            f"LocalS3 {self.name!r}: moto server did not come up on 127.0.0.1 within "
            f"{self._startup_timeout:.0f}s ({last_error}). Is moto[server] installed in "
            f"{sys.executable}? Try: {sys.executable} -m moto.server -H 127.0.0.1 -p 0"
        )

    def stop(self) -> None:
        """Stop the server process; its buckets are lost. Idempotent."""
        self._terminate()
        self._port = None

    def kill(self) -> None:
        """SIGKILL the server process, as a fire would: no clean shutdown. Idempotent."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)

    def client(self, **overrides: Any) -> Any:
        """A boto3 S3 client on this endpoint with dummy credentials and path-style addressing."""
        kwargs: dict[str, Any] = dict(
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 2, "mode": "standard"},
                max_pool_connections=32,
            ),
        )
        kwargs.update(overrides)
        return boto3.client("s3", **kwargs)

    def __enter__(self) -> "LocalS3":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"port {self._port}" if self._port else "stopped"
        return f"LocalS3({self.name!r}, {where})"

    def _spawn(self, port: int) -> None:
        fd, self._log_path = tempfile.mkstemp(prefix=f"locals3-{self.name}-", suffix=".log")
        os.close(fd)
        env = dict(os.environ)
        # Never let a developer's real AWS settings leak into the fake site.
        env.pop("AWS_PROFILE", None)
        # The child appends to its own handle; we read through another, so offsets never clash.
        with open(self._log_path, "ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=self._detached,
            )
        self._port = port

    def _wait_ready(self) -> str | None:
        """None when the server answers; otherwise why it did not."""
        assert self._process is not None
        deadline = time.monotonic() + self._startup_timeout
        url = f"http://127.0.0.1:{self._port}/"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return f"process exited with code {self._process.returncode}: {self._log_tail()}"
            # Werkzeug prints "Running on" only once it holds the port; without that check a
            # server already on the port (another site!) would answer for a child that died.
            if "Running on" in self._log_tail():
                try:
                    with urllib.request.urlopen(url, timeout=1.0) as response:
                        if response.status == 200 and self._process.poll() is None:
                            return None
                except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                    pass
            time.sleep(0.1)
        return "timed out waiting for HTTP 200"

    def _log_tail(self) -> str:
        if self._log_path is None:
            return ""
        with open(self._log_path, "rb") as log:
            return log.read(64 * 1024).decode(errors="replace")[-2000:]

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._log_path is not None:
            os.unlink(self._log_path)
            self._log_path = None
