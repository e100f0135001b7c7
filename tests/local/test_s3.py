"""LocalS3: one moto server process per site, really separate."""

import pytest
from botocore.exceptions import ClientError

from multidc.local.s3 import LocalS3, LocalS3Error


@pytest.fixture(scope="module")
def two_sites():
    with LocalS3(name="site-a") as site_a, LocalS3(name="site-b") as site_b:
        yield site_a, site_b


def test_local_s3_serves_put_and_get(two_sites):
    site_a, _ = two_sites
    s3 = site_a.client()
    s3.create_bucket(Bucket="roundtrip")
    s3.put_object(Bucket="roundtrip", Key="k", Body=b"payload")
    assert s3.get_object(Bucket="roundtrip", Key="k")["Body"].read() == b"payload"


def test_two_sites_have_different_endpoints(two_sites):
    site_a, site_b = two_sites
    assert site_a.endpoint_url != site_b.endpoint_url


def test_object_put_in_site_a_is_not_visible_in_site_b(two_sites):
    site_a, site_b = two_sites
    site_a.client().create_bucket(Bucket="separation")
    site_a.client().put_object(Bucket="separation", Key="only-in-a", Body=b"a")

    with pytest.raises(ClientError) as raised:
        site_b.client().head_bucket(Bucket="separation")
    assert raised.value.response["Error"]["Code"] in {"404", "NoSuchBucket"}

    site_b.client().create_bucket(Bucket="separation")
    listed_in_b = site_b.client().list_objects_v2(Bucket="separation").get("Contents", [])
    assert listed_in_b == []


def test_stop_ends_the_server_process():
    site = LocalS3(name="short-lived").start()
    endpoint = site.endpoint_url
    site.stop()
    assert not site.running
    with pytest.raises(LocalS3Error):
        site.endpoint_url
    assert endpoint.startswith("http://127.0.0.1:")


def test_start_fails_clearly_when_port_is_taken():
    with LocalS3(name="holder") as holder:
        port = int(holder.endpoint_url.rsplit(":", 1)[1])
        clash = LocalS3(name="clash", port=port, startup_timeout=5)
        with pytest.raises(LocalS3Error, match="did not come up"):
            clash.start()
        assert not clash.running
