"""The delayed standby of kz-prod's core-db and cards-db under the SDK's mocks: a VM and its data volume in the
vault's site, keys of a reader the vault's bucket policy denies every change, cloud-init from the settings the
local standby uses, and its entry in the outputs document."""

import json
import subprocess

import pytest
import yaml

from conftest import component, descendant

from multidc.components.delayed_standby import RESTORE_SCRIPT, cloud_init
from multidc.components.pg_cloud_init import CREDENTIALS, HEADER, SETTINGS, TOOL_HOST
from multidc.contract import (ARCHIVE_READER_DENIED, ARCHIVE_WRITER_DENIED, BACKUP_TARGET, DELAYED_STANDBY,
                              OUTPUTS_KEY)
from multidc.plan.graph import SECRET_MASK
from multidc.protection.barman_cloud import ArchiveTarget, conf_text, restore_command
from multidc.protection.delayed import standby_settings

DELAYED = ("core-db", "cards-db")


@pytest.mark.parametrize("system", DELAYED)
def test_the_standby_is_a_vm_of_the_systems_flavor_with_its_volume_in_the_vault_site(graphs, specs, system):
    graph, spec = graphs["kz-prod"], next(s for s in specs["kz-prod"].systems if s.name == system)
    standby = component(graph, DELAYED_STANDBY, f"{system}-backup-almaty-delayed-standby")
    assert standby.site == "almaty" and standby.inputs["delay_s"] == 3600, standby.urn
    [server] = descendant(graph, standby, "openstack:compute/instance:Instance")
    assert server.inputs["flavorName"] == spec.size.flavor and server.site == "almaty", server.urn
    assert "userData" in server.secret_inputs, f"{server.urn}: its user_data holds the reader's keys"
    [volume] = descendant(graph, standby, "openstack:blockstorage/volume:Volume")
    assert volume.inputs["size"] == spec.size.volume_gb, volume.urn
    # Attached at boot (cloud-init finds it), kept when the server is replaced; card data on the encrypted type.
    boot, attached = server.inputs["blockDevices"]
    assert attached["uuid"] == volume.outputs.get("id", attached["uuid"]) and attached["bootIndex"] == -1, server.urn
    assert attached["deleteOnTermination"] is False, server.urn
    if "payment-card" in [c.value for c in spec.data_classes]:
        assert volume.inputs.get("volumeType") and boot.get("volumeType") == volume.inputs["volumeType"], server.urn


@pytest.mark.parametrize("system", DELAYED)
def test_the_vault_lets_the_reader_read_and_denies_it_every_change(graphs, system):
    graph = graphs["kz-prod"]
    target = component(graph, BACKUP_TARGET, f"{system}-backup-almaty")
    standby = component(graph, DELAYED_STANDBY, f"{system}-backup-almaty-delayed-standby")
    [reader] = descendant(graph, standby, "openstack:identity/user:User")
    assert reader.inputs["name"] == f"kz-prod-{system}-archive-reader", reader.urn
    [credential] = descendant(graph, standby, "openstack:identity/ec2CredentialV3:Ec2CredentialV3")
    assert credential.outputs["access"] == SECRET_MASK and credential.outputs["secret"] == SECRET_MASK
    vault = next(n for n in descendant(graph, target, "pulumi-python:dynamic:Resource") if n.name.endswith("-vault"))
    statements = json.loads(vault.inputs["policy"])["Statement"]
    principal = f"arn:aws:iam::{reader.inputs['defaultProjectId']}:user/{reader.outputs['id']}"
    allowed = [s for s in statements if s["Effect"] == "Allow" and principal in s["Principal"]["AWS"]]
    denied = [s for s in statements if s["Effect"] == "Deny" and principal in s["Principal"]["AWS"]]
    assert [set(s["Action"]) for s in allowed] == [{"s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"}]
    assert set(denied[0]["Action"]) == set(ARCHIVE_READER_DENIED) >= {"s3:PutObject", *ARCHIVE_WRITER_DENIED}
    writer_deny = [s for s in statements if s["Effect"] == "Deny" and principal not in s["Principal"]["AWS"]]
    assert writer_deny, "the writer's deny is still there"


def test_the_outputs_name_each_delayed_standby_and_no_other(graphs, specs):
    systems = graphs["kz-prod"].outputs[OUTPUTS_KEY]["systems"]
    named = {name for name, s in systems.items() if (s["backup"] or {}).get("delayed_standby")}
    assert named == set(DELAYED)
    entry = systems["core-db"]["backup"]["delayed_standby"]
    assert (entry["site"], entry["port"], entry["delay_s"]) == ("almaty", 5432, 3600) and entry["host"]


def test_cloud_init_starts_the_standby_with_the_settings_the_local_standby_uses(tmp_path):
    text = cloud_init("core-db", "16", "https://s3.almaty.example.kz", "vault", 3600, "vol-1", "AK", "SK")
    assert text.startswith(HEADER)
    document = yaml.safe_load(text)
    files = {f["path"]: f for f in document["write_files"]}
    assert files[CREDENTIALS]["permissions"] == "0600" and "aws_access_key_id = AK" in files[CREDENTIALS]["content"]
    target = ArchiveTarget("https://s3.almaty.example.kz", "vault", "core-db")
    settings = standby_settings(restore_command(target, TOOL_HOST), 3600)
    assert conf_text(settings) in files[SETTINGS]["content"]
    assert "barman-cloud-wal-restore --endpoint-url" in files[SETTINGS]["content"]
    assert "primary_conninfo = ''" in files[SETTINGS]["content"]
    assert document["runcmd"][-1] == ["bash", RESTORE_SCRIPT]
    script = files[RESTORE_SCRIPT]["content"]
    assert "barman-cloud-restore" in script and "latest /var/lib/postgresql/16/main" in script
    assert "standby.signal" in script and "archive_(mode|command|timeout)" in script
    (tmp_path / "standby.sh").write_text(script)
    parsed = subprocess.run(["bash", "-n", str(tmp_path / "standby.sh")], capture_output=True, text=True, timeout=30)
    assert parsed.returncode == 0, parsed.stderr
