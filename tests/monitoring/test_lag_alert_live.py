"""The generated lag alert, end to end: a real Prometheus scrapes a real postgres_exporter (Debian's
`prometheus-postgres-exporter`, with multidc's custom-query file) in front of a local primary
with a streaming standby. While the standby streams, nothing fires; once it is stopped, the
replication-lag alert and the standby-stopped alert fire.

The rules are the generated ones for an RPO-0 PostgreSQL system, with `for:` shortened to 5 s
and scrapes every second so the test stays short; thresholds and expressions are unchanged.
Every wait is bounded; everything runs on 127.0.0.1 on free ports, as the unprivileged server
user when run as root, and is stopped after the test.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from multidc.local.postgres import RUN_AS_USER, LocalPostgres, as_server_user, free_port
from multidc.monitoring.metrics import PG_REPLY_TIMESTAMP, POSTGRES_QUERIES
from multidc.monitoring.rules import LAG_FLOOR_S, rule_file, system_group
from multidc.protection import postgres as pg
from multidc.spec import System

SHORT_FOR = "5s"
PRIMARY_SITE, STANDBY_SITE = "astana", "almaty"


def _tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is missing: run `make system-deps`"
    return found


def _private_dir(prefix: str) -> Path:
    """A temp dir the unprivileged server user owns (the processes write there)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    if os.geteuid() == 0:
        import pwd

        entry = pwd.getpwnam(RUN_AS_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        return json.loads(response.read()) if "/api/" in url else response.read().decode()


def _wait(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except OSError as error:  # not listening yet
            last = error
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what} within {timeout}s; last seen: {last!r}")


def _start(request, command: list[str], env: dict[str, str] | None, log: Path) -> subprocess.Popen:
    handle = log.open("w")
    process = subprocess.Popen(as_server_user(command), cwd=log.parent, env=env, stdout=handle,
                               stderr=subprocess.STDOUT)

    def stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        handle.close()
    request.addfinalizer(stop)
    return process


@pytest.fixture
def replica_pair(request):
    primary = LocalPostgres("mon-a")
    request.addfinalizer(primary.close)
    primary.start()
    standby = LocalPostgres("mon-b", initialize=False, password=primary.password)
    request.addfinalizer(standby.close)
    auth = pg.ReplicationAuth(password=secrets.token_urlsafe(12))
    pg.configure_primary(primary, auth, [STANDBY_SITE])
    pg.create_standby(primary, standby, auth, name=STANDBY_SITE)
    return primary, standby


def _firing(prometheus: str) -> set[str]:
    alerts = _get(f"{prometheus}/api/v1/alerts")["data"]["alerts"]
    return {alert["labels"]["alertname"] for alert in alerts if alert["state"] == "firing"}


def test_lag_alert_fires_when_the_standby_stops(request, replica_pair):
    primary, standby = replica_pair
    system = System(name="core-db", kind="postgres", tier="critical", sites=[PRIMARY_SITE, STANDBY_SITE],
                    topology="active-passive", replication="sync", rpo=timedelta(0), rto=timedelta(minutes=15))
    group = system_group(system)
    group = replace(group, alerts=tuple(replace(alert, for_=SHORT_FOR) for alert in group.alerts))
    lag_alert = next(alert.name for alert in group.alerts if alert.watches == "replication-lag")
    stopped_alert = next(alert.name for alert in group.alerts if alert.watches == "standby-stopped")

    work = _private_dir("multidc-prometheus-")
    request.addfinalizer(lambda: shutil.rmtree(work, ignore_errors=True))  # runs after the processes stop
    (work / "queries.yaml").write_text(yaml.safe_dump(POSTGRES_QUERIES))
    (work / "rules.yaml").write_text(yaml.safe_dump(rule_file([group]), sort_keys=False))
    exporter_port, prometheus_port = free_port(), free_port()
    (work / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(work / "rules.yaml")],
        "scrape_configs": [{"job_name": "postgres", "static_configs": [{
            "targets": [f"127.0.0.1:{exporter_port}"],
            "labels": {"system": system.name, "site": PRIMARY_SITE, "role": "primary"}}]}],
    }))
    for path in work.iterdir():
        path.chmod(0o644)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "DATA_SOURCE_NAME": f"postgresql://postgres:{primary.password}@127.0.0.1:{primary.port}/postgres"
                               "?sslmode=disable"}
    _start(request, [_tool("prometheus-postgres-exporter"), f"--web.listen-address=127.0.0.1:{exporter_port}",
                     f"--extend.query-path={work / 'queries.yaml'}"], env, work / "exporter.log")
    _start(request, [_tool("prometheus"), f"--config.file={work / 'prometheus.yml'}",
                     f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{prometheus_port}"],
           None, work / "prometheus.log")
    prometheus = f"http://127.0.0.1:{prometheus_port}"

    # Streaming: Prometheus sees the standby's replies, and no alert of the group fires.
    _wait("the exporter publishing the standby's last reply",
          lambda: f'standby="{STANDBY_SITE}"' in _get(f"http://127.0.0.1:{exporter_port}/metrics"), 60)
    query = f"{prometheus}/api/v1/query?query={PG_REPLY_TIMESTAMP}"
    _wait("Prometheus storing the standby's last reply", lambda: _get(query)["data"]["result"], 60)
    _wait("the rules being evaluated", lambda: _get(f"{prometheus}/api/v1/rules")["data"]["groups"], 30)
    time.sleep(3)  # a few evaluations while healthy
    assert _firing(prometheus) == set(), (work / "prometheus.log").read_text()[-2000:]

    stopped_at = time.monotonic()
    standby.stop()
    # The lag passes the floor about LAG_FLOOR_S after the last reply (at most 10 s before the stop),
    # then holds for `for:`; the bound leaves room for scrapes, evaluations and a slow machine.
    fired = _wait(f"{lag_alert} firing after the standby stopped",
                  lambda: (names := _firing(prometheus)) >= {lag_alert, stopped_alert} and names,
                  LAG_FLOOR_S + 5 + 60)
    print(f"\n{sorted(fired)} firing {time.monotonic() - stopped_at:.1f}s after the standby stopped "
          f"(threshold {LAG_FLOOR_S}s, for: {SHORT_FOR})")
