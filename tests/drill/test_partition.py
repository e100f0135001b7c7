"""The partition drill, run as a user runs it (`multidc drill --stack S --partition --json`): each site
and the witness in a network namespace of its own, links cut for real, the sites' `multidc watch` deciding.

`tests/drill/Pulumi.partition-lean.yaml`: kz-prod's astana (primary) and almaty, the witness in karaganda;
core-db replicates logically and synchronously, as kz-prod's core-db and cards-db do, so no case may lose an
acknowledged write; a Redis pair is fenced and promoted with it. The same path as kz-prod's partition drill
with two PostgreSQL servers to start instead of six.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from multidc import project
from multidc.local.netns import NetnsUnavailable, check_permitted
from tests.helpers import run_multidc

CASES = ["witness-lost", "sites-cut", "primary-isolated"]
STACK = "partition-lean"


def _not_permitted():
    try:
        check_permitted()
    except NetnsUnavailable as error:
        return str(error)
    return None


@pytest.fixture(scope="module")
def drill(tmp_path_factory):
    why = _not_permitted()
    if why:
        pytest.skip(f"the partition drill needs network namespaces: {why}")
    folder = tmp_path_factory.mktemp("project")
    shutil.copy(project.root() / "Pulumi.yaml", folder / "Pulumi.yaml")
    (folder / "stacks").mkdir()
    shutil.copy(Path(__file__).with_name(f"Pulumi.{STACK}.yaml"), folder / "stacks")
    before = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())
    done = run_multidc(folder, "drill", "--stack", STACK, "--partition", "--json", expect=None, timeout=900)
    report = json.loads(done.stdout)
    assert done.returncode == (0 if report["ok"] else 1)
    after = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())
    report["namespaces_left"] = sorted(n for n in after - before if n.startswith("mdc"))
    report["by_case"] = {case["name"]: case for case in report["cases"]}
    return report


def test_the_three_cases_run_with_the_fields_the_report_promises(drill):
    assert [case["name"] for case in drill["cases"]] == CASES
    for case in drill["cases"]:
        assert {"name", "overlap", "lost", "rto_s", "writes_stalled_s"} <= set(case), case["name"]
        assert [s["system"] for s in case["systems"]] == ["core-db"]
        assert all(s["mode"] == "sync" for s in case["systems"])
    assert drill["ok"], [(c["name"], c["problems"]) for c in drill["cases"]]


def test_the_isolated_primary_is_replaced_by_the_standby_sites_watcher(drill):
    case = drill["by_case"]["primary-isolated"]
    assert case["failed_over"] and case["rto_s"] is not None and case["rto_s"] > 0
    assert case["lease_holder_after"] == "almaty"
    assert case["failover"]["fencing_token"] is not None, "the failover was the watcher's, on the lease"
    steps = {s["step"]: s["status"] for s in case["failover"]["db_steps"]}
    assert steps["2.manual.isolate.astana"] == "done"
    assert steps["3.db.promote.core-db"] == "done"
    assert steps["2.db.fence.sessions"] == steps["3.db.promote.sessions"] == "done", "Redis fails over with it"
    for system in case["systems"]:
        assert system["old_primary_refuses_writes"], system["system"]
        assert system["acknowledged"]["almaty"] > 0


def test_two_primaries_never_acknowledge_at_once_and_nothing_acknowledged_is_lost(drill):
    for case in drill["cases"]:
        assert case["overlap"] is False and case["lost"] == 0, case["name"]
        for system in case["systems"]:
            assert system["lost_ids"] == [], (case["name"], system["system"])
    isolated = drill["by_case"]["primary-isolated"]
    assert all(s["gap_s"] > 0 for s in isolated["systems"]), "the new primary's first write began after the old " \
                                                              "one's last answer"


def test_cutting_the_sites_apart_or_losing_the_witness_changes_nothing(drill):
    for name in ("sites-cut", "witness-lost"):
        case = drill["by_case"][name]
        assert not case["failed_over"] and case["rto_s"] is None and case["failover"] is None, name
        assert case["lease_holder_after"] == "astana", name
        assert all(s["acknowledged"]["almaty"] == 0 for s in case["systems"]), name
    # Synchronous commits wait for the standby while the sites cannot talk: the stall is reported.
    assert drill["by_case"]["sites-cut"]["writes_stalled_s"] >= drill["by_case"]["sites-cut"]["cut_for_s"] * 0.5


def test_everything_the_drill_made_is_gone(drill):
    assert drill["namespaces_left"] == []
    assert drill["commands"][0]["command"].startswith("multidc local up") and "--netns" in drill["commands"][0]["command"]
    assert drill["commands"][-1]["command"].startswith("multidc local down")


def test_without_namespaces_the_drill_exits_2_and_says_why():
    # As an unprivileged user (or already one), `ip netns add` is refused: exit 2, never a pass.
    command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"] if os.geteuid() == 0 else []
    env = {**os.environ, project.PROJECT_DIR_ENV: str(project.root()), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([*command, sys.executable, "-m", "multidc", "drill",
                           "--stack", "kz-prod", "--partition", "--json"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "network namespaces need root" in done.stderr and "Traceback" not in done.stderr
