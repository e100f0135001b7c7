"""Cross-field rules, each stated once in the spec and applied wherever it applies: one
accepted and one refused case per rule."""

from __future__ import annotations

import pytest

from .conftest import paths, problems, system

# (system, path to the mapping, lower field, upper field, a value pair in order)
BOUNDS = [
    ("ml-k8s", ("size", "gpu_pools", 0), "min_nodes", "max_nodes"),
    ("ml-k8s", ("size",), "min_count", "max_count"),
    ("ml", ("ml", "models", 0), "min_replicas", "max_replicas"),
]


def _at(spec: dict, name: str, where: tuple) -> dict:
    node = system(spec, name)
    for part in where:
        node = node[part]
    return node


@pytest.mark.parametrize("name, where, low, high", BOUNDS, ids=[b[2] for b in BOUNDS])
def test_a_lower_bound_equal_to_its_upper_bound_is_accepted(kz, name, where, low, high):
    node = _at(kz, name, where)
    node[low] = node[high] = 4
    if low == "min_count":
        node["count"] = 4
    assert paths(kz) == []


@pytest.mark.parametrize("name, where, low, high", BOUNDS, ids=[b[2] for b in BOUNDS])
def test_a_lower_bound_above_its_upper_bound_is_refused_at_the_lower_field(kz, name, where, low, high):
    node = _at(kz, name, where)
    node[low], node[high] = 5, 4
    (path, reason), = problems(kz)
    assert path.endswith(f".{low}") and f"{low} 5 is above {high} 4" in reason


def test_a_count_below_its_autoscaling_floor_is_refused(kz):
    system(kz, "apps")["size"].update(count=2, min_count=3)
    assert problems(kz) == [("systems.apps.size.min_count", "min_count 3 is above count 2; a lower bound cannot "
                                                           "exceed what is above it: lower min_count or raise count")]


def test_exactly_one_primary_site_is_accepted_and_two_are_refused(kz):
    assert paths(kz) == []
    kz["sites"][1]["role"] = "primary"
    assert problems(kz) == [("sites", "2 sites have role primary (astana, almaty); exactly one serves: make the "
                                      "others secondary or backup")]


def test_no_primary_site_is_refused(kz):
    kz["sites"][0]["role"] = "secondary"
    assert paths(kz) == ["sites"]


def test_a_retention_that_keeps_nothing_is_refused(kz):
    system(kz, "core-db")["backup"]["retention"] = {"daily": 0, "weekly": 0, "monthly": 1}
    assert paths(kz) == []
    system(kz, "core-db")["backup"]["retention"] = {"daily": 0, "weekly": 0, "monthly": 0}
    assert paths(kz) == ["systems.core-db.backup.retention.daily"]


def test_an_object_lock_longer_than_the_retention_is_refused(kz):
    backup = system(kz, "core-db")["backup"]
    backup["retention"] = {"daily": 30, "weekly": 0, "monthly": 0}
    backup["immutable_days"] = 30
    assert paths(kz) == []
    backup["immutable_days"] = 31
    assert paths(kz) == ["systems.core-db.backup.immutable_days"]


def test_the_witness_must_not_be_one_of_the_sites(kz):
    kz["witness"]["name"] = "almaty"
    assert paths(kz) == ["witness.name"]


def test_duplicate_gpu_pool_and_served_model_names_are_refused(kz):
    pools = system(kz, "ml-k8s")["size"]["gpu_pools"]
    pools.append(dict(pools[0]))
    models = system(kz, "ml")["ml"]["models"]
    models.append(dict(models[0]))
    assert sorted(paths(kz)) == ["systems.ml-k8s.size.gpu_pools.a100", "systems.ml.ml.models.churn-60d"]


# --- stateless systems (the policy pack exempts them from backup rules) ------------------------------

def test_a_stateless_system_with_its_reason_is_accepted(kz):
    system(kz, "sessions").update(stateless=True, stateless_reason="session cache; users log in again")
    assert paths(kz) == []


@pytest.mark.parametrize("change, path", [
    ({"stateless": True}, "systems.sessions.stateless_reason"),
    ({"stateless": True, "stateless_reason": "   "}, "systems.sessions.stateless_reason"),
    ({"stateless_reason": "a cache"}, "systems.sessions.stateless_reason"),
    ({"stateless": True, "stateless_reason": "a cache", "backup": {"offsite_site": "almaty"}},
     "systems.sessions.stateless"),
])
def test_a_stateless_claim_without_a_reason_or_with_a_backup_is_refused(kz, change, path):
    sessions = system(kz, "sessions")
    for key in ("stateless", "stateless_reason"):  # kz-prod declares its sessions stateless
        sessions.pop(key, None)
    sessions.update(change)
    assert paths(kz) == [path]


def test_a_bucket_cannot_be_stateless(kz):
    documents = system(kz, "documents")
    documents.update(stateless=True, stateless_reason="nothing")
    documents.pop("backup")
    assert "systems.documents.stateless" in paths(kz)


# --- waivers -----------------------------------------------------------------------------------------

WAIVER = {"policy": "MDC-BAK-001", "system": "sessions", "reason": "a cache; rebuilt on login",
          "expires": "2027-03-31"}


@pytest.mark.parametrize("waiver", [
    WAIVER,
    {**{k: v for k, v in WAIVER.items() if k != "system"}, "resource": "sessions-astana-0"},
    {**WAIVER, "expires": "2020-01-01"},  # expired: the policy pack stops applying it; the spec is still valid
])
def test_a_complete_waiver_is_accepted(kz, waiver):
    kz["waivers"] = [waiver]
    assert paths(kz) == []


@pytest.mark.parametrize("waiver, path, phrase", [
    ({**WAIVER, "reason": ""}, "waivers.0.reason", "is blank"),
    ({k: v for k, v in WAIVER.items() if k != "reason"}, "waivers.0.reason", "required field 'reason'"),
    ({**WAIVER, "resource": "sessions-astana-0"}, "waivers.0.system", "both given"),
    ({k: v for k, v in WAIVER.items() if k != "system"}, "waivers.0.system", "neither given"),
    ({**WAIVER, "system": "session"}, "waivers.0.system", "unknown system 'session'"),
    ({**WAIVER, "policy": "BAK-1"}, "waivers.0.policy", "does not match the pattern"),
    ({**WAIVER, "expires": "next year"}, "waivers.0.expires", "got 'next year'"),
])
def test_an_incomplete_or_dangling_waiver_is_refused(kz, waiver, path, phrase):
    kz["waivers"] = [waiver]
    (found, reason), = problems(kz)
    assert found == path and phrase in reason, reason


# --- per-site catalogue of flavors and images ---------------------------------------------------------

def _catalogue(kz: dict, site: int, **lists) -> None:
    kz["sites"][site]["catalogue"] = lists


FLAVORS = ["DB-8-32", "DB-4-16", "DB-2-8", "STD3-4-8", "STD3-4-16", "STD3-8-32", "GPU-A100-40-12-96"]


def test_flavors_and_images_a_site_offers_are_accepted(kz):
    _catalogue(kz, 0, flavors=FLAVORS, images=["ubuntu-22.04", "fedora-coreos-40"])
    _catalogue(kz, 1, flavors=FLAVORS, images=["ubuntu-22.04", "fedora-coreos-40"])
    assert paths(kz) == []


def test_a_site_without_a_catalogue_is_not_checked(kz):
    _catalogue(kz, 0, flavors=FLAVORS, images=["ubuntu-22.04", "fedora-coreos-40"])
    kz["sites"][1].pop("catalogue", None)
    assert paths(kz) == []


def test_a_flavor_only_the_primary_offers_is_refused_for_the_standby(kz):
    _catalogue(kz, 0, flavors=FLAVORS, images=["ubuntu-22.04", "fedora-coreos-40"])
    _catalogue(kz, 1, flavors=[f for f in FLAVORS if f != "GPU-A100-40-12-96"],
               images=["ubuntu-22.04", "fedora-coreos-40"])
    (path, reason), = problems(kz)
    assert path == "systems.ml-k8s.size.gpu_pools.a100.flavor"
    assert "not offered in site 'almaty'" in reason and "known flavors there: DB-8-32" in reason


def test_a_cluster_is_checked_against_magnums_default_image_unless_it_names_its_own(kz):
    _catalogue(kz, 0, flavors=FLAVORS, images=["ubuntu-22.04"])
    assert sorted(set(paths(kz))) == ["systems.apps.size.image", "systems.ml-k8s.size.image"]
    system(kz, "apps")["size"]["image"] = "ubuntu-22.04"
    assert sorted(set(paths(kz))) == ["systems.ml-k8s.size.image"]


def test_systems_that_boot_no_servers_are_not_checked_against_the_catalogue(kz):
    _catalogue(kz, 0, flavors=FLAVORS, images=["ubuntu-22.04", "fedora-coreos-40"])
    system(kz, "documents")["size"] = {"flavor": "no-such-flavor"}  # a bucket boots no server
    assert paths(kz) == []
