"""The site-loss drill, run as a user runs it (`multidc drill --json --trigger automatic`): the production
commands against a local deployment whose primary site is killed with SIGKILL.

`tests/drill/Pulumi.site-loss-lean.yaml` keeps kz-prod's sites and witness and one system per mechanism
the drill proves: core-db (sync, logical, as on Trove) and the documents bucket fail over from astana to
almaty; branch-db (sync) and the artifacts bucket have their primary in almaty and only lose their copy
in astana (the runbook relaxes branch-db's synchronous replication, the failback makes it synchronous
again); sessions is a Redis pair (REPLICAOF). The same path as kz-prod's drill (`multidc local up`, the
sites' `multidc watch`, `failover`, `local start`, `failback`, `local down` as subprocesses) with four
PostgreSQL servers to start instead of six and no archiving (that is the ransomware drill's). kz-prod's
whole drill, repeated with figures: `benchmarks/drill.py --stack kz-prod --triggers automatic --failback`.
"""

import json
import shutil
from pathlib import Path

import pytest

from multidc import project
from tests.dr.graphs import platform
from tests.helpers import run_multidc

STACK = "site-loss-lean"
FAILED_OVER = "core-db"
SURVIVED = "branch-db"  # sync, primary in almaty: its standby in astana dies with the site
# The whole drill runs in the module fixture, charged to the first test: room for a loaded 2-core machine.
pytestmark = pytest.mark.timeout(1800)


def project_in(folder):
    shutil.copy(project.root() / "Pulumi.yaml", folder / "Pulumi.yaml")
    (folder / "stacks").mkdir()
    shutil.copy(Path(__file__).with_name(f"Pulumi.{STACK}.yaml"), folder / "stacks")
    return folder


@pytest.fixture(scope="module")
def drill(tmp_path_factory):
    folder = project_in(tmp_path_factory.mktemp("project"))
    done = run_multidc(folder, "drill", "--stack", STACK, "--json", "--trigger", "automatic", "--seed", "7",
                       timeout=1500)  # generous: a loaded 2-core machine; no timing is asserted
    assert not (folder / ".multidc" / "local" / STACK).exists(), "the drill leaves nothing running"
    report = json.loads(done.stdout)
    report["by_system"] = {s["system"]: s for s in report["systems"]}
    report["by_bucket"] = {b["bucket"]: b for b in report["buckets"]}
    return report


def test_drill_runs_the_production_commands_in_order(drill):
    commands = [c["command"].split(" --")[0] for c in drill["commands"]]
    assert list(dict.fromkeys(commands)) == ["multidc local up", "multidc status", "multidc watch",
                                             "multidc local kill", "multidc failover", "multidc local start",
                                             "multidc failback", "multidc local down"]
    failovers = [c for c in drill["commands"] if c["command"].startswith("multidc failover")]
    assert "--outputs" in failovers[0]["command"] and "--yes" in failovers[0]["command"]
    for verb, runs in (("multidc failover", failovers[1:]),
                       ("multidc failback", [c for c in drill["commands"] if c["command"].startswith("multidc failback")])):
        assert [c["exit_code"] for c in runs] == [3] * (len(runs) - 1) + [0], \
            f"{verb} stops (exit 3) at each step that needs an operator and succeeds once they are confirmed"
    assert all("--resume" in c["command"] for c in failovers[1:]), "the drill resumes the watcher's run"
    assert all(c["exit_code"] == 0 for c in drill["commands"] if c["command"].startswith("multidc local"))


def test_the_standbys_watcher_ran_the_failover_with_the_fencing_token(drill):
    first = next(c for c in drill["commands"] if c["command"].startswith("multidc failover"))
    assert f"--fencing-token {drill['fencing_token']} --etcd http://127.0.0.1:" in first["command"]
    assert "run by `multidc watch` in almaty" in first["note"] and first["result"] == "needs-operator"
    watches = {c["command"].split("--site ")[1].split()[0]: c for c in drill["commands"]
               if c["command"].startswith("multidc watch")}
    assert sorted(watches) == ["almaty", "astana"] and watches["astana"]["exit_code"] == -9, "killed with its site"


def test_the_lease_is_the_evidence_that_the_lost_site_is_isolated(drill):
    steps = {s["step"]: s for s in drill["failover_steps"]}
    isolate = steps["2.manual.isolate.astana"]
    assert isolate["status"] == "done", isolate
    assert f"almaty holds /multidc/{STACK}/primary with fencing token {drill['fencing_token']}" in isolate["detail"]
    assert "watchdog" in isolate["detail"]
    assert steps["1.decide.declare.astana"]["status"] == "done" and "multidc watch" in steps["1.decide.declare.astana"]["detail"]


def test_drill_covers_every_replicated_database_system_and_bucket(drill):
    assert sorted(drill["by_system"]) == ["branch-db", "core-db", "sessions"]
    assert sorted(drill["by_bucket"]) == ["artifacts", "documents"]
    assert sorted(s for s, r in drill["by_system"].items() if r["failed_over"]) == [FAILED_OVER, "sessions"]


def test_each_system_names_the_mechanism_the_stack_deploys(drill):
    # The stack's PostgreSQL runs on Trove, as kz-prod's: logical replication, as the ReplicationLink sets it up.
    assert {r["mechanism"] for r in drill["systems"] if r["system"] in (FAILED_OVER, SURVIVED)} == {"logical"}


def test_redis_is_drilled_for_real_with_replicaof_and_its_loss_and_lag_reported(drill):
    result = drill["by_system"]["sessions"]
    assert (result["mechanism"], result["mode"], result["failed_over"]) == ("replicaof", "async", True)
    assert result["acknowledged"] > 0 and result["rto_from_kill_s"] > 0
    assert result["rpo_commits"] >= 0 and isinstance(result["lag_at_kill_bytes"], int)  # async: exact count
    assert result["fenced_refuses_writes"], result["fence_evidence"]  # restarted as a replica: READONLY
    assert result["failback_done"] and result["missing_after_failback"] == 0


def test_sync_system_loses_no_acknowledged_commit(drill):
    result = drill["by_system"][FAILED_OVER]
    assert result["mode"] == "sync" and result["acknowledged"] > 0
    assert result["rpo_commits"] == 0


def test_sync_system_whose_primary_survives_keeps_taking_writes(drill):
    # Its synchronous standby died with astana: the runbook relaxes it, and writes go on within the drill's bound.
    result = drill["by_system"][SURVIVED]
    assert (result["mode"], result["failed_over"]) == ("sync", False)
    assert result["sync_relaxed_by_runbook"] and result["writes_continued"]
    assert result["acknowledged"] > 0 and result["missing_after_failover"] == 0


def test_rto_runs_from_the_kill_past_the_watchers_detection(drill):
    assert drill["by_system"][FAILED_OVER]["rto_from_kill_s"] > drill["detection_s"] > 0
    assert drill["fencing_token"] > 0


def test_headline_rto_is_the_worst_system(drill):
    assert drill["rto_from_kill_s"] == max(s["rto_from_kill_s"] for s in drill["systems"])
    assert drill["worst_system"] in drill["by_system"]


def test_restarted_old_primary_refuses_writes(drill):
    assert drill["by_system"][FAILED_OVER]["fenced_refuses_writes"], drill["by_system"][FAILED_OVER]["fence_evidence"]


@pytest.mark.parametrize("system", [FAILED_OVER, SURVIVED])
def test_failback_keeps_every_acknowledged_commit(drill, system):
    result = drill["by_system"][system]
    assert result["failback_done"]
    assert result["acknowledged_total"] > result["acknowledged"]
    assert result["missing_after_failback"] == 0


def test_failback_leaves_a_system_that_never_failed_over_in_its_home_site(drill):
    assert drill["by_system"][SURVIVED]["primary_after_failback"] == "almaty"
    assert drill["by_system"][FAILED_OVER]["primary_after_failback"] == "astana"


def test_surviving_bucket_holds_what_was_copied_before_the_kill(drill):
    result = drill["by_bucket"]["documents"]
    assert result["failed_over"] and result["objects_surviving"] > 0
    assert result["objects_surviving"] + result["objects_lost"] == result["objects_acknowledged"]
    assert result["objects_missing_after_failback"] == 0


def test_bucket_whose_primary_survived_keeps_every_object(drill):
    result = drill["by_bucket"]["artifacts"]
    assert not result["failed_over"] and result["objects_acknowledged"] > 0 and result["objects_lost"] == 0
    assert result["objects_missing_after_failback"] == 0


def test_steps_without_a_local_backend_are_confirmed_by_the_drill_not_done(drill):
    recorded = drill["confirmed_by_drill"]
    assert any("dns.switch core-db" in line and "no DNS record" in line for line in recorded)
    assert not any(": db." in line and " sessions@" in line for line in recorded), "redis runs locally: done"
    assert not any(line.startswith("2.manual.isolate.astana: ") for line in recorded), "the lease isolated astana"
    done = {s["step"] for s in drill["failover_steps"] if s["status"] == "done"}
    assert {"3.db.promote.core-db", "3.db.promote.sessions", "2.db.relax.branch-db"} <= done
    states = {s["step"]: s["status"] for s in drill["failover_steps"]}
    assert states["6.pulumi.flip.almaty"] == "skipped"
    assert not any(s["status"] == "done" and s["step"].startswith(("5.dns", "6.pulumi"))
                   for s in drill["failover_steps"])


def test_automatic_drill_is_refused_without_witness(tmp_path):
    folder = project_in(tmp_path)
    spec = platform([{"name": "db", "kind": "postgres", "sites": ["astana", "almaty"], "topology": "active-passive",
                      "replication": "sync", "rpo": "0s"}])
    (folder / "stacks" / "Pulumi.nowitness.yaml").write_text(_stack_yaml(spec))
    done = run_multidc(folder, "drill", "--stack", "nowitness", "--trigger", "automatic", expect=2)
    assert "no witness" in done.stderr
    assert not (folder / ".multidc" / "local").exists(), "refused before anything started"


def _stack_yaml(spec) -> str:
    import yaml

    from multidc.spec import CONFIG_KEY

    return yaml.safe_dump({"config": {CONFIG_KEY: spec.model_dump(mode="json", exclude_none=True)}}, sort_keys=False)
