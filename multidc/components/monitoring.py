"""Monitoring and alerting in one cluster: kube-prometheus-stack, the exporters of the site's data
systems, the generated alert rules and Alertmanager's routes by tier.

Every cluster placement gets the stack (it monitors the cluster itself); the first cluster
of each site also watches the data systems placed in that site, so each site still watches
itself when the other burns, and a problem pages once, not once per cluster: a postgres_exporter per PostgreSQL placement (with
multidc's custom-query file), a redis_exporter per Redis placement, a mysqld_exporter per
MySQL placement, each scraped with the labels ``system``, ``site`` and ``role`` the generated
rules select on; a blackbox exporter probes the witness. kube-state-metrics (part of the
stack) publishes the CronJobs' last successes, Velero its own.

Charts are the official ones at pinned versions. Their values follow the charts' documented
keys for those versions; they are not rendered here (no chart registry is reachable from this
project's CI), so a `helm template` against the pinned versions is the check to run where one is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s
import yaml

from multidc import spec
from multidc.components.common import HelmChart, helm_release, k8s_name, namespace
from multidc.components.database import ManagedDatabase
from multidc.components.kubernetes import KubernetesCluster
from multidc.contract import MONITORING
from multidc.monitoring.metrics import POSTGRES_QUERIES
from multidc.monitoring.routes import alertmanager_config
from multidc.monitoring.rules import rule_file, rule_groups

_COMMUNITY = "https://prometheus-community.github.io/helm-charts"
KUBE_PROMETHEUS_STACK = HelmChart("kube-prometheus-stack", _COMMUNITY, "65.1.1")
POSTGRES_EXPORTER = HelmChart("prometheus-postgres-exporter", _COMMUNITY, "6.4.0")
REDIS_EXPORTER = HelmChart("prometheus-redis-exporter", _COMMUNITY, "6.6.0")
MYSQL_EXPORTER = HelmChart("prometheus-mysql-exporter", _COMMUNITY, "2.7.0")
BLACKBOX_EXPORTER = HelmChart("prometheus-blackbox-exporter", _COMMUNITY, "9.0.1")
EXPORTERS = {spec.Kind.postgres: POSTGRES_EXPORTER, spec.Kind.redis: REDIS_EXPORTER, spec.Kind.mysql: MYSQL_EXPORTER}
MONITORING_NAMESPACE = "monitoring"
RETENTION = "15d"
EXPORTER_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "250m", "memory": "256Mi"}}


@dataclass(frozen=True)
class MonitoringArgs:
    """A cluster placement and the database placements of its site it watches."""

    platform: spec.Platform
    cluster_system: str
    cluster: KubernetesCluster
    databases: Sequence[tuple[str, ManagedDatabase]]
    """(system name, placement) of each database placed in the cluster's site."""
    watches_site: bool = True
    """False: the cluster monitors itself only (another cluster of the site watches its data systems)."""


def _relabel(system: str, site: str, role: str) -> list[dict[str, str]]:
    """Static labels on every series of an exporter: what the generated rules select on."""
    return [{"targetLabel": key, "replacement": value}
            for key, value in (("system", system), ("site", site), ("role", role))]


def _dsn(database: ManagedDatabase) -> pulumi.Output[str]:
    return pulumi.Output.secret(pulumi.Output.all(database.user, database.password, database.endpoint,
                                                  database.port, database.database).apply(
        lambda v: f"postgresql://{v[0]}:{v[1]}@{v[2]}:{v[3]}/{v[4] or 'postgres'}?sslmode=require"))


class Monitoring(pulumi.ComponentResource):
    """kube-prometheus-stack with the stack's rules and routes, and an exporter per data system of the site."""

    releases: list[str]
    """``<chart>@<version>`` of every release, for the plan."""

    def __init__(self, name: str, args: MonitoringArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        cluster, platform = args.cluster, args.platform
        groups = rule_groups(platform) if args.watches_site else []
        watched = [(db, platform.system(system)) for system, db in args.databases
                   if args.watches_site and platform.system(system).kind in EXPORTERS]
        contract = {
            "system": args.cluster_system, "site": cluster.site,
            "stack_chart": f"{KUBE_PROMETHEUS_STACK.chart}@{KUBE_PROMETHEUS_STACK.version}",
            "rule_groups": [group.name for group in groups],
            "alerts": sorted(alert.name for group in groups for alert in group.alerts),
            "exporters": sorted(f"{system.name}:{EXPORTERS[system.kind].chart}" for _, system in watched),
        }
        super().__init__(MONITORING, name, contract, opts)
        in_cluster = pulumi.ResourceOptions(parent=self, provider=cluster.provider)
        # node-exporter reads the host (hostPID, hostNetwork): the namespace admits privileged pods.
        ns = namespace(f"{name}-namespace", MONITORING_NAMESPACE, "privileged", in_cluster)
        scrape = []
        if platform.witness is not None and args.watches_site:
            scrape.append({
                "job_name": "multidc-witness", "metrics_path": "/probe", "params": {"module": ["http_2xx"]},
                "static_configs": [{"targets": [platform.witness.endpoint]}],
                "relabel_configs": [
                    {"source_labels": ["__address__"], "target_label": "__param_target"},
                    {"source_labels": ["__param_target"], "target_label": "instance"},
                    {"target_label": "__address__",
                     "replacement": f"{BLACKBOX_EXPORTER.chart}.{MONITORING_NAMESPACE}.svc:9115"}],
            })
            helm_release(f"{name}-blackbox", BLACKBOX_EXPORTER, ns, {"resources": EXPORTER_RESOURCES}, in_cluster)
        stack = helm_release(f"{name}-stack", KUBE_PROMETHEUS_STACK, ns, {
            "prometheus": {"prometheusSpec": {
                "retention": RETENTION,
                "ruleSelectorNilUsesHelmValues": False, "serviceMonitorSelectorNilUsesHelmValues": False,
                "additionalScrapeConfigs": scrape,
                "externalLabels": {"platform": platform.name, "site": cluster.site},
            }},
            "alertmanager": {"config": alertmanager_config()},
            "additionalPrometheusRulesMap": {"multidc": rule_file(groups)} if groups else {},
        }, in_cluster)
        after_stack = pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[stack]))
        for database, system in watched:
            self._exporter(name, ns, database, system, cluster.site, after_stack)
        self.releases = [contract["stack_chart"]]
        self.register_outputs(contract)

    def _exporter(self, name: str, ns: pulumi.Output[str], database: ManagedDatabase, system: spec.System,
                  site: str, opts: pulumi.ResourceOptions) -> None:
        chart, release = EXPORTERS[system.kind], f"{name}-{system.name}-exporter"
        monitor = {"enabled": True, "relabelings": _relabel(system.name, site, database.role)}
        values: dict[str, Any] = {"serviceMonitor": monitor, "resources": EXPORTER_RESOURCES}
        if system.kind is spec.Kind.postgres:
            secret = k8s.core.v1.Secret(
                f"{release}-dsn", metadata={"name": k8s_name(system.name, "exporter-dsn"), "namespace": ns},
                type="Opaque", string_data={"data_source_name": _dsn(database)}, opts=opts)
            values["config"] = {"datasourceSecret": {"name": secret.metadata.name, "key": "data_source_name"},
                                "queries": yaml.safe_dump(POSTGRES_QUERIES)}
        elif system.kind is spec.Kind.redis:
            values["redisAddress"] = pulumi.Output.concat("redis://", database.endpoint, ":",
                                                          pulumi.Output.from_input(database.port).apply(str))
        else:
            values["mysql"] = {"host": database.endpoint, "port": database.port}
        # Several exporters of one chart share the namespace: each release is named after its system.
        k8s.helm.v3.Release(release, name=k8s_name(system.name, "exporter"), chart=chart.chart, version=chart.version,
                            repository_opts={"repo": chart.repo}, namespace=ns, values=values, opts=opts)
