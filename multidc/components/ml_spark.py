"""Spark on Kubernetes for one ML platform placement: the Kubeflow Spark operator chart,
watching the Spark jobs namespace (service account ``spark``). The operator runs one
replica even in a warm standby: its webhook admits the job namespace's pods.
"""

from __future__ import annotations

from typing import Callable

import pulumi
import pulumi_kubernetes as k8s

from multidc.components import k8s_workloads as kw
from multidc.components.common import HelmChart, helm_release

SPARK_OPERATOR_CHART = HelmChart("spark-operator", "https://kubeflow.github.io/spark-operator", "2.4.0")
SPARK_OPERATOR_RELEASE = SPARK_OPERATOR_CHART.chart  # common.helm_release names a release after its chart
SPARK_SERVICE_ACCOUNT = "spark"


def spark_operator(base: str, *, namespace: k8s.core.v1.Namespace, spark_namespace: k8s.core.v1.Namespace,
                   opts: Callable[..., pulumi.ResourceOptions]) -> None:
    """The operator's release in ``namespace`` and its webhook's NetworkPolicy, named
    ``<base>-spark-*``; ``opts(**kwargs)`` gives each resource its own options."""
    helm_release(
        f"{base}-spark-operator", SPARK_OPERATOR_CHART, namespace.metadata.name,
        values={
            # One replica even in a warm standby: the webhook admits the job namespace's pods.
            "controller": {"replicas": 1, "resources": kw.resources("500m", "1Gi")},
            "webhook": {"replicas": 1, "resources": kw.resources("200m", "256Mi")},
            "spark": {"jobNamespaces": [spark_namespace.metadata.name],
                      "serviceAccount": {"create": True, "name": SPARK_SERVICE_ACCOUNT},
                      "rbac": {"create": True}},
        },
        opts=opts(depends_on=[spark_namespace]),
    )
    kw.network_policy(
        f"{base}-spark-webhook-netpol", name="spark-operator-webhook",
        namespace=namespace.metadata.name,
        pod_selector={"app.kubernetes.io/instance": SPARK_OPERATOR_RELEASE,
                      "app.kubernetes.io/component": "webhook"},
        # The API server calls the admission webhook; its address is not a pod's.
        ingress=[{"ports": [{"protocol": "TCP", "port": 9443}]}], opts=opts())
