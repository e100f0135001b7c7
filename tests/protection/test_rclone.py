"""rclone copies between two real local S3 endpoints, using the same args as the CronJob."""

import shutil

import pytest

from multidc.protection.rclone import (
    RCLONE_IMAGE,
    CopyMode,
    RcloneError,
    S3Location,
    cronjob_container,
    rclone_command,
    run_copy,
)
from s3_fixtures import bucket_digests, fill_bucket, site_a, site_b  # noqa: F401

@pytest.fixture
def rclone_installed():
    """rclone is installed by `make system-deps`; without it these tests fail, naming the fix."""
    assert shutil.which("rclone"), "rclone not installed: run `make system-deps` (or apt-get install rclone)"


needs_rclone = pytest.mark.usefixtures("rclone_installed")


def location(site, bucket, **extra):
    return S3Location(endpoint=site.endpoint_url, bucket=bucket, access_key=site.access_key,
                      secret_key=site.secret_key, **extra)


@pytest.fixture
def buckets(site_a, site_b, request):
    name = request.node.name.replace("_", "-")[:50].lower()
    site_a.client().create_bucket(Bucket=name)
    site_b.client().create_bucket(Bucket=name)
    site_b.client().put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return location(site_a, name), location(site_b, name)


def test_credentials_are_in_env_not_in_args():
    source = S3Location("http://a:1", "src", access_key="AK-SRC", secret_key="SK-SRC")
    destination = S3Location("http://b:2", "dst", access_key="AK-DST", secret_key="SK-DST")
    args, env = rclone_command(source, destination)
    assert not any(secret in " ".join(args) for secret in ("AK-SRC", "SK-SRC", "AK-DST", "SK-DST"))
    assert env["RCLONE_CONFIG_SRC_SECRET_ACCESS_KEY"] == "SK-SRC"
    assert env["RCLONE_CONFIG_DST_ACCESS_KEY_ID"] == "AK-DST"
    assert env["RCLONE_CONFIG_DST_ENDPOINT"] == "http://b:2"


def test_default_mode_is_copy_with_checksum():
    args, _ = rclone_command(S3Location("http://a:1", "src"), S3Location("http://b:2", "dst", prefix="from-a/"))
    assert args[:3] == ["copy", "SRC:src", "DST:dst/from-a"]
    assert "--checksum" in args


def test_sync_carries_the_max_delete_guard():
    args, _ = rclone_command(S3Location("http://a:1", "s"), S3Location("http://b:2", "d"),
                             mode=CopyMode.sync, max_delete=100)
    assert args[0] == "sync"
    assert args[args.index("--max-delete") + 1] == "100"


def test_cronjob_container_takes_keys_from_secret_refs_only():
    source = S3Location("https://s3.site-a", "live", secret_name="site-a-s3")
    destination = S3Location("https://s3.site-b", "replica", secret_name="site-b-s3")
    container = cronjob_container(source, destination)
    args, env = rclone_command(source, destination)
    assert container["image"] == RCLONE_IMAGE and ":" in RCLONE_IMAGE and not RCLONE_IMAGE.endswith(":latest")
    assert container["args"] == args
    by_name = {e["name"]: e for e in container["env"]}
    assert by_name["RCLONE_CONFIG_SRC_SECRET_ACCESS_KEY"]["value_from"] == {
        "secret_key_ref": {"name": "site-a-s3", "key": "secret_key"}}
    assert by_name["RCLONE_CONFIG_DST_ACCESS_KEY_ID"]["value_from"] == {
        "secret_key_ref": {"name": "site-b-s3", "key": "access_key"}}
    assert all("value" not in e for n, e in by_name.items() if "KEY" in n)
    assert {n: e["value"] for n, e in by_name.items() if "value" in e} == env


def test_cronjob_container_refuses_plaintext_only_credentials():
    source = S3Location("https://s3.site-a", "live", access_key="AK", secret_key="SK")
    destination = S3Location("https://s3.site-b", "replica", secret_name="site-b-s3")
    with pytest.raises(ValueError, match="secret_name"):
        cronjob_container(source, destination)


def test_run_copy_names_the_fix_when_rclone_is_missing():
    with pytest.raises(RcloneError, match="apt-get install rclone"):
        run_copy(S3Location("http://a:1", "s"), S3Location("http://b:2", "d"), rclone_binary="no-such-rclone")


@needs_rclone
def test_copy_moves_every_object_byte_for_byte(site_a, site_b, buckets):
    source, destination = buckets
    expected = fill_bucket(site_a.client(), source.bucket, 40, size=3000)
    expected.update(fill_bucket(site_a.client(), source.bucket, 2, size=7 * 1024 * 1024, prefix="big/"))
    run_copy(source, destination)
    assert bucket_digests(site_b.client(), destination.bucket) == expected


@needs_rclone
def test_copy_does_not_propagate_deletes(site_a, site_b, buckets):
    source, destination = buckets
    expected = fill_bucket(site_a.client(), source.bucket, 10)
    run_copy(source, destination)
    for key in list(expected)[:6]:
        site_a.client().delete_object(Bucket=source.bucket, Key=key)
    run_copy(source, destination)
    assert bucket_digests(site_b.client(), destination.bucket) == expected


@needs_rclone
def test_copy_of_an_overwrite_keeps_the_old_version_in_the_versioned_destination(site_a, site_b, buckets):
    source, destination = buckets
    site_a.client().put_object(Bucket=source.bucket, Key="doc", Body=b"original")
    run_copy(source, destination)
    site_a.client().put_object(Bucket=source.bucket, Key="doc", Body=b"encrypted-garbage")
    run_copy(source, destination)
    versions = site_b.client().list_object_versions(Bucket=destination.bucket, Prefix="doc")["Versions"]
    bodies = {site_b.client().get_object(Bucket=destination.bucket, Key="doc", VersionId=v["VersionId"])["Body"].read()
              for v in versions}
    assert bodies == {b"original", b"encrypted-garbage"}


@needs_rclone
def test_sync_does_propagate_deletes(site_a, site_b, buckets):
    source, destination = buckets
    expected = fill_bucket(site_a.client(), source.bucket, 5)
    run_copy(source, destination, mode=CopyMode.sync)
    site_a.client().delete_object(Bucket=source.bucket, Key="obj/00000")
    run_copy(source, destination, mode=CopyMode.sync)
    assert set(bucket_digests(site_b.client(), destination.bucket)) == set(expected) - {"obj/00000"}


@needs_rclone
def test_run_copy_fails_clearly_on_a_missing_source_bucket(site_a, site_b, buckets):
    _, destination = buckets
    with pytest.raises(RcloneError, match="failed with exit code"):
        run_copy(location(site_a, "no-such-bucket"), destination, timeout=60)


def test_version_at_is_a_millisecond_before_t_in_utc():
    import datetime as dt

    from multidc.protection.rclone import version_at

    t = dt.datetime(2026, 12, 2, 9, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    assert version_at(t) == "2026-12-02T03:59:59.999000Z"


@needs_rclone
def test_rclone_at_version_at_copies_the_bytes_from_before_t(site_a, site_b, buckets):
    """The benchmarks' rclone reference restores to T the way a user would with rclone alone."""
    import datetime as dt
    import time

    from multidc.protection.rclone import SOURCE_REMOTE, version_at

    source, destination = buckets
    s3 = site_a.client()
    s3.put_bucket_versioning(Bucket=source.bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=source.bucket, Key="doc", Body=b"original")
    time.sleep(1.1)  # S3 times are whole seconds: T on the next second
    before = dt.datetime.now(dt.timezone.utc)
    time.sleep(1.1)
    s3.put_object(Bucket=source.bucket, Key="doc", Body=b"encrypted-garbage")
    s3.put_object(Bucket=source.bucket, Key="ransom-note", Body=b"pay")
    run_copy(source, destination, extra_env={f"RCLONE_CONFIG_{SOURCE_REMOTE}_VERSION_AT": version_at(before)})
    assert bucket_digests(site_b.client(), destination.bucket).keys() == {"doc"}
    assert site_b.client().get_object(Bucket=destination.bucket, Key="doc")["Body"].read() == b"original"
