"""The DR commands: registration, confirmation, dry run, errors that name the fix."""

import json

import pytest
import typer
from typer.testing import CliRunner

from multidc.dr import commands

from .graphs import graph_for


@pytest.fixture
def app(monkeypatch):
    # The offline planner is another module's job; these tests feed the hand-built graph.
    monkeypatch.setattr(commands, "planned_graph", lambda platform, stack: graph_for(platform))
    app = typer.Typer()
    commands.register(app)
    return app


def test_register_adds_the_five_dr_commands(app):
    names = {command.name for command in app.registered_commands}
    assert names == {"assess", "runbook", "failover", "failback", "drill"}


def test_failover_dry_run_names_both_sites_and_changes_nothing(app, tmp_path):
    result = CliRunner().invoke(app, ["failover", "--stack", "kz-prod", "--to", "almaty", "--dry-run",
                                      "--journal", str(tmp_path / "j")])
    assert result.exit_code == 0, result.output
    assert "astana → almaty" in result.output and "nothing was changed" in result.output
    assert not (tmp_path / "j").exists()


def test_failover_without_yes_and_without_a_terminal_is_not_run(app, tmp_path):
    result = CliRunner().invoke(app, ["failover", "--stack", "kz-prod", "--to", "almaty",
                                      "--journal", str(tmp_path / "j")])
    assert result.exit_code == 2 and "pass --yes" in result.output
    assert not (tmp_path / "j").exists()


def test_failover_to_the_primary_site_explains_the_fix(app):
    result = CliRunner().invoke(app, ["failover", "--stack", "kz-prod", "--to", "astana", "--dry-run"])
    assert result.exit_code == 2 and "already the primary site" in result.output


def test_failover_with_yes_records_cloud_steps_without_targets_and_journals_them(app, tmp_path, monkeypatch):
    # Never `pulumi up` a stack file from a test, even on a machine that has the CLI.
    monkeypatch.setattr("multidc.dr.backends.shutil.which", lambda name: None)
    result = CliRunner().invoke(app, ["failover", "--stack", "kz-prod", "--to", "almaty", "--yes",
                                      "--journal", str(tmp_path / "j")])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "j").read_text().splitlines()]
    promote = next(r for r in records if r["event"] == "done" and r["step"] == "3.db.promote.core-db")
    assert "no --targets entry" in promote["detail"]
    assert records[-1]["event"] == "finished"


def test_assess_json_has_a_verdict_per_system_and_scenario(app):
    result = CliRunner().invoke(app, ["assess", "--stack", "hybrid", "--json"])
    data = json.loads(result.output)
    assert len(data["outcomes"]) == len(data["scenarios"]) * 5
