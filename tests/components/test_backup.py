"""Offsite backups: a locked vault in the offsite site, filled by jobs that run there."""

import json
import re
from datetime import datetime, timezone

import pytest

from conftest import STACKS, component, descendant, pod_containers

from multidc.protection.db_backup import parse_backup_key
from multidc.contract import ARCHIVE_ACCESS, BACKUP_TARGET, OUTPUTS_KEY, VELERO
from multidc.plan.graph import SECRET_MASK

DYNAMIC = "pulumi-python:dynamic:Resource"


def vault(graph, target):
    return next(node for node in descendant(graph, target, DYNAMIC) if node.name.endswith("-vault"))


@pytest.mark.parametrize("stack", STACKS)
def test_every_backup_policy_has_a_target_in_its_offsite_site(graphs, specs, stack):
    graph = graphs[stack]
    for system in (s for s in specs[stack].systems if s.backup is not None):
        offsite = system.backup.offsite_site
        target = component(graph, BACKUP_TARGET, f"{system.name}-backup-{offsite}")
        assert target.site == offsite and target.inputs["protects_site"] == system.sites[0], target.urn
        assert {node.site for node in graph.descendants(target.urn) if node.custom} == {offsite}, target.urn


@pytest.mark.parametrize("stack", STACKS)
def test_vault_is_under_compliance_lock_for_the_immutable_days(graphs, specs, stack):
    graph = graphs[stack]
    for system in (s for s in specs[stack].systems if s.backup is not None):
        target = component(graph, BACKUP_TARGET, f"{system.name}-backup-{system.backup.offsite_site}")
        bucket = vault(graph, target)
        assert bucket.inputs["versioning"] is True, bucket.urn
        if system.backup.immutable_days > 0:
            assert bucket.inputs["object_lock_mode"] == "COMPLIANCE", bucket.urn
            assert bucket.inputs["object_lock_days"] == system.backup.immutable_days, bucket.urn
        else:
            assert bucket.inputs.get("object_lock_mode") is None, bucket.urn


def test_vault_keeps_backups_for_the_longest_retention(graphs):
    graph = graphs["kz-prod"]  # core-db: daily 14, weekly 8, monthly 12 -> 12 months of 31 days
    bucket = vault(graph, component(graph, BACKUP_TARGET, "core-db-backup-almaty"))
    assert bucket.inputs["lifecycle_days"] == 372


def test_postgres_is_dumped_in_custom_format_by_a_pinned_client_and_uploaded(graphs):
    graph = graphs["kz-prod"]
    target = component(graph, BACKUP_TARGET, "core-db-backup-almaty")
    job = descendant(graph, target, "kubernetes:batch/v1:CronJob", "core-db-backup-almaty-dump")[0]
    assert job.inputs["spec"]["schedule"] == "0 */6 * * *"
    dump, upload = pod_containers(job)
    assert re.fullmatch(r"postgres:16\.\d+", dump["image"]), dump["image"]
    assert "pg_dump -Fc" in " ".join(dump["args"])
    assert upload["args"][:2] == ["copy", "/backup"]
    assert upload["args"][2].startswith("DST:kz-prod-core-db-vault-almaty/"), upload["args"]


def test_postgres_dumps_land_where_restore_looks_for_them(graphs):
    graph = graphs["kz-prod"]
    target = component(graph, BACKUP_TARGET, "core-db-backup-almaty")
    job = descendant(graph, target, "kubernetes:batch/v1:CronJob", "core-db-backup-almaty-dump")[0]
    dump, upload = pod_containers(job)
    prefix = upload["args"][2].split("/", 1)[1]
    (file_name,) = re.findall(r'"/backup/(\$\(date -u \+%Y%m%dT%H%M%SZ\)\.dump)"', dump["args"][-1])
    key = f"{prefix}/{file_name.replace('$(date -u +%Y%m%dT%H%M%SZ)', '20261127T080000Z')}"
    assert parse_backup_key(key) == ("core-db", datetime(2026, 11, 27, 8, tzinfo=timezone.utc)), key


def test_bucket_backup_copies_and_never_deletes(graphs):
    graph = graphs["kz-prod"]
    target = component(graph, BACKUP_TARGET, "documents-backup-almaty")
    job = descendant(graph, target, "kubernetes:batch/v1:CronJob", "documents-backup-almaty-copy")[0]
    (rclone,) = pod_containers(job)
    # The objects keep their own keys in the vault: restore compares them key by key.
    assert rclone["args"][:3] == ["copy", "SRC:kz-prod-documents-astana", "DST:kz-prod-documents-vault-almaty"]


def velero_release(graph, placement):
    velero = component(graph, VELERO, f"{placement}-velero")
    return velero, descendant(graph, velero, "kubernetes:helm.sh/v3:Release")[0]


def test_velero_writes_to_an_unlocked_staging_bucket_in_the_offsite_site(graphs):
    graph = graphs["kz-prod"]  # apps: backup to almaty, immutable 14 days
    velero, release = velero_release(graph, "apps-astana")
    assert velero.site == "astana"
    assert release.inputs["chart"] == "velero" and release.inputs["repositoryOpts"]["repo"] == (
        "https://vmware-tanzu.github.io/helm-charts")
    (location,) = release.inputs["values"]["configuration"]["backupStorageLocation"]
    target = component(graph, BACKUP_TARGET, "apps-backup-almaty")
    staging = next(node for node in descendant(graph, target, DYNAMIC) if node.inputs["bucket"] == location["bucket"])
    assert staging.inputs.get("object_lock_mode") is None, staging.urn
    assert vault(graph, target).inputs["object_lock_mode"] == "COMPLIANCE"
    assert location["config"]["s3Url"] == "https://s3.almaty.example.kz"
    copy = descendant(graph, target, "kubernetes:batch/v1:CronJob", "apps-backup-almaty-copy")[0]
    assert pod_containers(copy)[0]["args"][1:3] == [f"SRC:{staging.inputs['bucket']}",
                                                   "DST:kz-prod-apps-vault-almaty/velero"]


def test_velero_schedules_keep_daily_weekly_and_monthly_backups_for_the_policy(graphs):
    _, release = velero_release(graphs["kz-prod"], "apps-astana")  # 0 * * * *; 7 daily, 4 weekly, 3 monthly
    schedules = {name: (s["schedule"], s["template"]["ttl"]) for name, s in release.inputs["values"]["schedules"].items()}
    assert schedules == {
        "apps-regular": ("0 * * * *", "168h0m0s"),
        "apps-weekly": ("0 1 * * 0", "672h0m0s"),
        "apps-monthly": ("0 1 1 * *", "2232h0m0s"),
    }


def test_one_velero_per_cluster_backs_up_the_cluster_and_the_ml_platform_on_it(graphs):
    _, release = velero_release(graphs["kz-prod"], "ml-k8s-astana")
    locations = {item["name"]: item for item in release.inputs["values"]["configuration"]["backupStorageLocation"]}
    assert set(locations) == {"ml-k8s", "ml"}
    schedules = release.inputs["values"]["schedules"]
    assert schedules["ml-regular"]["template"]["includedNamespaces"] == ["ml", "spark-jobs"]
    assert schedules["ml-k8s-regular"]["template"]["includedNamespaces"] == ["*"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_job_container_is_limited_non_root_read_only_and_pinned(graphs, stack):
    jobs = graphs[stack].of_type("kubernetes:batch/v1:CronJob")
    assert jobs
    for job in jobs:
        pod = job.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, job.urn
        for container in pod_containers(job):
            where = f"{job.urn}: container {container['name']}"
            assert set(container["resources"]["requests"]) == {"cpu", "memory"}, where
            assert set(container["resources"]["limits"]) == {"cpu", "memory"}, where
            context = container["securityContext"]
            assert context["runAsNonRoot"] and context["readOnlyRootFilesystem"], where
            assert context["allowPrivilegeEscalation"] is False, where
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), f"{where}: {image}"


def _archived(spec):
    return [s for s in spec.systems if s.backup is not None and s.kind.value in ("postgres", "mysql")]


@pytest.mark.parametrize("stack", STACKS)
def test_archive_writer_is_a_dedicated_user_with_secret_keys_in_the_vault_site(graphs, specs, stack):
    graph = graphs[stack]
    for system in _archived(specs[stack]):
        offsite = system.backup.offsite_site
        access = component(graph, ARCHIVE_ACCESS, f"{system.name}-backup-{offsite}-archive-access")
        user = descendant(graph, access, "openstack:identity/user:User")[0]
        assert user.inputs["name"] == f"{specs[stack].name}-{system.name}-archive-writer", user.urn
        assert user.site == offsite and "password" in user.secret_inputs, user.urn
        assert descendant(graph, access, "openstack:identity/roleAssignment:RoleAssignment"), access.urn
        credential = descendant(graph, access, "openstack:identity/ec2CredentialV3:Ec2CredentialV3")[0]
        assert credential.inputs["userId"] == user.outputs["id"], credential.urn  # the writer's, not the site's
        assert credential.outputs["access"] == SECRET_MASK and credential.outputs["secret"] == SECRET_MASK, credential.urn
        writer = graph.outputs[OUTPUTS_KEY]["systems"][system.name]["backup"]["archive"]["writer"]
        assert writer == {"access_key": SECRET_MASK, "secret_key": SECRET_MASK}, system.name


@pytest.mark.parametrize("stack", STACKS)
def test_archive_vault_policy_denies_the_writer_every_delete_and_unlock(graphs, specs, stack):
    graph = graphs[stack]
    for system in _archived(specs[stack]):
        target = component(graph, BACKUP_TARGET, f"{system.name}-backup-{system.backup.offsite_site}")
        bucket = vault(graph, target)
        user = descendant(graph, target, "openstack:identity/user:User")[0]
        policy = json.loads(bucket.inputs["policy"])
        deny = next(s for s in policy["Statement"] if s["Effect"] == "Deny")
        assert set(deny["Action"]) >= {"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectRetention",
                                       "s3:BypassGovernanceRetention", "s3:PutBucketObjectLockConfiguration",
                                       "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"}, bucket.urn
        assert deny["Principal"]["AWS"] == [f"arn:aws:iam::{user.inputs['defaultProjectId']}:user/{user.outputs['id']}"]
        assert f"arn:aws:s3:::{bucket.inputs['bucket']}/*" in deny["Resource"], bucket.urn


def test_only_archived_vaults_carry_a_bucket_policy(graphs, specs):
    graph = graphs["kz-prod"]
    for system in (s for s in specs["kz-prod"].systems if s.backup is not None and s not in _archived(specs["kz-prod"])):
        bucket = vault(graph, component(graph, BACKUP_TARGET, f"{system.name}-backup-{system.backup.offsite_site}"))
        assert bucket.inputs.get("policy") is None, bucket.urn


@pytest.fixture(scope="module")
def sessions_backed_up():
    """kz-prod with sessions kept (not stateless) and snapshotted every 5 minutes into a 14-day lock."""
    from multidc.plan.capture import plan
    from multidc.spec import Platform, load_stack

    data = load_stack("kz-prod").model_dump(mode="json", exclude_none=True)
    sessions = next(s for s in data["systems"] if s["name"] == "sessions")
    for key in ("stateless", "stateless_reason"):
        sessions.pop(key, None)
    sessions["backup"] = {"schedule": "*/5 * * * *", "immutable_days": 14, "offsite_site": "almaty"}
    platform = Platform.model_validate(data)
    return platform, plan(platform, "kz-prod")


def test_redis_snapshots_land_where_restore_looks_for_them(sessions_backed_up):
    from multidc.protection import redis_backup

    _, graph = sessions_backed_up
    target = component(graph, BACKUP_TARGET, "sessions-backup-almaty")
    job = descendant(graph, target, "kubernetes:batch/v1:CronJob", "sessions-backup-almaty-dump")[0]
    assert job.inputs["spec"]["schedule"] == "*/5 * * * *"
    dump, upload = pod_containers(job)
    command = dump["args"][-1]
    assert command.index("redis-cli") < command.index("mv /backup/dump.partial"), command  # named once done
    prefix = upload["args"][2].split("/", 1)[1]
    (file_name,) = re.findall(r'"/backup/(dump-\$\(date -u \+%Y%m%dT%H%M%SZ\)\.rdb)"', command)
    key = f"{prefix}/{file_name.replace('$(date -u +%Y%m%dT%H%M%SZ)', '20261127T080000Z')}"
    assert redis_backup.parse_key(key) == datetime(2026, 11, 27, 8, tzinfo=timezone.utc), key


def test_the_assessment_uses_the_redis_snapshots_against_ransomware(sessions_backed_up):
    from multidc.dr.assessment import assess

    platform, graph = sessions_backed_up
    outcome = assess(platform, graph).outcome("sessions", "ransomware")
    assert outcome.survives and outcome.rpo_s == 300 and "redis-rdb" in outcome.reason, outcome
