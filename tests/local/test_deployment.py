"""`multidc local up` checks every tool it needs before it starts anything."""

from typer.testing import CliRunner

from multidc.cli import app
from multidc.local import deployment


def test_missing_rclone_is_named_with_the_command_that_installs_it(planned, planned_outputs):
    platform, _ = planned("kz-prod")
    missing = deployment.missing_tools(platform, planned_outputs, which=lambda tool: None)
    assert any(line.startswith("rclone") and "make system-deps" in line for line in missing)


def test_local_up_without_rclone_stops_before_starting_anything(monkeypatch, tmp_path, planned_outputs,
                                                               project_copy):
    monkeypatch.setenv("MULTIDC_PROJECT_DIR", str(project_copy.path))
    monkeypatch.setattr(deployment.shutil, "which", lambda tool: None if tool == "rclone" else "/usr/bin/" + tool)
    monkeypatch.setattr("multidc.plan.capture.plan", lambda platform, stack: type(
        "Graph", (), {"outputs": {"multidc": planned_outputs}})())
    result = CliRunner().invoke(app, ["local", "up", "--stack", "kz-prod", "--outputs", str(tmp_path / "o.json")])
    assert result.exit_code == 2, result.output
    assert "rclone" in result.output and "apt-get install rclone" in result.output
    assert not (tmp_path / "o.json").exists()
    assert not (deployment.state_dir("kz-prod") / deployment.STATE_FILE).exists()


def test_missing_redis_server_is_named_with_the_command_that_installs_it(planned, planned_outputs):
    platform, _ = planned("kz-prod")  # sessions: Redis, astana -> almaty
    missing = deployment.missing_tools(platform, planned_outputs, which=lambda tool: None)
    assert any(line.startswith("redis-server") and "apt-get install redis-server" in line for line in missing)


def test_missing_etcd_is_named_for_a_stack_with_a_witness(planned, planned_outputs):
    platform, _ = planned("kz-prod")  # a witness in karaganda: automatic failover runs on etcd
    missing = deployment.missing_tools(platform, planned_outputs, which=lambda tool: None)
    assert any(line.startswith("etcd") and "apt-get install etcd-server" in line for line in missing)


def test_missing_mariadb_server_is_named_with_the_command_that_installs_it(planned):
    platform, graph = planned("hybrid")  # catalog: MySQL, served locally by MariaDB
    missing = deployment.missing_tools(platform, graph.outputs["multidc"], which=lambda tool: None)
    assert any(line.startswith("mariadbd") and "apt-get install mariadb-server" in line for line in missing)


def test_missing_binlog_streamer_is_named_for_an_archived_mysql_system(planned):
    platform, graph = planned("hybrid")  # catalog is backed up: its binlog is archived with mariadb-binlog
    missing = deployment.missing_tools(platform, graph.outputs["multidc"],
                                       which=lambda tool: None if tool == "mariadb-binlog" else "/usr/bin/" + tool)
    assert missing == ["mariadb-binlog, which archives the binlog into the vault (install: make system-deps, or "
                       "apt-get install rclone mariadb-client)"]
