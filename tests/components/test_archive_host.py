"""The archive host of a managed PostgreSQL: declared in the vault's site, closed to the world, its cloud-init
(a secret) subscribing to the primary, archiving with the local deployment's settings, backing up on schedule."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.runtime import rpc

from conftest import STACKS, component, descendant

from multidc.components.archive_host import PASSFILE, SERVICE
from multidc.components.on_calendar import on_calendar
from multidc.components.pg_cloud_init import CREDENTIALS, HEADER, SETTINGS, TOOL_HOST
from multidc.contract import ARCHIVE_HOST, ARCHIVE_RUNS_ON_HOST, BACKUP_TARGET, OUTPUTS_KEY
from multidc.local.archiving import server_settings
from multidc.plan.capture import CapturingMonitor, PlanMocks, run_under_mocks
from multidc.plan.graph import SECRET_MASK
from multidc.protection.barman_cloud import ArchiveTarget
from multidc.spec import CONFIG_KEY, Kind
from multidc.spec.load import parse_platform

ROOT = Path(__file__).resolve().parents[2]
INSTANCE = "openstack:compute/instance:Instance"
VOLUME = "openstack:blockstorage/volume:Volume"
SECGROUP = "openstack:networking/secGroup:SecGroup"
RULE = "openstack:networking/secGroupRule:SecGroupRule"
LEAN = ROOT / "tests" / "drill" / "Pulumi.ransomware-lean.yaml"


def archived(spec):
    return [s for s in spec.systems if s.kind is Kind.postgres and s.backup is not None]


def host_of(graph, system):
    return component(graph, ARCHIVE_HOST, f"{system.name}-backup-{system.backup.offsite_site}-archive-host")


@pytest.mark.parametrize("stack", STACKS)
def test_every_archived_postgres_has_a_host_in_its_vault_site_on_that_sites_provider(graphs, specs, stack):
    graph = graphs[stack]
    systems = archived(specs[stack])
    assert systems, stack
    for system in systems:
        host = host_of(graph, system)
        target = component(graph, BACKUP_TARGET, f"{system.name}-backup-{system.backup.offsite_site}")
        assert host.parent == target.urn and host.site == system.backup.offsite_site, host.urn
        assert {n.site for n in graph.descendants(host.urn) if n.custom} == {system.backup.offsite_site}, host.urn
        (server,) = descendant(graph, host, INSTANCE)
        (data,) = descendant(graph, host, VOLUME)
        assert server.inputs["flavorName"] == system.size.flavor, server.urn
        assert data.inputs["size"] == system.size.volume_gb, data.urn
        boot, attached = server.inputs["blockDevices"]
        assert boot["sourceType"] == "image" and boot["bootIndex"] == 0, server.urn
        assert attached["sourceType"] == "volume" and attached["deleteOnTermination"] is False, server.urn
        assert data.urn in server.dependencies, server.urn
        assert host.inputs["on_calendar"] == on_calendar(system.backup.schedule), host.urn


@pytest.mark.parametrize("stack", STACKS)
def test_the_host_admits_nothing_inbound(graphs, specs, stack):
    graph = graphs[stack]
    for system in archived(specs[stack]):
        host = host_of(graph, system)
        (server,) = descendant(graph, host, INSTANCE)
        (group,) = descendant(graph, host, SECGROUP)
        assert server.inputs["securityGroups"] == [group.inputs["name"]], server.urn
        assert not [r for r in graph.of_type(RULE) if group.urn in r.dependencies], group.urn


@pytest.mark.parametrize("stack", STACKS)
def test_user_data_is_secret_in_inputs_and_state(graphs, specs, stack):
    graph = graphs[stack]
    for system in archived(specs[stack]):
        (server,) = descendant(graph, host_of(graph, system), INSTANCE)
        assert "userData" in server.secret_inputs and server.inputs["userData"] == SECRET_MASK, server.urn
        assert server.outputs.get("userData", SECRET_MASK) == SECRET_MASK, server.urn


def test_card_data_host_sits_on_the_cardholder_segment_on_encrypted_volumes(graphs, specs):
    graph = graphs["kz-prod"]
    cards = next(s for s in specs["kz-prod"].systems if s.name == "cards-db")
    host = host_of(graph, cards)
    (server,) = descendant(graph, host, INSTANCE)
    (data,) = descendant(graph, host, VOLUME)
    network = next(n for n in graph.of_type("openstack:networking/network:Network")
                   if n.inputs.get("name") == "kz-prod-almaty-cardholder")
    assert network.urn in server.dependencies, server.urn
    assert data.inputs["volumeType"] == "encrypted", data.urn
    assert {d["volumeType"] for d in server.inputs["blockDevices"]} == {"encrypted"}, server.urn


def test_outputs_name_the_host_and_where_the_archive_runs(graphs):
    archive = graphs["kz-prod"].outputs[OUTPUTS_KEY]["systems"]["core-db"]["backup"]["archive"]
    assert archive["runs_on"] == ARCHIVE_RUNS_ON_HOST
    assert re.fullmatch(r"10\.20\.\d+\.\d+", archive["host"]), archive  # almaty's network


class RecordingMocks(PlanMocks):
    """The plan's mocks, keeping each archive host server's inputs as the provider would get them (unmasked)."""

    def __init__(self) -> None:
        super().__init__()
        self.servers: dict[str, dict[str, Any]] = {}

    def new_resource(self, args):
        if args.typ == INSTANCE and args.name.endswith("-archive-host-server"):
            self.servers[args.name] = args.inputs
        return super().new_resource(args)


@pytest.fixture(scope="module")
def lean_cloud_config():
    """The lean ransomware stack's archive host cloud-config, rendered by the program under mocks."""
    from multidc import program

    platform = parse_platform(yaml.safe_load(LEAN.read_text())["config"][CONFIG_KEY], str(LEAN))
    mocks = RecordingMocks()
    run_under_mocks(program.main, platform.name, {CONFIG_KEY: platform.model_dump(mode="json")},
                    CapturingMonitor(mocks))
    (inputs,) = mocks.servers.values()
    system = next(s for s in platform.systems if s.name == "core-db")
    user_data = inputs["userData"]
    # The SDK hands a secret to the provider wrapped, with its value inside.
    assert isinstance(user_data, dict) and user_data.get(rpc._special_sig_key) == rpc._special_secret_sig, \
        "the archive host's user data (keys, the primary's password) must reach the provider as a secret"
    return platform, system, user_data["value"]


def files(text: str) -> dict[str, dict]:
    return {entry["path"]: entry for entry in yaml.safe_load(text)["write_files"]}


def test_cloud_config_subscribes_to_the_primarys_publication_with_a_slot_of_its_own(lean_cloud_config):
    _, system, text = lean_cloud_config
    written = files(text)
    sql = written["/etc/multidc/subscription.sql"]["content"]
    assert "CREATE SUBSCRIPTION multidc_core_db_archive CONNECTION" in sql
    assert "PUBLICATION multidc_core_db\n  WITH (copy_data = true, slot_name = 'multidc_core_db_archive');" in sql
    assert f"passfile={PASSFILE}" in sql and "password" not in sql  # the password stays out of the catalogue
    assert "CREATE PUBLICATION multidc_core_db FOR ALL TABLES;" in written["/etc/multidc/publication.sql"]["content"]
    assert written[PASSFILE]["permissions"] == "0600" and written[CREDENTIALS]["permissions"] == "0600"


def test_cloud_config_archives_with_the_local_deployments_settings_byte_for_byte(lean_cloud_config):
    platform, system, text = lean_cloud_config
    target = ArchiveTarget(platform.site("almaty").s3_endpoint, "ransomware-lean-core-db-vault-almaty", "core-db")
    local = "".join(f"{key} = {value}\n" for key, value in server_settings(target, TOOL_HOST))
    settings = files(text)[SETTINGS]["content"]
    assert settings.startswith(local), (settings, local)
    assert "archive_command = 'env AWS_SHARED_CREDENTIALS_FILE=/etc/multidc/archive.credentials " \
           "barman-cloud-wal-archive --endpoint-url https://s3.almaty.example.kz --gzip " \
           "s3://ransomware-lean-core-db-vault-almaty/pg-archive core-db %p'\n" in settings


def test_base_backups_run_on_a_timer_built_from_the_schedule_and_never_delete(lean_cloud_config):
    _, system, text = lean_cloud_config
    written = files(text)
    timer = written[f"/etc/systemd/system/{SERVICE}.timer"]["content"]
    service = written[f"/etc/systemd/system/{SERVICE}.service"]["content"]
    assert f"OnCalendar={on_calendar(system.backup.schedule)}\n" in timer and "Persistent=true\n" in timer
    assert "ExecStart=barman-cloud-backup --endpoint-url https://s3.almaty.example.kz --gzip --host " \
           "/var/run/postgresql --port 5432 --user postgres s3://ransomware-lean-core-db-vault-almaty/pg-archive " \
           "core-db\n" in service and "User=postgres\n" in service
    assert "backup-delete" not in text.replace("Never barman-cloud-backup-delete", "")


def test_cloud_config_parses_and_its_scripts_pass_bash_n(lean_cloud_config, tmp_path):
    _, _, text = lean_cloud_config
    assert text.startswith(HEADER)
    document = yaml.safe_load(text)
    scripts = [entry for entry in document["write_files"] if entry["path"].endswith(".sh")]
    assert [entry["path"] for entry in scripts] == ["/etc/multidc/pg-host.sh", "/etc/multidc/archive-host.sh"]
    for number, entry in enumerate(scripts):
        path = tmp_path / f"{number}.sh"
        path.write_text(entry["content"])
        result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, (entry["path"], result.stderr)
