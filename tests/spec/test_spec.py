"""The spec: every bad input is reported at once, each as a dotted path and a reason."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest
import yaml

from multidc.spec import CONFIG_KEY, SpecError, load_stack, parse_platform

from .conftest import ROOT, paths, system


@pytest.mark.parametrize("stack", ["kz-prod", "hybrid", "backup-only", "active-active"])
def test_example_stack_is_valid(stack):
    platform = load_stack(stack, ROOT)
    assert len(platform.sites) >= 2


def test_unknown_site_is_named_at_the_systems_sites(kz):
    system(kz, "sessions")["sites"] = ["astana", "nowhere"]
    assert paths(kz) == ["systems.sessions.sites"]


def test_overlapping_cidrs_are_reported_on_the_later_site(kz):
    kz["sites"][1]["cidr"] = "10.10.128.0/17"
    assert paths(kz) == ["sites.almaty.cidr"]


def test_replicated_topology_needs_two_sites(kz):
    system(kz, "datasets")["sites"] = ["astana"]
    assert paths(kz) == ["systems.datasets.topology"]


def test_active_active_is_refused_for_a_single_writer_engine(kz):
    system(kz, "core-db")["topology"] = "active-active"
    with pytest.raises(SpecError) as caught:
        parse_platform(kz, "test")
    assert caught.value.problems == [(
        "systems.core-db.topology",
        "active-active needs a multi-writer engine; postgres has one writer (use active-passive)")]


def test_rpo_zero_with_async_replication_is_refused(kz):
    system(kz, "cards-db")["replication"] = "async"
    assert paths(kz) == ["systems.cards-db.rpo"]


def test_offsite_backup_site_equal_to_the_primary_is_refused(kz):
    system(kz, "analytics")["backup"]["offsite_site"] = "astana"
    assert paths(kz) == ["systems.analytics.backup.offsite_site"]


def test_duplicate_system_names_are_reported(kz):
    kz["systems"].append(copy.deepcopy(system(kz, "web")))
    assert paths(kz) == ["systems.web"]


def test_duplicate_site_names_are_reported(kz):
    kz["sites"].append({**copy.deepcopy(kz["sites"][1]), "cidr": "10.30.0.0/16"})
    assert "sites.almaty" in paths(kz)


@pytest.mark.parametrize("field, value, path", [
    ("schedule", "every day", "systems.analytics.backup.schedule"),
    ("schedule", "0 25 * * *", "systems.analytics.backup.schedule"),
])
def test_malformed_cron_is_named(kz, field, value, path):
    system(kz, "analytics")["backup"][field] = value
    assert paths(kz) == [path]


@pytest.mark.parametrize("cidr", ["10.10.0.1/16", "10.10.0.0/33", "not-a-network"])
def test_malformed_cidr_is_named(kz, cidr):
    kz["sites"][0]["cidr"] = cidr
    assert paths(kz) == ["sites.astana.cidr"]


@pytest.mark.parametrize("field, value", [("latitude", 95.0), ("longitude", -181.0)])
def test_coordinates_out_of_range_are_named(kz, field, value):
    kz["sites"][0]["location"][field] = value
    assert paths(kz) == [f"sites.astana.location.{field}"]


@pytest.mark.parametrize("value", ["soon", "15 minutes", "-5m", "1w"])
def test_malformed_duration_is_named(kz, value):
    system(kz, "documents")["rpo"] = value
    assert paths(kz) == ["systems.documents.rpo"]


def test_unknown_field_is_named(kz):
    system(kz, "web")["sizes"] = {}
    assert paths(kz) == ["systems.web.sizes"]


def test_every_problem_is_reported_at_once(kz):
    kz["sites"][1]["cidr"] = "10.10.128.0/17"
    system(kz, "core-db")["topology"] = "active-active"
    system(kz, "sessions")["sites"] = ["astana", "nowhere"]
    system(kz, "documents")["rpo"] = "soon"
    system(kz, "analytics")["backup"]["offsite_site"] = "astana"
    assert sorted(paths(kz)) == sorted([
        "sites.almaty.cidr", "systems.core-db.topology", "systems.sessions.sites",
        "systems.documents.rpo", "systems.analytics.backup.offsite_site"])


def test_a_site_receiving_copies_needs_a_cluster_to_pull_them(kz):
    kz["systems"] = [s for s in kz["systems"] if s["kind"] not in ("kubernetes", "ml-platform")]
    assert "systems.core-db.backup.offsite_site" in paths(kz)


def test_mlflow_store_must_be_writable_where_ml_runs(kz):
    system(kz, "mlflow-db")["sites"] = ["astana", "almaty"]
    system(kz, "mlflow-db")["backup"]["offsite_site"] = "almaty"
    assert paths(kz) == ["systems.ml.ml.mlflow.backend_db"]


def test_single_writer_database_takes_one_instance_per_site(kz):
    system(kz, "core-db")["size"]["count"] = 3
    assert paths(kz) == ["systems.core-db.size.count"]


def test_card_data_is_refused_on_an_engine_without_enforced_tls(kz):
    system(kz, "sessions")["data_classes"] = ["payment-card"]
    assert paths(kz) == ["systems.sessions.data_classes"]


def test_vm_group_backup_is_refused_with_the_fix(kz):
    system(kz, "web")["backup"] = {"offsite_site": "almaty"}
    assert paths(kz) == ["systems.web.backup"]


def test_missing_stack_names_the_known_stacks():
    with pytest.raises(SpecError) as caught:
        load_stack("no-such-stack", ROOT)
    (path, reason), = caught.value.problems
    assert path == "stack" and "kz-prod" in reason


def test_cli_reports_a_bad_stack_with_exit_code_2_and_no_traceback(tmp_path, kz):
    system(kz, "core-db")["topology"] = "active-active"
    kz["sites"][1]["cidr"] = "10.10.128.0/17"
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: multidc\nruntime: python\n")
    (tmp_path / "stacks" / "Pulumi.broken.yaml").write_text(yaml.safe_dump({"config": {CONFIG_KEY: kz}}))
    result = subprocess.run([sys.executable, "-m", "multidc", "--project-dir", str(tmp_path), "plan", "--stack",
                             "broken"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "systems.core-db.topology: active-active needs a multi-writer engine" in result.stderr
    assert "sites.almaty.cidr:" in result.stderr


def test_gpu_notebooks_need_a_gpu_pool_on_the_cluster(kz):
    system(kz, "ml-k8s")["size"].pop("gpu_pools")
    assert paths(kz) == ["systems.ml.ml.jupyterhub.gpu_profile"]
