"""status, failover and failback on the deployed stack's outputs: dry runs, refusals, bad outputs."""

import copy
import json

import pytest
from typer.testing import CliRunner

from multidc.cli import app
from multidc.local.postgres import free_port


def run(*args):
    return CliRunner().invoke(app, list(args))


def test_the_operations_are_commands_of_multidc():
    names = {command.name or command.callback.__name__ for command in app.registered_commands}
    assert {"status", "failover", "failback", "drill", "plan", "restore"} <= names


def test_failover_dry_run_names_both_sites_and_changes_nothing(outputs_file, tmp_path):
    result = run("failover", "--stack", "kz-prod", "--to", "almaty", "--outputs", str(outputs_file()),
                 "--dry-run", "--journal", str(tmp_path / "j"))
    assert result.exit_code == 0, result.output
    assert "astana → almaty" in result.output and "nothing was changed" in result.output
    assert not (tmp_path / "j").exists()


def test_failover_without_yes_and_without_a_terminal_is_not_run(outputs_file, tmp_path):
    result = run("failover", "--stack", "kz-prod", "--to", "almaty", "--outputs", str(outputs_file()),
                 "--journal", str(tmp_path / "j"))
    assert result.exit_code == 2 and "pass --yes" in result.output
    assert not (tmp_path / "j").exists()


def test_failover_to_the_primary_site_explains_the_fix(outputs_file):
    result = run("failover", "--stack", "kz-prod", "--to", "astana", "--outputs", str(outputs_file()), "--dry-run")
    assert result.exit_code == 2 and "already the primary site" in result.output


def test_without_outputs_and_without_a_pulumi_cli_both_ways_are_named(monkeypatch):
    monkeypatch.setattr("multidc.ops.outputs.shutil.which", lambda name: None)
    for command in (["status"], ["failover", "--to", "almaty", "--dry-run"], ["failback", "--to", "astana"]):
        result = run(*command, "--stack", "kz-prod")
        assert result.exit_code == 2, result.output
        assert "--outputs FILE" in result.output and "Pulumi CLI" in result.output
        assert "Traceback" not in result.output


@pytest.mark.parametrize("change, phrase", [
    (lambda d: d.update(schema="multidc.outputs/v9"), "this multidc reads multidc.outputs/v1"),
    (lambda d: d["systems"]["core-db"]["placements"]["almaty"].pop("role"), "placements.almaty.role: Field required"),
    (lambda d: d.update(stack="hybrid"), "the document is of stack 'hybrid', not 'kz-prod'"),
])
def test_a_bad_outputs_file_is_refused_with_its_problem(outputs_file, planned_outputs, change, phrase):
    document = copy.deepcopy(planned_outputs)
    change(document)
    if phrase.startswith("the document is of stack"):
        document["platform"] = "hybrid"
    result = run("status", "--stack", "kz-prod", "--outputs", str(outputs_file(document)))
    assert result.exit_code == 2, result.output
    assert phrase in result.output.replace("\n", " ") and "Traceback" not in result.output


def test_an_outputs_file_that_is_not_json_names_line_and_column(outputs_file):
    result = run("status", "--stack", "kz-prod", "--outputs", str(outputs_file(raw='{"multidc": {')))
    assert result.exit_code == 2 and "not JSON" in result.output and "line 1" in result.output


def test_failover_refuses_when_the_site_taking_over_does_not_answer(outputs_file, planned_outputs, tmp_path):
    # Loopback ports nobody listens on: the outputs name endpoints that do not answer.
    document = copy.deepcopy(planned_outputs)
    for system in document["systems"].values():
        for placement in system["placements"].values():
            if placement["database"]:
                placement["database"].update(host="127.0.0.1", port=free_port())
            if placement["bucket"]:
                placement["bucket"]["endpoint"] = f"http://127.0.0.1:{free_port()}"
    result = run("failover", "--stack", "kz-prod", "--to", "almaty", "--outputs", str(outputs_file(document)),
                 "--yes", "--journal", str(tmp_path / "j"))
    assert result.exit_code == 2, result.output
    assert "do not answer; nothing was changed" in result.output and "core-db in almaty: 127.0.0.1:" in result.output
    assert not (tmp_path / "j").exists()


def test_status_json_reports_a_database_that_does_not_answer_as_outside_targets(outputs_file, planned_outputs):
    document = copy.deepcopy(planned_outputs)
    keep = document["systems"]["core-db"]
    for placement in keep["placements"].values():
        placement["database"].update(host="127.0.0.1", port=free_port())
        placement["database"]["password"] = "x"
    keep["backup"] = None
    document["systems"] = {"core-db": keep}
    result = run("status", "--stack", "kz-prod", "--outputs", str(outputs_file(document)), "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    core = report["systems"][0]
    assert report["ok"] is False and core["ok"] is False
    assert core["problems"][0].startswith("no reachable primary")
    assert [s["reachable"] for s in core["sites"]] == [False, False]


def test_confirming_a_step_the_runbook_does_not_have_names_the_step_ids_and_changes_nothing(outputs_file):
    result = run("failover", "--stack", "kz-prod", "--to", "almaty", "--outputs", str(outputs_file()), "--dry-run",
                 "--confirm", "2.manual.isolate.nowhere")
    assert result.exit_code == 2
    assert "--confirm 2.manual.isolate.nowhere: no such step" in result.output
    assert "2.manual.isolate.astana" in result.output
