"""Values checked as their target would check them, before anything is planned: DNS zone
names, URLs, Kubernetes quantities (the kubernetes client's own parser), versions."""

from __future__ import annotations

import pytest

from .conftest import paths, problems, system


@pytest.mark.parametrize("zone", ["bank.example.kz.", "xn--80ak6aa92e.kz.", "a-b.example.com."])
def test_a_fully_qualified_dns_zone_is_accepted(kz, zone):
    for site in kz["sites"]:  # every site holds a copy of the one zone
        site["cloud"]["dns_zone"] = zone
    assert paths(kz) == []


@pytest.mark.parametrize("zone, phrase", [
    ("bank.example.kz", "is not fully qualified"),
    ("bank_prod.example.kz.", "label 'bank_prod' is not an RFC 1123 label"),
    ("-bank.example.kz.", "label '-bank'"),
    ("bank..kz.", "label ''"),
    ("kz.", "at least two labels"),
    ("a" * 64 + ".kz.", "1 to 63 characters"),
])
def test_a_dns_zone_a_dns_server_would_refuse_is_named(kz, zone, phrase):
    kz["sites"][0]["cloud"]["dns_zone"] = zone
    (path, reason), = problems(kz)
    assert path == "sites.astana.cloud.dns_zone" and phrase in reason, reason


@pytest.mark.parametrize("field, url", [
    ("auth_url", "ftp://infra.astana.example.kz/v3"),
    ("auth_url", "https://"),
    ("auth_url", "https://infra.astana.example.kz:99999/v3"),
    ("auth_url", "https://infra_astana.example.kz/v3"),
    ("auth_url", "https://infra.astana.example.kz/v 3"),
])
def test_a_url_without_a_valid_scheme_host_or_port_is_named(kz, field, url):
    kz["sites"][0]["cloud"][field] = url
    assert paths(kz) == [f"sites.astana.cloud.{field}"]


def test_a_url_with_an_ip_address_is_accepted(kz):
    kz["sites"][0]["s3_endpoint"] = "http://10.10.0.5:9000"
    assert paths(kz) == []


@pytest.mark.parametrize("cpu", ["2", "500m", "0.5", "1.5", 2, 0.25])
def test_cpu_quantities_kubernetes_accepts_are_accepted(kz, cpu):
    system(kz, "ml")["ml"]["models"][0]["cpu"] = cpu
    assert paths(kz) == []


@pytest.mark.parametrize("memory", ["2Gi", "512Mi", "1G", "1.5Gi", "4e9"])
def test_memory_quantities_kubernetes_accepts_are_accepted(kz, memory):
    system(kz, "ml")["ml"]["models"][0]["memory"] = memory
    assert paths(kz) == []


@pytest.mark.parametrize("field, value", [
    ("memory", "2GB"), ("memory", "2gi"), ("memory", "2 Gi"), ("memory", " 2Gi"), ("memory", "1_000Mi"),
    ("memory", "NaN"), ("memory", "-2Gi"), ("memory", 2048), ("memory", "512Ki"),
    ("cpu", "two"), ("cpu", "0"), ("cpu", "-1"), ("cpu", "2Gi"), ("cpu", True), ("cpu", "Infinity"),
])
def test_a_quantity_kubernetes_would_refuse_or_that_cannot_be_meant_is_named(kz, field, value):
    system(kz, "ml")["ml"]["models"][0][field] = value
    assert paths(kz) == [f"systems.ml.ml.models.churn-60d.{field}"]


def test_a_whole_number_version_is_accepted_as_its_string(kz):
    system(kz, "core-db")["size"]["engine_version"] = 16
    from multidc.spec import parse_platform

    assert parse_platform(kz).system("core-db").size.engine_version == "16"


@pytest.mark.parametrize("version", [1.3, True, "", "1 29"])
def test_a_version_that_is_ambiguous_or_not_a_version_is_named(kz, version):
    system(kz, "apps")["size"]["engine_version"] = version
    (path, reason), = problems(kz)
    assert path == "systems.apps.size.engine_version"
    if isinstance(version, float):
        assert 'write the version in quotes, e.g. "1.30"' in reason


def test_numbers_given_for_names_of_cloud_things_are_taken_as_strings(kz):
    kz["sites"][0]["cloud"]["project"] = 1024
    kz["sites"][0]["availability_zones"] = [1, 2]
    from multidc.spec import parse_platform

    site = parse_platform(kz).site("astana")
    assert site.cloud.project == "1024" and site.availability_zones == ["1", "2"]
