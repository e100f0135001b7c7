"""`multidc plan` end to end, as a user runs it: one JSON document, exit codes, manifests."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml


def multidc(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "multidc", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def kz_plan(tmp_path_factory):
    """One `multidc plan --stack kz-prod --json --export-manifests DIR` run, read by the tests below
    (kz-prod's plan with its policy pack takes seconds: planned once, not once per test)."""
    out = tmp_path_factory.mktemp("plan") / "manifests"
    result = multidc("plan", "--stack", "kz-prod", "--json", "--export-manifests", str(out))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), out


def test_plan_json_is_one_document_with_graph_policies_and_assessment(kz_plan):
    document, _ = kz_plan
    assert set(document) == {"graph", "outputs", "policies", "assessment"}
    assert document["outputs"]["schema"] == "multidc.outputs/v1"
    resources = document["graph"]["resources"]
    assert {r["site"] for r in resources if r["custom"]} >= {"astana", "almaty"}
    assert document["policies"]["summary"]["mandatory_violations"] == 0
    assert {row["system"] for row in document["assessment"]["outcomes"]} >= {"core-db", "documents", "ml"}


def test_plan_json_never_carries_a_generated_secret(kz_plan):
    document, _ = kz_plan
    passwords = [r for r in document["graph"]["resources"] if r["type"] == "random:index/randomPassword:RandomPassword"]
    assert passwords and all(r["outputs"]["result"] == "[secret]" for r in passwords)


def test_plan_exports_manifests_as_kubernetes_yaml(kz_plan):
    _, out = kz_plan
    documents = [yaml.safe_load(path.read_text()) for path in out.rglob("*.yaml")]
    kinds = {d.get("kind") for d in documents}
    assert {"Deployment", "Service", "CronJob", "NetworkPolicy"} <= kinds
    assert all(d.get("apiVersion") and d.get("metadata", {}).get("name") for d in documents if d.get("kind"))


def test_plan_of_an_unknown_stack_exits_2_naming_the_known_ones():
    result = multidc("plan", "--stack", "nope")
    assert result.returncode == 2
    assert "known stacks:" in result.stderr and "kz-prod" in result.stderr
    assert "Traceback" not in result.stderr
