"""The storage backend on two real S3 endpoints (moto server processes), one per site."""

import pytest

from multidc.dr.backends import BackendError, RecordingBackend, StorageBackend
from multidc.dr.runbook import Step
from multidc.dr.states import NotApplicable
from multidc.local.s3 import LocalS3
from multidc.protection.rclone import S3Location


def _location(site, bucket):
    return S3Location(endpoint=site.endpoint_url, bucket=bucket, region=site.region,
                      access_key=site.access_key, secret_key=site.secret_key)


@pytest.fixture
def sites(request):
    both = {}
    for name in ("astana", "almaty"):
        site = LocalS3(name=f"{name}-s3").start()
        request.addfinalizer(site.stop)
        site.client().create_bucket(Bucket="files")
        both[name] = site
    return both


def _final_copy(to_site, from_site):
    return Step(id="2.storage.final_copy.files", action="storage.final_copy", title="t", site=to_site,
                system="files", precondition="-", verification="-", rollback="-",
                params=(("from_site", from_site), ("to_site", to_site)))


def _keys(site):
    return {o["Key"] for o in site.client().list_objects_v2(Bucket="files").get("Contents", [])}


def test_final_copy_goes_from_the_old_primary_bucket_into_the_new_one(sites):
    for n in range(3):
        sites["almaty"].client().put_object(Bucket="files", Key=f"k{n}", Body=b"x")
    backend = StorageBackend({("files", s): _location(site, "files") for s, site in sites.items()},
                             fallback=RecordingBackend("test"))
    detail = backend.run(_final_copy("astana", "almaty"))
    assert _keys(sites["astana"]) == {"k0", "k1", "k2"}, detail
    assert "(almaty)" in detail and "(astana)" in detail


def test_final_copy_from_a_lost_site_is_skipped_and_says_so(sites):
    backend = StorageBackend({("files", s): _location(site, "files") for s, site in sites.items()},
                             fallback=RecordingBackend("test"))
    sites["astana"].kill()
    with pytest.raises(NotApplicable, match="^the source site astana is lost"):
        backend.run(_final_copy("almaty", "astana"))


def _reverse_copy(site, from_site):
    return Step(id="1.storage.reverse_copy.files", action="storage.reverse_copy", title="t", site=site,
                system="files", precondition="-", verification="-", rollback="-",
                params=(("from_site", from_site), ("to_site", site)))


def test_reverse_copy_into_a_missing_bucket_names_the_stack_change_and_creates_nothing(sites):
    backend = StorageBackend({("files", "astana"): _location(sites["astana"], "gone"),
                              ("files", "almaty"): _location(sites["almaty"], "files")},
                             fallback=RecordingBackend("test"))
    with pytest.raises(BackendError, match="bucket gone does not exist.*never creates buckets.*pulumi up"):
        backend.run(_reverse_copy("astana", "almaty"))
    assert "gone" not in {b["Name"] for b in sites["astana"].client().list_buckets()["Buckets"]}


def test_reverse_copy_fills_the_returning_site_bucket(sites):
    sites["almaty"].client().put_object(Bucket="files", Key="back", Body=b"x")
    backend = StorageBackend({("files", s): _location(site, "files") for s, site in sites.items()},
                             fallback=RecordingBackend("test"))
    backend.run(_reverse_copy("astana", "almaty"))
    assert _keys(sites["astana"]) == {"back"}
