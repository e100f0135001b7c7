"""The monitoring release as kz-prod's plan declares it: kube-prometheus-stack at its pinned version
in every cluster, the generated rules and tier routes in it, and in the first cluster of each site
an exporter per data system of that site, labelled as the rules select, its login a secret."""

from __future__ import annotations

import yaml

from multidc.components.monitoring import KUBE_PROMETHEUS_STACK, POSTGRES_EXPORTER, REDIS_EXPORTER
from multidc.contract import KUBERNETES, MONITORING
from multidc.monitoring.metrics import POSTGRES_QUERIES
from multidc.monitoring.routes import alertmanager_config, receiver_for
from multidc.monitoring.rules import rule_file, rule_groups
from multidc.plan.graph import SECRET_MASK

from conftest import component, descendant

RELEASE = "kubernetes:helm.sh/v3:Release"


def _releases(graph, monitoring):
    return {node.name: node for node in descendant(graph, monitoring, RELEASE)}


def test_every_cluster_runs_the_pinned_stack_and_the_first_of_each_site_carries_the_rules(graphs, specs):
    graph, platform = graphs["kz-prod"], specs["kz-prod"]
    clusters = [node.name for node in graph.components(KUBERNETES)]
    assert sorted(node.name for node in graph.components(MONITORING)) == sorted(f"{c}-monitoring" for c in clusters)
    for name in ("apps-astana", "apps-almaty"):
        stack = _releases(graph, component(graph, MONITORING, f"{name}-monitoring"))[f"{name}-monitoring-stack"]
        assert (stack.inputs["chart"], stack.inputs["version"]) == (KUBE_PROMETHEUS_STACK.chart,
                                                                    KUBE_PROMETHEUS_STACK.version)
        values = stack.inputs["values"]
        assert values["additionalPrometheusRulesMap"]["multidc"] == rule_file(rule_groups(platform))
        assert values["alertmanager"]["config"] == alertmanager_config()
    quiet = _releases(graph, component(graph, MONITORING, "ml-k8s-astana-monitoring"))
    assert list(quiet) == ["ml-k8s-astana-monitoring-stack"]
    assert quiet["ml-k8s-astana-monitoring-stack"].inputs["values"]["additionalPrometheusRulesMap"] == {}


def test_each_site_exports_its_own_data_systems_labelled_for_the_rules(graphs):
    graph = graphs["kz-prod"]
    for site, standby_of in (("astana", "mlflow-db"), ("almaty", "core-db")):
        releases = _releases(graph, component(graph, MONITORING, f"apps-{site}-monitoring"))
        exporters = {name.removeprefix(f"apps-{site}-monitoring-").removesuffix("-exporter"): node
                     for name, node in releases.items() if name.endswith("-exporter")}
        assert set(exporters) == {"core-db", "cards-db", "mlflow-db", "sessions"}, site
        assert exporters["sessions"].inputs["chart"] == REDIS_EXPORTER.chart
        postgres = exporters[standby_of]
        assert postgres.inputs["chart"] == POSTGRES_EXPORTER.chart
        labels = {r["targetLabel"]: r["replacement"]
                  for r in postgres.inputs["values"]["serviceMonitor"]["relabelings"]}
        assert labels == {"system": standby_of, "site": site, "role": "standby"}
        assert yaml.safe_load(postgres.inputs["values"]["config"]["queries"]) == POSTGRES_QUERIES
    [secret] = [node for node in graph.of_type("kubernetes:core/v1:Secret")
                if node.name == "apps-almaty-monitoring-core-db-exporter-dsn"]
    assert secret.inputs["stringData"] == SECRET_MASK or secret.inputs["stringData"]["data_source_name"] == SECRET_MASK


def test_alerts_route_by_tier():
    assert receiver_for({"tier": "critical"}) == "multidc-page-critical"
    assert receiver_for({"tier": "important"}) == "multidc-page"
    assert receiver_for({"tier": "standard"}) == receiver_for({}) == "multidc-ticket"
    routes = alertmanager_config()["route"]["routes"]
    assert [(r["matchers"], r["receiver"]) for r in routes] == [
        (['tier="critical"'], "multidc-page-critical"), (['tier="important"'], "multidc-page"),
        (['tier="standard"'], "multidc-ticket")]


def test_helm_release_names_are_unique_in_each_cluster(graphs):
    for stack, graph in graphs.items():
        for monitoring in graph.components(MONITORING):
            names = [node.inputs["name"] for node in descendant(graph, monitoring, RELEASE)]
            assert len(names) == len(set(names)), f"{stack}: {monitoring.urn} releases {names}"
