"""The ML platform of one site: JupyterHub, MLflow, served models and Spark on Kubernetes.

Training reads data where it runs. In the default active-passive placement that is the
secondary site (``Platform.ml_site``), so every dataset endpoint the platform receives is
the replica in its own site and production is never loaded by training ("ML on replicas").

What is declared, in one namespace named after the system (Spark jobs in their own), one
concept a module:

- JupyterHub from the Zero to JupyterHub chart (``ml_jupyterhub``), with a CPU profile and,
  when the cluster has a GPU pool in this site, a GPU profile;
- the MLflow tracking server (``ml_mlflow``): PostgreSQL as backend store, the S3 bucket as
  artifact store behind MLflow's artifact proxy;
- each served model as Deployment + Service + HorizontalPodAutoscaler + PodDisruptionBudget
  running multidc's model server (``ml_serving``);
- the Kubeflow Spark operator chart, watching the Spark jobs namespace (``ml_spark``);
- the datasets' copies in this site as a ConfigMap and Secret (``ml_datasets``);
- NetworkPolicies: ingress denied in both namespaces except what each service needs.

A ``warm-standby`` placement declares MLflow and the model servers at zero replicas (the
count to scale to is in the ``multidc.io/serving-replicas`` annotation), JupyterHub without
its user scheduler and image pullers, and the Spark operator at one replica.

This module is the component and where the platform's public names are imported from
(the rest of the code and the tests import them here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from multidc.components import k8s_workloads as kw
from multidc.components.common import HelmChart, helm_release
from multidc.components.ml_datasets import (
    DatabaseEndpoint,
    Dataset,
    S3BucketAccess,
    bucket_url,
    database_url,
    dataset_config,
    dataset_env_prefix,
    dataset_settings,
)
from multidc.components.ml_jupyterhub import (
    AUTHENTICATORS,
    GPU_NOTEBOOK_IMAGE,
    GPU_RESOURCE,
    JUPYTERHUB_CHART,
    JUPYTERHUB_PROXY_PORT,
    JUPYTERHUB_RELEASE,
    NOTEBOOK_IMAGE,
    PRIVATE_RANGES,
    GpuScheduling,
    jupyterhub_proxy_selector,
    jupyterhub_values,
)
from multidc.components.ml_mlflow import (
    MLFLOW_IMAGE,
    MLFLOW_PORT,
    MLFLOW_REPLICAS,
    MLFLOW_VERSION,
    PostgresConnection,
    mlflow_selector,
    mlflow_server,
    mlflow_tracking_uri,
)
from multidc.components.ml_serving import (
    MODEL_PORT,
    MODEL_STARTUP_SECONDS,
    SERVING_IMAGE,
    SERVING_REPLICAS_ANNOTATION,
    model_endpoint,
    model_selector,
    model_server_args,
    model_server_container,
    model_server_workers,
    served_model,
)
from multidc.components.ml_spark import (
    SPARK_OPERATOR_CHART,
    SPARK_OPERATOR_RELEASE,
    SPARK_SERVICE_ACCOUNT,
    spark_operator,
)
from multidc.contract import ML_PLATFORM
from multidc.spec import Platform, System, Topology

__all__ = [
    "AUTHENTICATORS", "FULL", "GPU_NOTEBOOK_IMAGE", "GPU_RESOURCE", "JUPYTERHUB_CHART", "JUPYTERHUB_PROXY_PORT",
    "JUPYTERHUB_RELEASE", "MLFLOW_IMAGE", "MLFLOW_PORT", "MLFLOW_REPLICAS", "MLFLOW_VERSION", "MODEL_PORT",
    "MODEL_STARTUP_SECONDS", "NOTEBOOK_IMAGE", "PRIVATE_RANGES", "SERVING_IMAGE", "SERVING_REPLICAS_ANNOTATION",
    "SPARK_OPERATOR_CHART", "SPARK_OPERATOR_RELEASE", "SPARK_SERVICE_ACCOUNT", "WARM_STANDBY",
    "DatabaseEndpoint", "Dataset", "GpuScheduling", "HelmChart", "MlPlatform", "MlPlatformArgs",
    "PostgresConnection", "S3BucketAccess", "Scale",
    "dataset_env_prefix", "dataset_settings", "endpoints_used", "jupyterhub_proxy_selector", "jupyterhub_values",
    "ml_scale", "mlflow_selector", "model_selector", "model_server_args", "model_server_container",
    "model_server_workers", "training_datasets",
]

Scale = Literal["full", "warm-standby"]
FULL: Scale = "full"
WARM_STANDBY: Scale = "warm-standby"


@dataclass(frozen=True)
class MlPlatformArgs:
    """What one ml-platform placement needs, cut from the spec and the components it uses.

    ``scale`` is ``full`` where training runs (and in active-active), ``warm-standby``
    elsewhere: every workload declared at zero replicas for the DR runbook to scale up.
    ``gpu`` is None when the cluster has no GPU pool in this site. ``mlflow_db`` and
    ``artifacts`` are None when the spec has no MLflow. ``datasets`` are the copies in
    ``site`` of the systems listed in ``system.ml.datasets`` (``ml_scale`` and
    ``Platform.ml_site`` say which site runs full).
    """

    system: System
    site: str
    scale: Scale
    provider: k8s.Provider
    gpu: Optional[GpuScheduling] = None
    mlflow_db: Optional[PostgresConnection] = None
    artifacts: Optional[S3BucketAccess] = None
    datasets: tuple[Dataset, ...] = ()
    service_hosts: tuple[str, ...] = ()
    """The MLflow endpoint's service name in the site's zone (``mlflow.ml.bank.example.kz``), if it has one."""
    placement: Mapping[str, Any] = field(default_factory=dict)
    """``placement_props(platform, system, site)`` from platform.py: the props every graph
    reader relies on (docs/components.md), registered with this component's own keys
    (its ``scale`` key is this args' ``scale``)."""


def endpoints_used(args: MlPlatformArgs) -> dict[str, Any]:
    """Where this placement's services read and write (no credentials), for `multidc plan`:
    the MLflow stores and, per dataset, the copy training reads."""
    datasets = {}
    for dataset in args.datasets:
        if dataset.bucket is not None:
            datasets[dataset.system] = bucket_url(dataset.bucket)
        elif dataset.database is not None:
            db = dataset.database
            datasets[dataset.system] = pulumi.Output.concat(
                database_url(db.engine, db.host, db.port, db.dbname), " (read-only)")
    return {
        "mlflow_backend": (database_url("postgresql", args.mlflow_db.host, args.mlflow_db.port,
                                        args.mlflow_db.dbname) if args.mlflow_db is not None else None),
        "artifact_store": bucket_url(args.artifacts) if args.artifacts is not None else None,
        "datasets": datasets,
    }


def ml_scale(platform: Platform, system: System, site: str) -> Scale:
    """``full`` where the platform trains (``Platform.ml_site``) and in every site of an
    active-active system; ``warm-standby`` in the other sites.

    Not the generic placement scale: in active-passive the ML platform runs full in the
    standby site of its system, next to the replicas it trains on.
    """
    if system.topology is Topology.active_active or site == platform.ml_site(system):
        return FULL
    return WARM_STANDBY


def training_datasets(platform: Platform, system: System, site: str,
                      copies: Mapping[tuple[str, str], Dataset]) -> tuple[Dataset, ...]:
    """The datasets the placement of ``system`` in ``site`` trains on, picked from ``copies``
    (every copy the platform declares, keyed by (dataset system, site)).

    Where the platform trains (``ml_scale`` is full) that is the copy in its own site of each
    dataset: in active-passive, the replicas. A warm standby gets none: in active-passive it
    sits in the primary site, where the copies are production's own, and training must not
    load them; the move of ML there (``ml.site``) is a decision the runbook leaves to people.
    """
    assert system.ml is not None
    if ml_scale(platform, system, site) != FULL:
        return ()
    return tuple(copies[(name, site)] for name in system.ml.datasets)


class MlPlatform(pulumi.ComponentResource):
    """JupyterHub, MLflow, served models and the Spark operator on one site's cluster."""

    namespace: str
    """The namespace of JupyterHub, MLflow, the model servers and the Spark operator."""
    spark_namespace: Optional[str]
    """Where SparkApplications run (service account ``spark``); None without Spark."""
    tracking_uri: Optional[str]
    """MLflow inside the cluster; None without MLflow."""
    model_endpoints: dict[str, str]
    """Each served model's REST endpoint inside the cluster (POST ``/invocations``)."""

    def __init__(self, name: str, args: MlPlatformArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        system, ml = args.system, args.system.ml
        assert ml is not None, "an ml-platform system always has its 'ml' section (the spec checks it)"
        self._check_datasets_are_local(args)
        namespace_name = system.name
        spark_namespace_name = ml.spark.namespace if ml.spark.enabled else None
        mlflow_on = ml.mlflow is not None and ml.mlflow.enabled and args.mlflow_db is not None \
            and args.artifacts is not None
        tracking_uri = mlflow_tracking_uri(namespace_name) if mlflow_on else None
        model_endpoints = {model.name: model_endpoint(namespace_name, model)
                           for model in ml.models} if mlflow_on else {}
        gpu_profile = ml.jupyterhub.enabled and ml.jupyterhub.gpu_profile and args.gpu is not None
        contract = {
            **args.placement,
            "system": system.name, "site": args.site, "scale": args.scale,
            "namespace": namespace_name, "spark_namespace": spark_namespace_name,
            "jupyterhub": f"{JUPYTERHUB_CHART.chart}@{JUPYTERHUB_CHART.version}" if ml.jupyterhub.enabled else None,
            "gpu_profile": gpu_profile,
            "mlflow": MLFLOW_IMAGE if mlflow_on else None,
            "models": sorted(model_endpoints),
            "spark_operator": (f"{SPARK_OPERATOR_CHART.chart}@{SPARK_OPERATOR_CHART.version}"
                               if ml.spark.enabled else None),
            "datasets": {dataset.system: dataset.site for dataset in args.datasets},
        }
        super().__init__(ML_PLATFORM, name, contract, opts)
        # Set after registering: the SDK turns every registered prop into an Output attribute.
        self.namespace, self.spark_namespace = namespace_name, spark_namespace_name
        self.tracking_uri, self.model_endpoints = tracking_uri, model_endpoints
        self._base, self._args = name, args
        self._full = args.scale == FULL

        namespace = self._namespace("namespace", self.namespace)
        self._deny_ingress("deny-ingress", namespace)
        plain, secret = dataset_settings(args.datasets)
        dataset_config(f"{name}-datasets", namespace, plain, secret, self._opts)
        if self.spark_namespace is not None:
            spark_namespace = self._namespace("spark-namespace", self.spark_namespace)
            self._deny_ingress("spark-deny-ingress", spark_namespace, allow_same_namespace=True)
            dataset_config(f"{name}-spark-datasets", spark_namespace, plain, secret, self._opts)
            spark_operator(name, namespace=namespace, spark_namespace=spark_namespace, opts=self._opts)
        if mlflow_on:
            assert args.mlflow_db is not None and args.artifacts is not None and tracking_uri is not None
            mlflow_server(name, system=system.name, namespace=namespace, namespace_name=namespace_name,
                          spark_namespace=spark_namespace_name, backend_store=args.mlflow_db,
                          artifacts=args.artifacts, service_hosts=args.service_hosts, full=self._full,
                          opts=self._opts)
            for model in ml.models:
                served_model(name, system=system.name, namespace=namespace, model=model,
                             tracking_uri=tracking_uri, full=self._full, opts=self._opts)
        if ml.jupyterhub.enabled:
            if ml.jupyterhub.gpu_profile and args.gpu is None:
                pulumi.log.warn(
                    f"systems.{system.name}.ml.jupyterhub.gpu_profile: cluster '{ml.cluster}' has no GPU pool "
                    f"in '{args.site}', so JupyterHub there offers the CPU profile only; add a gpu_pools entry "
                    "to the cluster's size or set gpu_profile: false", resource=self)
            self._jupyterhub(namespace, plain, secret, gpu_profile)
        # The contract props as outputs too: under `pulumi preview --policy-pack` a component's
        # outputs are all the stack policies see of it.
        self.register_outputs({
            **contract,
            "namespace": self.namespace, "spark_namespace": self.spark_namespace,
            "tracking_uri": self.tracking_uri, "model_endpoints": self.model_endpoints,
            "endpoints": endpoints_used(args),
        })

    @staticmethod
    def _check_datasets_are_local(args: MlPlatformArgs) -> None:
        # The spec guarantees a copy of every dataset in the ML site; this guards the wiring, so
        # that a wrong endpoint passed by the caller cannot quietly point training at another
        # site's (production) copy.
        for dataset in args.datasets:
            if dataset.site != args.site:
                raise ValueError(
                    f"ML platform '{args.system.name}' in '{args.site}' was given dataset '{dataset.system}' "
                    f"from '{dataset.site}': training reads only copies in its own site, so production is "
                    f"never loaded by it; pass the '{args.site}' copy of '{dataset.system}'")

    def _opts(self, **kwargs: Any) -> pulumi.ResourceOptions:
        # A fresh object per resource: the SDK keeps (and may amend) the options it is given.
        return pulumi.ResourceOptions(parent=self, provider=self._args.provider, **kwargs)

    def _namespace(self, role: str, namespace: str) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            f"{self._base}-{role}",
            metadata={"name": namespace, "labels": {
                **kw.labels(self._args.system.name, role, self._args.system.name),
                "pod-security.kubernetes.io/enforce": "baseline",
                "pod-security.kubernetes.io/warn": "restricted"}},
            opts=self._opts())

    def _deny_ingress(self, role: str, namespace: k8s.core.v1.Namespace, *, allow_same_namespace: bool = False) -> None:
        """Ingress to every pod of the namespace is denied unless another policy allows it."""
        ingress = [{"from": [{"pod_selector": {}}]}] if allow_same_namespace else []
        kw.network_policy(f"{self._base}-{role}", name=role, namespace=namespace.metadata.name,
                          pod_selector={}, ingress=ingress, opts=self._opts())

    def _jupyterhub(self, namespace: k8s.core.v1.Namespace, plain: Mapping[str, Any],
                    secret: Mapping[str, Any], gpu_profile: bool) -> None:
        hub_spec = self._args.system.ml.jupyterhub
        values = jupyterhub_values(
            authenticator=hub_spec.authenticator, max_users=hub_spec.max_users,
            user_storage_gb=hub_spec.user_storage_gb, full=self._full,
            gpu=self._args.gpu if gpu_profile else None, tracking_uri=self.tracking_uri,
            dataset_plain=sorted(plain), dataset_secret=sorted(secret),
            dataset_db_ports=[dataset.database.port for dataset in self._args.datasets
                              if dataset.database is not None],
            system=self._args.system.name)
        helm_release(f"{self._base}-jupyterhub", JUPYTERHUB_CHART, namespace.metadata.name, values, self._opts())

