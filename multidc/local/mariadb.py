"""A real local MariaDB server (Debian's ``mariadb-server``) for one site.

Run as the unprivileged user ``nobody`` when we are root (as ``multidc.local.postgres`` does),
on 127.0.0.1 and a free port, with binary logging and GTIDs on (what GTID replication needs),
a server id of its own, and an administrative login ``admin`` with a generated password.
The data directory, socket, pid file, error log and option file (``my.cnf``) live in one private
directory; ``close()`` stops the server and deletes it.

``my.cnf`` is read at every start: a fence (``read_only = ON``, ``fence()``) written there while
the server is down survives into its next start, as a ``replicaof`` line does for local Redis.
An application login (``add_application_login``) is given its database only, as Trove gives the
user it creates: unlike ``admin`` it is subject to ``read_only``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Optional

from multidc.local.postgres import _must_drop_privileges, _run_as_ids, as_server_user
from multidc.local.process import PidFileServer

SERVER, INSTALL_DB = "mariadbd", "mariadb-install-db"
INSTALL_HINT = "install: make system-deps, or apt-get install mariadb-server"
ADMIN = "admin"
FENCE_LINE = "read_only = ON"
HOSTS = ("127.0.0.1", "localhost")


class LocalMariaDBError(RuntimeError):
    """A local MariaDB server could not be made, started or stopped; the message says why and the fix."""


class LocalMariaDB(PidFileServer):
    """One ``mariadbd`` process with its own data directory."""

    engine = "mariadb"

    def __init__(self, name: str = "mariadb", *, port: Optional[int] = None, password: Optional[str] = None,
                 base_dir: Optional[Path] = None, start_timeout: float = 60.0) -> None:
        super().__init__(name, port=port, password=password, base_dir=base_dir, start_timeout=start_timeout)
        self.user = ADMIN
        self.data_dir = self.base_dir / "data"

    @property
    def pid_file(self) -> Path:
        return self.base_dir / "mariadb.pid"

    @property
    def socket(self) -> Path:
        return self.base_dir / "mariadb.sock"

    @property
    def conf_file(self) -> Path:
        return self.base_dir / "my.cnf"

    def connect(self, **kwargs: Any) -> Any:
        """A PyMySQL connection as ``admin`` over TCP (autocommit)."""
        import pymysql

        return pymysql.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               connect_timeout=5, autocommit=True, **kwargs)

    def start(self) -> "LocalMariaDB":
        """Initialise the data directory if needed, start, and wait until ``admin`` can log in. Idempotent."""
        if self.is_running():
            return self
        for tool in (SERVER, INSTALL_DB):
            if shutil.which(tool) is None:
                raise LocalMariaDBError(f"{self.name}: {tool} is not on PATH ({INSTALL_HINT})")
        fresh = not self.data_dir.exists()
        if fresh:
            self._run([shutil.which(INSTALL_DB), "--no-defaults", f"--datadir={self.data_dir}",
                       "--auth-root-authentication-method=normal", "--skip-test-db"])
        if not self.conf_file.exists():
            self._write_conf()
        self.pid_file.unlink(missing_ok=True)
        subprocess.Popen(as_server_user([
            shutil.which(SERVER), f"--defaults-file={self.conf_file}", f"--datadir={self.data_dir}",
            f"--port={self.port}", f"--bind-address={self.host}", f"--socket={self.socket}",
            f"--pid-file={self.pid_file}", f"--log-error={self.base_dir / 'error.log'}", f"--server-id={self.port}",
            "--log-bin=binlog", "--binlog-format=ROW", "--log-slave-updates=ON", "--gtid-strict-mode=ON",
            "--skip-name-resolve", "--innodb-buffer-pool-size=32M", "--innodb-flush-log-at-trx-commit=1",
            "--sync-binlog=1", "--max-connections=50", "--performance-schema=OFF",
        ]), cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self._wait_socket()
        if fresh:
            import pymysql

            with pymysql.connect(unix_socket=str(self.socket), user="root", autocommit=True) as conn:
                with conn.cursor() as cursor:
                    # Not binlogged: a replica's binlog must hold no GTIDs its primary never wrote.
                    cursor.execute("SET SESSION sql_log_bin = 0")
                    for host in HOSTS:
                        cursor.execute(f"CREATE USER IF NOT EXISTS '{ADMIN}'@'{host}' IDENTIFIED BY %s",
                                       [self.password])
                        cursor.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{ADMIN}'@'{host}' WITH GRANT OPTION")
        self.connect().close()
        return self

    def add_application_login(self, database: str, user: str, password: str) -> None:
        """``database`` and a login with every privilege on it and none outside (Trove's user); not binlogged."""
        with self.connect() as conn, conn.cursor() as cursor:
            cursor.execute("SET SESSION sql_log_bin = 0")
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
            for host in HOSTS:
                cursor.execute(f"CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY %s", [password])
                cursor.execute(f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'{host}'")

    def fence(self) -> None:
        """From its next start on, the server runs ``read_only`` (only ``admin`` and replication write)."""
        lines = self.conf_file.read_text().splitlines()
        if FENCE_LINE not in lines:
            self.conf_file.write_text("\n".join([*lines, FENCE_LINE]) + "\n")

    def unfence(self) -> None:
        """Its next start takes writes again (the fence line goes). Idempotent."""
        if self.conf_file.exists():
            kept = [line for line in self.conf_file.read_text().splitlines() if line != FENCE_LINE]
            self.conf_file.write_text("\n".join(kept) + "\n")

    def _write_conf(self) -> None:
        self.conf_file.write_text("[mariadbd]\n")
        self.conf_file.chmod(0o644)
        if _must_drop_privileges():
            os.chown(self.conf_file, *_run_as_ids())

    def _run(self, command: list[Any]) -> None:
        done = subprocess.run(as_server_user([str(c) for c in command]), cwd="/", capture_output=True, text=True,
                              timeout=self.start_timeout)
        if done.returncode != 0:
            raise LocalMariaDBError(f"{self.name}: {command[0]} failed: {done.stderr.strip()[-2000:]}")

    def _wait_socket(self) -> None:
        import pymysql

        deadline = time.monotonic() + self.start_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                pymysql.connect(host=self.host, port=self.port, user="-", password="-", connect_timeout=1).close()
            except pymysql.err.OperationalError as error:
                if error.args and error.args[0] == 1045:  # access denied: the server answers
                    return
                last = error
            time.sleep(0.1)
        log = self.base_dir / "error.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
        raise LocalMariaDBError(f"{self.name} at {self.address} did not start within {self.start_timeout:.0f}s "
                                f"({last}); log:\n{tail}")

    def __enter__(self) -> "LocalMariaDB":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.close()
