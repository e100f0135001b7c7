"""`multidc plan --read-quotas` reads each site's quota through openstacksdk: here against a small local
HTTP server speaking the Keystone, Nova, Cinder and Neutron calls openstacksdk makes (a unit test of our
code; a real cloud was not asked), and judges failover capacity with what it read."""

from __future__ import annotations

import pytest

from multidc.dr.assessment import assess
from multidc.dr.cloud_quota import QuotaReadError, read_quotas
from multidc.spec import load_stack
from tests.dr.fake_openstack import PROJECT, FakeOpenStack
from tests.helpers import run_multidc

A100 = "GPU-A100-40-12-96"
KZ_PROD = {"astana": "kz-ast-1", "almaty": "kz-ala-1"}  # clouds.yaml entry: region


@pytest.fixture
def clouds(tmp_path, monkeypatch):
    """Writes a clouds.yaml with entries for both kz-prod sites pointing at `fake` (almaty at `almaty` if
    given); returns the entry names."""
    def write(fake: FakeOpenStack, almaty: FakeOpenStack | None = None) -> list[str]:
        path = tmp_path / "clouds.yaml"
        text = fake.clouds_yaml(astana=KZ_PROD["astana"])
        text += (almaty or fake).clouds_yaml(almaty=KZ_PROD["almaty"]).removeprefix("clouds:\n")
        path.write_text(text)
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
        return list(KZ_PROD)

    return write


def test_the_plan_reads_each_sites_quota_and_judges_the_failover_with_it(clouds, planned):
    platform, graph = planned("kz-prod")
    gpus = {"flavors": {A100: {"resources:VGPU": "1", "hw:cpu_policy": "dedicated"}}, "limits": {"class:VGPU": 2}}
    with FakeOpenStack(cores=128, **gpus) as astana_cloud, \
            FakeOpenStack(cores=80, ram_mb=1024 * 1024, instances=30, gigabytes=3000, floating_ips=-1, **gpus) as fake:
        read = read_quotas(platform, clouds(astana_cloud, fake))
    almaty = read["almaty"].quota
    assert (almaty.vcpus, almaty.ram_gb, almaty.instances, almaty.volume_gb, almaty.floating_ips, almaty.gpus) == (
        80, 1024, 30, 3000, None, 2), "RAM in whole GB; -1 (unlimited) is no limit; GPUs from the unified limit"
    assert ("GET", f"/identity/v3/limits?project_id={PROJECT}") in fake.requests
    result = assess(platform, graph, {site: found.quota for site, found in read.items()})
    [miss] = result.capacity_misses
    assert miss.reason == "almaty after losing astana does not fit its quota: vCPUs: needs 100, quota 80"
    entry = result.to_json()["capacity"][3]
    assert entry["quota_source"] == "cloud"
    assert "vCPUs: declared 112, the cloud says 80" in entry["declared_differs"]


def test_gpus_are_not_read_when_no_flavor_names_a_resource_class(clouds):
    platform = load_stack("kz-prod")
    with FakeOpenStack(flavors={A100: {"pci_passthrough:alias": "a100:1"}}) as fake:
        read = read_quotas(platform, clouds(fake))
    assert read["almaty"].quota.gpus is None
    assert read["almaty"].notes == (f"no GPU flavor ({A100}) names a resource class in its extra specs: GPUs not read",)


def test_a_site_without_a_clouds_yaml_entry_is_refused_with_the_fix():
    with pytest.raises(QuotaReadError, match="site astana has no clouds.yaml entry 'astana'.*known entries: none"):
        read_quotas(load_stack("kz-prod"), clouds=[])


def test_an_unreachable_cloud_ends_the_plan_with_exit_2_and_no_traceback(project_copy, clouds):
    with FakeOpenStack() as fake:
        clouds(fake)
    # The server is gone: nothing answers on its port any more.
    done = run_multidc(project_copy, "plan", "--stack", "kz-prod", "--read-quotas", "--json", expect=2)
    assert "--read-quotas: site astana: the quota of clouds.yaml entry 'astana' could not be read" in done.stderr
    assert done.stdout == ""
