"""The preview-time check against each site's cloud. No cloud is reachable here: a stand-in
connection lists what the "cloud" offers, and clouds.yaml is a real file read by openstacksdk."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from multidc.spec import parse_platform
from multidc.spec.cloud import cloud_problems, configured_clouds


class Cloud:
    """A stand-in for an openstacksdk Connection: the two listings the check makes."""

    def __init__(self, flavors: list[str], images: list[str]):
        self.compute = SimpleNamespace(flavors=lambda: [SimpleNamespace(name=n) for n in flavors])
        self.image = SimpleNamespace(images=lambda: [SimpleNamespace(name=n) for n in images])


FLAVORS = ["DB-8-32", "DB-4-16", "DB-2-8", "STD3-4-8", "STD3-4-16", "STD3-8-32", "GPU-A100-40-12-96"]
IMAGES = ["ubuntu-22.04", "fedora-coreos-40"]


def test_a_site_without_a_clouds_yaml_entry_is_not_asked(kz):
    asked = []
    found = cloud_problems(parse_platform(kz), warn=pytest.fail, clouds=[],
                           connect=lambda profile, region: asked.append(profile))
    assert found == [] and asked == []


def test_a_flavor_the_cloud_does_not_offer_is_refused_naming_the_site(kz):
    kz["sites"][1]["cloud"]["profile"] = "almaty-prod"
    offers = {"astana": Cloud(FLAVORS, IMAGES), "almaty-prod": Cloud([f for f in FLAVORS if f != "DB-8-32"], IMAGES)}
    found = cloud_problems(parse_platform(kz), warn=pytest.fail, clouds=["astana", "almaty-prod"],
                           connect=lambda profile, region: offers[profile])
    assert {path for path, _ in found} == {"systems.core-db.size.flavor"}
    assert all("not offered in site 'almaty'" in reason and "(as the cloud reports)" in reason for _, reason in found)


def test_a_cloud_that_cannot_be_listed_is_warned_about_and_skipped(kz):
    warnings = []

    def refuse(profile, region):
        raise ConnectionError("connection refused")

    assert cloud_problems(parse_platform(kz), warn=warnings.append, clouds=["astana"], connect=refuse) == []
    assert len(warnings) == 1 and "sites.astana" in warnings[0] and "connection refused" in warnings[0]


def test_clouds_yaml_entries_are_found_as_openstacksdk_finds_them(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("OS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert configured_clouds() == []
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  astana:\n    auth: {auth_url: 'https://infra.astana.example.kz:5000/v3'}\n"
                      "    region_name: kz-ast-1\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    assert configured_clouds() == ["astana"]
