"""Failover capacity on kz-prod's planned graph: per site what the stack uses now and after each
site's loss, and a verdict that misses, with the numbers, where a declared quota cannot hold it."""

from __future__ import annotations

import pytest

from multidc.dr.assessment import assess
from multidc.dr.capacity import capacity, flavor_size
from multidc.spec import SpecError, load_stack, parse_platform

# kz-prod by hand, from stacks/Pulumi.kz-prod.yaml (flavor <family>-<vCPUs>-<RAM GB>):
# astana: core-db 8, cards-db 4, sessions 2, analytics 8, mlflow-db standby 2 (DB flavors, one instance each),
#         web 3 x 4, apps 6 x 4, ml-k8s 3 x 8, the A100 pool 1 x 12            = 96 vCPUs,
#         and mlflow-db's archive host (its vault is in astana) 2               = 98 vCPUs
# almaty: the same databases but analytics (single-site in astana), web 3 x 4 (active-active),
#         apps warm standby 2 x 4, ml-k8s warm standby 1 x 8, the A100 pool 1 x 12 = 56 vCPUs,
#         the archive hosts of core-db 8 and cards-db 4 (their vaults are here)  = 68 vCPUs;
#         after losing astana apps grows to 6 and ml-k8s to 3 nodes: 68 + 16 + 16  = 100 vCPUs,
#         on 4 database instances + 2 archive hosts + 3 web + 6 apps + 3 ml-k8s + 1 A100 node = 19 instances;
#         volumes: 890 GB + the archive hosts' data (500 + 200) and boot disks (2 x 20)      = 1630 GB
ALMATY_AFTER_ASTANA = {"vcpus": 100, "ram_gb": 424, "instances": 19, "volume_gb": 1630, "floating_ips": 1, "gpus": 1}


def with_quota(site: str, **quota) -> object:
    data = load_stack("kz-prod").model_dump(mode="json", exclude_none=True)
    next(s for s in data["sites"] if s["name"] == site)["quota"] = quota
    return parse_platform(data)


def verdict(verdicts, site, lost):
    return next(v for v in verdicts if v.site == site and v.lost == lost)


def test_usage_now_and_after_each_failover(planned):
    platform, graph = planned("kz-prod")
    verdicts = capacity(platform, graph)
    assert verdict(verdicts, "astana", None).used["vcpus"] == 98
    assert verdict(verdicts, "almaty", None).used["vcpus"] == 68
    assert verdict(verdicts, "almaty", "astana").used == ALMATY_AFTER_ASTANA
    # Nothing of astana is a standby of almaty's systems except mlflow-db, whose standby is already one instance.
    assert verdict(verdicts, "astana", "almaty").used == verdict(verdicts, "astana", None).used
    assert [(v.site, v.lost, v.fits) for v in verdicts if v.quota is not None] == [
        ("astana", None, True), ("astana", "almaty", True), ("almaty", None, True), ("almaty", "astana", True)]


def test_a_secondary_quota_too_small_for_the_failover_misses_naming_the_resource(planned):
    _, graph = planned("kz-prod")
    platform = with_quota("almaty", vcpus=80, ram_gb=1000, gpus=1)
    result = assess(platform, graph)
    [miss] = result.capacity_misses
    assert (miss.site, miss.lost) == ("almaty", "astana")
    assert miss.over == ["vCPUs: needs 100, quota 80"]
    assert miss.reason == "almaty after losing astana does not fit its quota: vCPUs: needs 100, quota 80"
    assert result.to_json()["capacity"][3]["misses"] is True
    assert verdict(result.capacity, "almaty", None).fits  # 68 vCPUs fit today: only the failover does not


def test_a_quota_that_holds_the_failover_passes(planned):
    _, graph = planned("kz-prod")
    platform = with_quota("almaty", **ALMATY_AFTER_ASTANA)
    assert assess(platform, graph).capacity_misses == []


def test_a_flavor_of_unknown_size_is_named_with_the_fix(planned):
    _, graph = planned("kz-prod")
    platform = with_quota("almaty", vcpus=500)
    assert flavor_size("STD3-4-8", None).vcpus == 4
    with pytest.raises(ValueError, match=r"flavor 'm1.large'.*quota.flavors"):
        flavor_size("m1.large", platform.site("almaty").quota)
    catalogued = with_quota("almaty", vcpus=500, flavors={"DB-2-8": {"vcpus": 3, "ram_gb": 8}})
    assert verdict(capacity(catalogued, graph), "almaty", None).used["vcpus"] == 68 + 2 * (3 - 2)


def test_a_negative_quota_is_refused_with_its_path():
    with pytest.raises(SpecError, match=r"sites.*quota.vcpus"):
        with_quota("almaty", vcpus=-1)
