"""The ransomware drill, run as a user runs it (`multidc drill --scenario ransomware --json`), on a lean stack.

`tests/drill/Pulumi.ransomware-lean.yaml` keeps one PostgreSQL system archiving WAL into a locked
vault and one bucket with a locked backup: the same production path as kz-prod's drill (`multidc
local up`, the attack through the normal credentials, the archive delete with the database host's
keys, `multidc restore --to-new` and `multidc restore` as subprocesses, `multidc local down`), with
one server to start instead of six. The assertions read the drill's own report.
"""

import json
from pathlib import Path

import pytest

from tests.helpers import project_with_stack, run_multidc

STACK = "ransomware-lean"
# The drill runs in the module's fixture, charged to the first test: room for a loaded machine.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def drill(tmp_path_factory):
    folder = project_with_stack(tmp_path_factory.mktemp("project"), Path(__file__).with_name(f"Pulumi.{STACK}.yaml"))
    done = run_multidc(folder, "drill", "--stack", STACK, "--scenario", "ransomware", "--json", timeout=900)
    assert not (folder / ".multidc" / "local" / STACK).exists(), "the drill leaves nothing running"
    report = json.loads(done.stdout)
    report["by_system"] = {s["system"]: s for s in report["systems"]}
    return report


def test_the_drill_runs_the_production_commands(drill):
    commands = [c["command"].split(" --")[0] for c in drill["commands"]]
    assert commands == ["multidc local up", "multidc restore", "multidc restore", "multidc local down"]
    assert all(c["exit_code"] == 0 for c in drill["commands"])


def test_the_database_hosts_keys_cannot_delete_the_archive(drill):
    assert drill["archive_delete_refused"] is True


def test_the_database_is_back_to_before_t_and_nothing_after(drill):
    result = drill["by_system"]["core-db"]
    assert result["acknowledged_before_t"] > 0
    assert (result["missing_before_t"], result["present_after_t"]) == (0, 0), result
    assert result["checksum_matches"] and result["dropped_table_back"], result
    assert 0 <= result["rpo_s"] <= 60, result  # the archive lag, bounded by archive_timeout


def test_the_bucket_is_back_to_before_t_and_nothing_after(drill):
    result = drill["by_system"]["documents"]
    assert result["acknowledged_before_t"] > 0
    assert (result["missing_before_t"], result["present_after_t"]) == (0, 0), result


def test_the_report_passes(drill):
    assert drill["ok"] is True and drill["not_drilled"] == {}
