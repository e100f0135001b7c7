"""The MLflow tracking server of one ML platform placement.

A Deployment of the official ``-full`` image (it carries the PostgreSQL driver and boto3;
the plain image has neither), PostgreSQL as backend store, the S3 bucket as artifact store
behind MLflow's artifact proxy, so S3 keys live only in the tracking server's Secret. A
warm standby declares it at zero replicas (the count to scale to is in the
``multidc.io/serving-replicas`` annotation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence
from urllib.parse import quote, urlparse

import pulumi
import pulumi_kubernetes as k8s

from multidc.components import k8s_workloads as kw
from multidc.components.ml_datasets import S3BucketAccess
from multidc.contract import ANNOTATION_SERVING_REPLICAS

MLFLOW_VERSION = "3.17.2"
MLFLOW_IMAGE = f"ghcr.io/mlflow/mlflow:v{MLFLOW_VERSION}-full"
MLFLOW_PORT = 5000
MLFLOW_REPLICAS = 2


def mlflow_selector(system: str) -> dict[str, str]:
    """The labels that select a placement's MLflow tracking servers."""
    return {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/instance": system}


def mlflow_tracking_uri(namespace: str) -> str:
    """MLflow inside the cluster, for the notebooks and model servers of ``namespace``."""
    return f"http://mlflow.{namespace}.svc.cluster.local:{MLFLOW_PORT}"


@dataclass(frozen=True)
class PostgresConnection:
    """A PostgreSQL endpoint and its login; ``password`` is a Pulumi secret."""

    host: pulumi.Input[str]
    port: pulumi.Input[int]
    dbname: pulumi.Input[str]
    user: pulumi.Input[str]
    password: pulumi.Output[str] = field(repr=False)


def _url_port(url: str) -> int:
    parsed = urlparse(url)
    return parsed.port or (80 if parsed.scheme == "http" else 443)


def _backend_store_uri(db: PostgresConnection) -> pulumi.Output[str]:
    uri = pulumi.Output.all(db.user, db.password, db.host, db.port, db.dbname).apply(
        lambda parts: f"postgresql+psycopg2://{quote(str(parts[0]), safe='')}:{quote(str(parts[1]), safe='')}"
                      f"@{parts[2]}:{parts[3]}/{parts[4]}")
    return pulumi.Output.secret(uri)


def mlflow_server(base: str, *, system: str, namespace: k8s.core.v1.Namespace, namespace_name: str,
                  spark_namespace: Optional[str], backend_store: PostgresConnection, artifacts: S3BucketAccess,
                  service_hosts: Sequence[str], full: bool, opts: Callable[[], pulumi.ResourceOptions]) -> None:
    """The tracking server in ``namespace`` (named ``namespace_name``): its Secrets, Deployment,
    Service, PodDisruptionBudget and NetworkPolicy, each named ``<base>-mlflow-*``. Clients are
    the pods of its own namespace and of ``spark_namespace``; ``service_hosts`` are its service
    names outside the cluster; ``opts`` gives each resource its own options."""
    selector = mlflow_selector(system)
    labels = {**kw.labels("mlflow", "tracking-server", system), **selector}
    backend = k8s.core.v1.Secret(
        f"{base}-mlflow-backend",
        metadata={"name": "mlflow-backend", "namespace": namespace.metadata.name}, type="Opaque",
        string_data={"MLFLOW_BACKEND_STORE_URI": _backend_store_uri(backend_store)},
        opts=opts())
    artifact_keys = k8s.core.v1.Secret(
        f"{base}-mlflow-artifacts",
        metadata={"name": "mlflow-artifacts", "namespace": namespace.metadata.name}, type="Opaque",
        string_data={"AWS_ACCESS_KEY_ID": pulumi.Output.secret(artifacts.access_key),
                     "AWS_SECRET_ACCESS_KEY": pulumi.Output.secret(artifacts.secret_key)},
        opts=opts())
    cluster_hosts = [f"mlflow.{namespace_name}{suffix}" for suffix in ("", ".svc", ".svc.cluster.local")]
    # MLflow refuses a Host header it does not know: its service name (multidc.components.ml_endpoints) too.
    allowed_hosts = ",".join(host for name in ["mlflow", *cluster_hosts, *service_hosts]
                             for host in (name, f"{name}:{MLFLOW_PORT}"))
    server = kw.container(
        "mlflow", MLFLOW_IMAGE,
        args=["mlflow", "server", "--host", "0.0.0.0", "--port", str(MLFLOW_PORT), "--workers", "2"],
        cpu="1", memory="2Gi", port=MLFLOW_PORT, probe_path="/health",
        env=[
            {"name": "MLFLOW_ARTIFACTS_DESTINATION",
             "value": pulumi.Output.concat("s3://", artifacts.bucket, "/mlflow")},
            {"name": "MLFLOW_S3_ENDPOINT_URL", "value": artifacts.endpoint},
            {"name": "MLFLOW_SERVER_ALLOWED_HOSTS", "value": allowed_hosts},
        ],
        env_from=[{"secret_ref": {"name": backend.metadata.name}},
                  {"secret_ref": {"name": artifact_keys.metadata.name}}],
    )
    kw.deployment(
        f"{base}-mlflow", name="mlflow", namespace=namespace.metadata.name, selector=selector,
        pod_labels=labels, pod=kw.pod_spec([server]), replicas=MLFLOW_REPLICAS if full else 0,
        annotations={ANNOTATION_SERVING_REPLICAS: str(MLFLOW_REPLICAS)}, opts=opts())
    kw.service(f"{base}-mlflow-service", name="mlflow", namespace=namespace.metadata.name,
               selector=selector, port=MLFLOW_PORT, target_port=MLFLOW_PORT, service_labels=labels,
               opts=opts())
    kw.disruption_budget(f"{base}-mlflow-pdb", name="mlflow", namespace=namespace.metadata.name,
                         selector=selector, opts=opts())
    clients = [{"pod_selector": {}}]  # notebooks and model servers in this namespace
    if spark_namespace is not None:
        clients.append({"namespace_selector": {"match_labels": {
            "kubernetes.io/metadata.name": spark_namespace}}})
    db_port = pulumi.Output.from_input(backend_store.port)
    s3_port = pulumi.Output.from_input(artifacts.endpoint).apply(_url_port)
    kw.network_policy(
        f"{base}-mlflow-netpol", name="mlflow", namespace=namespace.metadata.name, pod_selector=selector,
        ingress=[{"from": clients, "ports": [{"protocol": "TCP", "port": MLFLOW_PORT}]}],
        egress=[kw.dns_egress(),
                {"ports": [{"protocol": "TCP", "port": db_port}, {"protocol": "TCP", "port": s3_port}]}],
        opts=opts())
