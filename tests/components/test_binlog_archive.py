"""The binlog archive of a MySQL/MariaDB system, as the program declares it (hybrid's `catalog`), under the mocks."""

import dataclasses
import json

from conftest import component, descendant, pod_containers

from multidc.contract import (BACKUP_TARGET, BINLOG_ARCHIVE, BINLOG_ARCHIVE_LAG_S, BINLOG_ARCHIVE_PREFIX,
                              BINLOG_ARCHIVE_TOOL, BINLOG_ARCHIVER_LOGIN, OUTPUTS_KEY)
from multidc.dr.inventory import read
from multidc.plan.graph import SECRET_MASK
from multidc.protection import binlog_archive

DEPLOYMENT, CRONJOB, SECRET = "kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:CronJob", "kubernetes:core/v1:Secret"


def _archive(graph):
    return component(graph, BINLOG_ARCHIVE, "catalog-backup-cloud-binlog")


def _env(container):
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


def test_the_streamer_runs_as_one_replica_in_the_offsite_runner_cluster(graphs):
    graph = graphs["hybrid"]
    (deployment,) = descendant(graph, _archive(graph), DEPLOYMENT)
    assert deployment.site == "cloud" and deployment.provider and "dr-ops-cloud" in deployment.provider, deployment.urn
    spec = deployment.inputs["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate", deployment.urn  # never two streamers
    streamer, uploader = spec["template"]["spec"]["containers"]
    assert streamer["image"] == "mysql:8.0.39" and streamer["command"] == ["sh", "-c"], deployment.urn
    assert streamer["args"] == [binlog_archive.streamer_script(binlog_archive.MYSQL)], deployment.urn
    assert "mysqlbinlog" in streamer["args"][0] and "--read-from-remote-server --raw --stop-never" in streamer["args"][0]
    assert uploader["image"].startswith("rclone/rclone:") and uploader["args"] == [binlog_archive.uploader_script()]
    env = _env(uploader)
    assert env["DEST"] == f"DST:hybrid-catalog-vault-cloud/{BINLOG_ARCHIVE_PREFIX}/catalog/binlog", deployment.urn
    assert int(env["INTERVAL"]) < BINLOG_ARCHIVE_LAG_S


def test_the_uploads_use_the_archive_writers_keys_and_the_dumps_the_archivers_login(graphs):
    graph = graphs["hybrid"]
    archive = _archive(graph)
    (deployment,) = descendant(graph, archive, DEPLOYMENT)
    streamer, uploader = deployment.inputs["spec"]["template"]["spec"]["containers"]
    keys = {s.name: s for s in descendant(graph, archive, SECRET)}["catalog-backup-cloud-binlog-writer-keys"]
    assert keys.inputs["stringData"] == SECRET_MASK, keys.urn
    assert _env(uploader)["RCLONE_CONFIG_DST_ACCESS_KEY_ID"]["secretKeyRef"]["name"] == keys.inputs["metadata"]["name"]
    credential = descendant(graph, component(graph, BACKUP_TARGET, "catalog-backup-cloud"),
                            "openstack:identity/ec2CredentialV3:Ec2CredentialV3")[0]
    assert credential.urn in keys.dependencies, keys.urn  # the writer's EC2 credential, not the site's keys
    assert _env(streamer)["DB_USER"] == BINLOG_ARCHIVER_LOGIN and "secretKeyRef" in _env(streamer)["MYSQL_PWD"]


def test_the_base_backup_is_a_dump_with_its_binlog_position_on_the_spec_schedule(graphs, specs):
    graph = graphs["hybrid"]
    (job,) = descendant(graph, _archive(graph), CRONJOB)
    catalog = next(s for s in specs["hybrid"].systems if s.name == "catalog")
    assert job.inputs["spec"]["schedule"] == catalog.backup.schedule, job.urn
    dump, upload = pod_containers(job)
    assert dump["args"] == [binlog_archive.dump_script(binlog_archive.MYSQL)], job.urn
    assert "--single-transaction --source-data=2" in dump["args"][0]
    assert upload["args"][0].startswith(f"exec rclone copy /backup DST:hybrid-catalog-vault-cloud/"
                                        f"{BINLOG_ARCHIVE_PREFIX}/catalog/base"), upload["args"]


def test_the_writer_may_write_the_binlog_prefix_and_never_delete(graphs):
    graph = graphs["hybrid"]
    target = component(graph, BACKUP_TARGET, "catalog-backup-cloud")
    bucket = next(n for n in descendant(graph, target, "pulumi-python:dynamic:Resource") if n.name.endswith("-vault"))
    policy = json.loads(bucket.inputs["policy"])
    allow = next(s for s in policy["Statement"] if s["Effect"] == "Allow")
    assert f"arn:aws:s3:::hybrid-catalog-vault-cloud/{BINLOG_ARCHIVE_PREFIX}/*" in allow["Resource"], bucket.urn
    deny = next(s for s in policy["Statement"] if s["Effect"] == "Deny")
    assert {"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectRetention"} <= set(deny["Action"]), bucket.urn


def test_the_outputs_name_the_binlog_archive_restore_reads(graphs):
    archive = graphs["hybrid"].outputs[OUTPUTS_KEY]["systems"]["catalog"]["backup"]["archive"]
    assert {k: archive[k] for k in ("tool", "prefix", "server_name", "archive_timeout_s", "runs_on")} == {
        "tool": BINLOG_ARCHIVE_TOOL, "prefix": BINLOG_ARCHIVE_PREFIX, "server_name": "catalog",
        "archive_timeout_s": BINLOG_ARCHIVE_LAG_S, "runs_on": "runner-cluster"}
    assert archive["writer"] == {"access_key": SECRET_MASK, "secret_key": SECRET_MASK}


def test_the_inventory_counts_the_archive_only_where_its_component_declares_resources(graphs):
    graph = graphs["hybrid"]
    (backup,) = read(graph).backups_of("catalog")
    assert (backup.archive_lag_s, backup.archive_tool) == (BINLOG_ARCHIVE_LAG_S, BINLOG_ARCHIVE_TOOL)
    # The same props with nothing under the BinlogArchive component: a property alone archives nothing.
    hollow = dataclasses.replace(graph, nodes=tuple(n for n in graph.nodes if n.parent != _archive(graph).urn))
    (backup,) = read(hollow).backups_of("catalog")
    assert (backup.archive_lag_s, backup.archive_tool) == (None, None)


def test_the_assessment_gives_catalog_the_archive_lag_against_ransomware_and_a_binlog_replay_term(graphs, specs):
    from multidc.dr.assessment import assess

    outcome = assess(specs["hybrid"], graphs["hybrid"]).outcome("catalog", "ransomware")
    assert outcome.rpo_s == BINLOG_ARCHIVE_LAG_S and "binlog archived continuously" in outcome.rpo_formula
    # Base backups every 4 hours: up to 4 h of binlog to apply at WAL_REPLAY_RATIO 0.1.
    assert "binlog replay of up to one base-backup interval 4h x WAL_REPLAY_RATIO 0.1 24m" in outcome.rto_formula
    assert outcome.survives and not outcome.flagged, outcome.reason
