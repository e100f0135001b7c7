"""Every generated rule group of every example stack, through `promtool test rules` (Debian's
`prometheus` package, installed by `make system-deps`).

The synthetic series are written here from what each exporter publishes, not from the
rules' expressions: for every alert, one input where the watched thing has failed (the
standby stopped confirming, the archiver stalled, the last backup is old) and the alert
must fire with exactly the expected labels, and one where all is well and nothing fires.
Job names (`cronjob`, Velero's `schedule`) are taken from the planned graph, so a rule that
selects a job the program does not declare fails here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from multidc.monitoring import metrics as m
from multidc.monitoring.rules import Alert, RuleGroup, rule_file, rule_groups
from multidc.plan.graph import ResourceGraph
from multidc.spec import Kind, Platform, load_stack
from tests.conftest import EXAMPLE_STACKS, ROOT

STEP_S = 60
GROUPS = [(stack, group.name) for stack in EXAMPLE_STACKS for group in rule_groups(load_stack(stack, ROOT))]


def _duration_s(text: str) -> int:
    return int(text[:-1]) * {"s": 1, "m": 60, "h": 3600}[text[-1]]


def _minutes(seconds: int) -> str:
    return f"{-(-seconds // STEP_S)}m"


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ", ".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def _jobs(graph: ResourceGraph, system: str, what: str) -> list[str]:
    """The names of the CronJobs the program declares to back up or copy ``system``."""
    names = [node.inputs["metadata"]["name"] for node in graph if node.type == "kubernetes:batch/v1:CronJob"]
    return sorted(name for name in names if name.startswith(f"{system}-{what}-"))


def _velero_schedules(graph: ResourceGraph, system: str) -> list[dict[str, str]]:
    """Each cluster's Velero schedule of ``system``'s regular backups, with the cluster's site."""
    releases = [node for node in graph if node.type == "kubernetes:helm.sh/v3:Release"
                and node.inputs.get("chart") == "velero"]
    return [{"schedule": name, "site": node.site} for node in releases
            for name in (node.inputs.get("values") or {}).get("schedules", {}) if name == f"{system}-regular"]


def _case(platform: Platform, graph: ResourceGraph, group: RuleGroup, alert: Alert) -> tuple[list, list, int, list]:
    """(failing input series, healthy input series, evaluation time, each expected alert's own labels)."""
    system = platform.system(group.system) if group.system else None
    wait = _duration_s(alert.for_)
    steps = lambda seconds: -(-seconds // STEP_S)  # noqa: E731
    if alert.watches in ("replication-lag", "standby-stopped") and system is not None:
        if system.kind is Kind.postgres:
            threshold = next(a.threshold_s for a in group.alerts if a.watches == "replication-lag")
            eval_s = 300 + threshold + max(wait, 5 * STEP_S) + 3 * STEP_S
            n = steps(eval_s) + 2
            failing, healthy, expected = [], [], []
            for standby in system.standby_sites:
                labels = {"system": system.name, "site": system.primary_site, "role": "primary", "standby": standby}
                # The standby confirms every minute until t=300 s, then stops.
                failing.append(_series(m.PG_REPLY_TIMESTAMP, labels, f"0+60x5 _x{n}"))
                healthy.append(_series(m.PG_REPLY_TIMESTAMP, labels, f"0+60x{n}"))
                expected.append({"system": system.name, "standby": standby})
            return failing, healthy, eval_s, expected
        lag, link = ((m.MYSQL_BEHIND, m.MYSQL_IO_RUNNING) if system.kind is Kind.mysql
                     else (m.REDIS_LAST_IO, m.REDIS_LINK_UP))
        threshold = next(a.threshold_s for a in group.alerts if a.watches == "replication-lag")
        eval_s = threshold + wait + 4 * STEP_S
        n = steps(eval_s) + 2
        failing, healthy, expected = [], [], []
        for standby in system.standby_sites:
            labels = {"system": system.name, "site": standby, "role": "standby"}
            failing += [_series(lag, labels, f"0+60x{n}"), _series(link, labels, f"1 0x{n}")]
            healthy += [_series(lag, labels, f"1x{n}"), _series(link, labels, f"1x{n}")]
            expected.append({"system": system.name, "site": standby})
        return failing, healthy, eval_s, expected
    if alert.watches == "archive-age" and system is not None:
        eval_s = alert.threshold_s + wait + 4 * STEP_S
        n = steps(eval_s) + 2
        labels = {"system": system.name, "site": system.primary_site, "role": "primary"}
        return ([_series(m.PG_ARCHIVE_AGE, labels, f"0+60x{n}")], [_series(m.PG_ARCHIVE_AGE, labels, f"30x{n}")],
                eval_s, [{"system": system.name}])
    if alert.watches in ("backup-age", "copy-age") and system is not None:
        eval_s = alert.threshold_s + wait + 4 * STEP_S
        n = steps(eval_s) + 2
        if alert.watches == "backup-age" and system.kind in (Kind.kubernetes, Kind.ml_platform):
            jobs, metric = _velero_schedules(graph, system.name), m.VELERO_LAST_SUCCESS
        else:
            jobs = [{"cronjob": name} for name in _jobs(graph, system.name,
                                                        "backup" if alert.watches == "backup-age" else "copy")]
            metric = m.CRONJOB_LAST_SUCCESS
        assert jobs, f"{alert.name}: the plan declares no job for {system.name} that the rule could watch"
        # Failing: the last success was at t=0 and never again; healthy: a success every minute.
        return ([_series(metric, {**job, "namespace": "jobs"}, f"0x{n}") for job in jobs],
                [_series(metric, {**job, "namespace": "jobs"}, f"0+60x{n}") for job in jobs],
                eval_s, jobs)
    if alert.watches == "witness":
        witness = platform.witness
        eval_s = wait + 4 * STEP_S
        n = steps(eval_s) + 2
        labels = {"instance": witness.endpoint, "job": "blackbox"}
        return ([_series(m.PROBE_SUCCESS, labels, f"1 0x{n}")], [_series(m.PROBE_SUCCESS, labels, f"1x{n}")],
                eval_s, [{}])
    if alert.watches == "certificate":
        eval_s = wait + 4 * STEP_S
        n = steps(eval_s) + 2
        labels = {"instance": platform.witness.endpoint, "job": "blackbox"}
        soon, later = 3 * 86400, 90 * 86400
        return ([_series(m.CERT_EXPIRY, labels, f"{soon}x{n}")], [_series(m.CERT_EXPIRY, labels, f"{later}x{n}")],
                eval_s, [{"instance": platform.witness.endpoint}])
    raise AssertionError(f"{alert.name}: no synthetic case for what it watches ({alert.watches})")


def _promtool_tests(platform: Platform, graph: ResourceGraph, group: RuleGroup) -> list[dict[str, Any]]:
    tests = []
    for alert in group.alerts:
        failing, healthy, eval_s, expected = _case(platform, graph, group, alert)
        rule_labels = dict(alert.labels)
        fired = [{"exp_labels": {**labels, **rule_labels}, "exp_annotations": {"summary": alert.summary}}
                 for labels in expected]
        at = _minutes(eval_s)
        tests.append({"name": f"{alert.name} fires", "interval": "1m", "input_series": failing,
                      "alert_rule_test": [{"eval_time": at, "alertname": alert.name, "exp_alerts": fired}]})
        tests.append({"name": f"{alert.name} stays quiet", "interval": "1m", "input_series": healthy,
                      "alert_rule_test": [{"eval_time": at, "alertname": alert.name, "exp_alerts": []}]})
    return tests


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: run `make system-deps` (Debian package `prometheus`)"
    return found


@pytest.mark.parametrize("stack,group_name", GROUPS, ids=[f"{s}:{g}" for s, g in GROUPS])
def test_promtool_passes_every_generated_rule_group(stack, group_name, planned, tmp_path: Path):
    platform, graph = planned(stack)
    group = next(g for g in rule_groups(platform) if g.name == group_name)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_file([group]), sort_keys=False))
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump({
        "rule_files": ["rules.yaml"], "evaluation_interval": "1m",
        "tests": _promtool_tests(platform, graph, group)}, sort_keys=False))
    run = subprocess.run([promtool(), "test", "rules", "tests.yaml"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, f"promtool test rules failed for {stack}:{group_name}\n{run.stdout}\n{run.stderr}"


def test_kz_prod_watches_every_replicated_database_and_backup():
    groups = {group.system: group for group in rule_groups(load_stack("kz-prod", ROOT))}
    watched = {(system, alert.watches) for system, group in groups.items() for alert in group.alerts}
    assert {("core-db", "replication-lag"), ("core-db", "standby-stopped"), ("core-db", "archive-age"),
            ("sessions", "replication-lag"), ("documents", "copy-age"), ("apps", "backup-age"),
            (None, "witness"), (None, "certificate")} <= watched
    assert ("web", "replication-lag") not in watched  # a VM group holds no data to lag
