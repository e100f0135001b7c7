"""The cloud-init of a self-managed PostgreSQL host: valid YAML under its header, scripts bash parses, keys root-only."""

import subprocess

import yaml

from multidc.components.pg_cloud_init import CREDENTIALS, HEADER, SETTINGS, CloudFile, PgHost, cloud_config

HOST = PgHost(version="16", data_volume_id="0f3c2a4e-9b1d-4c55-a0e1-7d2c9e8b6a10", access_key="AKIA-writer",
              secret_key="s3cr3t/key+with'quote", settings={"archive_timeout": "30s", "listen_addresses": "localhost"})


def files_of(document):
    return {entry["path"]: entry for entry in document["write_files"]}


def test_cloud_config_is_yaml_under_its_header():
    text = cloud_config(HOST, files=[CloudFile("/etc/multidc/extra.sh", "#!/bin/bash\ntrue\n", executable=True)],
                        scripts=["/etc/multidc/extra.sh"])
    assert text.startswith(HEADER)
    document = yaml.safe_load(text)
    assert document["runcmd"] == [["bash", "/etc/multidc/pg-host.sh"], ["bash", "/etc/multidc/extra.sh"]]
    assert files_of(document)["/etc/multidc/extra.sh"]["permissions"] == "0700"


def test_keys_file_is_root_only_and_carries_the_writer_keys_verbatim():
    entry = files_of(yaml.safe_load(cloud_config(HOST)))[CREDENTIALS]
    assert entry["permissions"] == "0600" and entry["owner"] == "root:root"
    assert "aws_access_key_id = AKIA-writer\n" in entry["content"]
    assert "aws_secret_access_key = s3cr3t/key+with'quote\n" in entry["content"]


def test_settings_file_holds_the_callers_settings_quoted():
    entry = files_of(yaml.safe_load(cloud_config(HOST)))[SETTINGS]
    assert entry["content"] == "archive_timeout = '30s'\nlisten_addresses = 'localhost'\n"


def test_base_script_installs_the_version_on_the_volume():
    script = files_of(yaml.safe_load(cloud_config(HOST)))["/etc/multidc/pg-host.sh"]["content"]
    assert 'apt-get install -y -q "postgresql-$VERSION" barman-cli-cloud' in script and "VERSION=16\n" in script
    assert "VOLUME_ID=0f3c2a4e-9b1d-4c55-a0e1-7d2c9e8b6a10\n" in script
    assert "create_main_cluster = false" in script  # never a cluster on the boot disk


def test_base_script_parses_as_bash(tmp_path):
    script = tmp_path / "pg-host.sh"
    script.write_text(files_of(yaml.safe_load(cloud_config(HOST)))["/etc/multidc/pg-host.sh"]["content"])
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
