"""The ML platform of one site: JupyterHub, MLflow, served models and Spark on Kubernetes.

Training reads data where it runs. In the default active-passive placement that is the
secondary site (``Platform.ml_site``), so every dataset endpoint the platform receives is
the replica in its own site and production is never loaded by training ("ML on replicas").

What is declared, in one namespace named after the system (Spark jobs in their own):

- JupyterHub from the Zero to JupyterHub chart, with a CPU profile and, when the cluster has
  a GPU pool in this site, a GPU profile (one ``nvidia.com/gpu``, tolerating the pool's taint);
- the MLflow tracking server, a Deployment of the official ``-full`` image (it carries the
  PostgreSQL driver and boto3; the plain image has neither), PostgreSQL as backend store,
  the S3 bucket as artifact store behind MLflow's artifact proxy, so S3 keys live only in
  the tracking server's Secret;
- each served model as Deployment + Service + HorizontalPodAutoscaler + PodDisruptionBudget
  running multidc's model server (``multidc.serving``: MLflow's scoring protocol, ten times
  ``mlflow models serve``'s rate in ``benchmarks/serving.py``) from the image the spec names;
- the Kubeflow Spark operator chart, watching the Spark jobs namespace;
- NetworkPolicies: ingress denied in both namespaces except what each service needs.

A ``warm-standby`` placement declares MLflow and the model servers at zero replicas (the
count to scale to is in the ``multidc.io/serving-replicas`` annotation), JupyterHub without
its user scheduler and image pullers, and the Spark operator at one replica.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional
from urllib.parse import quote, urlparse

import math

import pulumi
import pulumi_kubernetes as k8s

from multidc.components import k8s_workloads as kw
from multidc.spec import Platform, ServedModel, System, Topology
from multidc.contract import ANNOTATION_SERVING_REPLICAS, ML_PLATFORM
from multidc.spec.service_names import MODEL_PREFIX

Scale = Literal["full", "warm-standby"]
FULL: Scale = "full"
WARM_STANDBY: Scale = "warm-standby"

MLFLOW_VERSION = "3.17.2"
MLFLOW_IMAGE = f"ghcr.io/mlflow/mlflow:v{MLFLOW_VERSION}-full"
MLFLOW_PORT = 5000
MLFLOW_REPLICAS = 2
MODEL_PORT = 8080
# Built from multidc/serving/Dockerfile by the user's CI; a served model's ``image`` overrides it.
SERVING_IMAGE = "multidc/model-server:0.1.0"
MODEL_STARTUP_SECONDS = 300  # the model is downloaded through MLflow before the first request
SERVING_REPLICAS_ANNOTATION = ANNOTATION_SERVING_REPLICAS

# Jupyter Docker Stacks, pinned by build date; the CUDA build for the GPU profile.
NOTEBOOK_IMAGE = ("quay.io/jupyter/scipy-notebook", "2026-08-24")
GPU_NOTEBOOK_IMAGE = ("quay.io/jupyter/pytorch-notebook", "cuda12-2026-08-24")
GPU_RESOURCE = "nvidia.com/gpu"

# The classes ship in the chart's hub image; the settings each needs beyond its name (IdP
# URLs, LDAP server) are not in the spec and go in through `hub.config` at deploy time.
AUTHENTICATORS = {
    "dummy": "dummy",
    "native": "nativeauthenticator.NativeAuthenticator",
    "generic-oauth": "oauthenticator.generic.GenericOAuthenticator",
    "ldap": "ldapauthenticator.LDAPAuthenticator",
}
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


JUPYTERHUB_RELEASE = "jupyterhub"
JUPYTERHUB_PROXY_PORT = "http"  # the chart's proxy pods serve the hub on this named port (8000)


def mlflow_selector(system: str) -> dict[str, str]:
    """The labels that select a placement's MLflow tracking servers."""
    return {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/instance": system}


def model_selector(system: str, model: str) -> dict[str, str]:
    """The labels that select the servers of one served model."""
    return {"app.kubernetes.io/name": f"{MODEL_PREFIX}{model}", "app.kubernetes.io/instance": system}


def jupyterhub_proxy_selector() -> dict[str, str]:
    """The labels the Zero to JupyterHub chart gives its proxy pods (where users connect)."""
    return {"app": "jupyterhub", "component": "proxy", "release": JUPYTERHUB_RELEASE}


@dataclass(frozen=True)
class HelmChart:
    chart: str
    repo: str
    version: str


JUPYTERHUB_CHART = HelmChart("jupyterhub", "https://hub.jupyter.org/helm-chart/", "4.3.3")
SPARK_OPERATOR_CHART = HelmChart("spark-operator", "https://kubeflow.github.io/spark-operator", "2.4.0")
SPARK_OPERATOR_RELEASE = "spark-operator"
SPARK_SERVICE_ACCOUNT = "spark"


@dataclass(frozen=True)
class GpuScheduling:
    """How a pod reaches the GPU pool: the pool's taint to tolerate and its labels to select."""

    taint_key: str = "nvidia.com/gpu"
    taint_value: str = "present"
    taint_effect: str = "NoSchedule"
    node_labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PostgresConnection:
    """A PostgreSQL endpoint and its login; ``password`` is a Pulumi secret."""

    host: pulumi.Input[str]
    port: pulumi.Input[int]
    dbname: pulumi.Input[str]
    user: pulumi.Input[str]
    password: pulumi.Output[str] = field(repr=False)


@dataclass(frozen=True)
class S3BucketAccess:
    """A bucket on one site's S3 endpoint and its keys; ``secret_key`` is a Pulumi secret."""

    endpoint: pulumi.Input[str]
    bucket: pulumi.Input[str]
    access_key: pulumi.Input[str]
    secret_key: pulumi.Output[str] = field(repr=False)


@dataclass(frozen=True)
class DatabaseEndpoint:
    """A database's read-only endpoint in one site (the standby); login optional."""

    engine: str
    host: pulumi.Input[str]
    port: pulumi.Input[int]
    dbname: Optional[pulumi.Input[str]] = None
    user: Optional[pulumi.Input[str]] = None
    password: Optional[pulumi.Output[str]] = field(default=None, repr=False)


@dataclass(frozen=True)
class Dataset:
    """One dataset system as training sees it: its copy in ``site``, a bucket or a database."""

    system: str
    site: str
    bucket: Optional[S3BucketAccess] = None
    database: Optional[DatabaseEndpoint] = None


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


def _bucket_url(bucket: S3BucketAccess) -> pulumi.Output[str]:
    return pulumi.Output.concat(bucket.endpoint, "/", bucket.bucket)


def _database_url(engine: str, host: Any, port: Any, dbname: Any = None) -> pulumi.Output[str]:
    return pulumi.Output.concat(engine, "://", host, ":", pulumi.Output.from_input(port).apply(str),
                                "/", dbname if dbname is not None else "")


def endpoints_used(args: MlPlatformArgs) -> dict[str, Any]:
    """Where this placement's services read and write (no credentials), for `multidc plan`:
    the MLflow stores and, per dataset, the copy training reads."""
    datasets = {}
    for dataset in args.datasets:
        if dataset.bucket is not None:
            datasets[dataset.system] = _bucket_url(dataset.bucket)
        elif dataset.database is not None:
            db = dataset.database
            datasets[dataset.system] = pulumi.Output.concat(
                _database_url(db.engine, db.host, db.port, db.dbname), " (read-only)")
    return {
        "mlflow_backend": (_database_url("postgresql", args.mlflow_db.host, args.mlflow_db.port,
                                         args.mlflow_db.dbname) if args.mlflow_db is not None else None),
        "artifact_store": _bucket_url(args.artifacts) if args.artifacts is not None else None,
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


def model_server_args(model_uri: str, workers: int, *, host: str = "0.0.0.0", port: int = MODEL_PORT) -> list[str]:
    """The command of a served model's container: ``python -m multidc.serving``.

    The model runs in the image's own environment (the serving image carries MLflow and
    scikit-learn); nothing is installed at start, which would need a package index.
    """
    return ["python", "-m", "multidc.serving", "--model-uri", model_uri,
            "--host", host, "--port", str(port), "--workers", str(workers)]


def model_server_workers(model: ServedModel) -> int:
    """The spec's ``workers`` when it sets them, else one per CPU of the model's limit.

    One asynchronous worker keeps one CPU busy (``benchmarks/serving.py`` measures one worker
    pinned to one CPU); more workers than CPUs only add a model's memory each.
    """
    if "workers" in model.model_fields_set:
        return model.workers
    cpu = model.cpu
    try:
        cores = float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
    except ValueError:
        raise ValueError(f"served model '{model.name}': cpu {cpu!r} is not a Kubernetes CPU quantity; write "
                         "it as cores ('2', '1.5') or millicores ('500m')") from None
    return max(1, math.ceil(cores))


def model_server_container(model: ServedModel, tracking_uri: str) -> dict[str, Any]:
    """The container serving ``model`` over REST: its command, the spec's CPU and memory as
    requests and limits, and probes on the scoring server's ``/ping``."""
    return kw.container(
        "model-server", model.image or SERVING_IMAGE,
        args=model_server_args(model.model_uri, model_server_workers(model)),
        cpu=model.cpu, memory=model.memory, port=MODEL_PORT, probe_path="/ping",
        startup_seconds=MODEL_STARTUP_SECONDS,
        env=[
            {"name": "MLFLOW_TRACKING_URI", "value": tracking_uri},
            # Parallelism comes from the workers. A worker's OpenMP/BLAS pool would otherwise start
            # a thread per CPU of the node (a container sees them all, not its limit) and the
            # workers would fight over the two CPUs they are limited to.
            {"name": "OMP_NUM_THREADS", "value": "1"},
        ],
    )


def dataset_env_prefix(system: str) -> str:
    """``DATASET_<SYSTEM>_``: how training code finds a dataset's copy in its environment."""
    return f"DATASET_{system.upper().replace('-', '_')}_"


def dataset_settings(datasets: tuple[Dataset, ...]) -> tuple[dict[str, pulumi.Input[str]], dict[str, pulumi.Input[str]]]:
    """Every dataset's connection as environment variables: (plain, secret).

    A bucket gives ``KIND=bucket, SITE, S3_ENDPOINT, BUCKET`` and the secret
    ``ACCESS_KEY_ID, SECRET_ACCESS_KEY``; a database gives ``KIND=database, SITE, ENGINE,
    HOST, PORT, DBNAME, USER, READ_ONLY=true`` and the secret ``PASSWORD``.
    """
    plain: dict[str, pulumi.Input[str]] = {}
    secret: dict[str, pulumi.Input[str]] = {}
    for dataset in datasets:
        prefix = dataset_env_prefix(dataset.system)
        plain[f"{prefix}SITE"] = dataset.site
        if dataset.bucket is not None:
            plain[f"{prefix}KIND"] = "bucket"
            plain[f"{prefix}S3_ENDPOINT"] = dataset.bucket.endpoint
            plain[f"{prefix}BUCKET"] = dataset.bucket.bucket
            secret[f"{prefix}ACCESS_KEY_ID"] = dataset.bucket.access_key
            secret[f"{prefix}SECRET_ACCESS_KEY"] = dataset.bucket.secret_key
        if dataset.database is not None:
            database = dataset.database
            plain[f"{prefix}KIND"] = "database"
            plain[f"{prefix}ENGINE"] = database.engine
            plain[f"{prefix}HOST"] = database.host
            plain[f"{prefix}PORT"] = pulumi.Output.from_input(database.port).apply(str)
            plain[f"{prefix}READ_ONLY"] = "true"
            if database.dbname is not None:
                plain[f"{prefix}DBNAME"] = database.dbname
            if database.user is not None:
                plain[f"{prefix}USER"] = database.user
            if database.password is not None:
                secret[f"{prefix}PASSWORD"] = database.password
    return plain, {key: pulumi.Output.secret(value) for key, value in secret.items()}


def _url_port(url: str) -> int:
    parsed = urlparse(url)
    return parsed.port or (80 if parsed.scheme == "http" else 443)


def _backend_store_uri(db: PostgresConnection) -> pulumi.Output[str]:
    uri = pulumi.Output.all(db.user, db.password, db.host, db.port, db.dbname).apply(
        lambda parts: f"postgresql+psycopg2://{quote(str(parts[0]), safe='')}:{quote(str(parts[1]), safe='')}"
                      f"@{parts[2]}:{parts[3]}/{parts[4]}")
    return pulumi.Output.secret(uri)


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
        tracking_uri = f"http://mlflow.{namespace_name}.svc.cluster.local:{MLFLOW_PORT}" if mlflow_on else None
        model_endpoints = {
            model.name: f"http://{self._model_name(model)}.{namespace_name}.svc.cluster.local:{MODEL_PORT}"
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
        self._dataset_config("datasets", namespace, plain, secret)
        if self.spark_namespace is not None:
            spark_namespace = self._namespace("spark-namespace", self.spark_namespace)
            self._deny_ingress("spark-deny-ingress", spark_namespace, allow_same_namespace=True)
            self._dataset_config("spark-datasets", spark_namespace, plain, secret)
            self._spark_operator(namespace, spark_namespace)
        if mlflow_on:
            self._mlflow(namespace)
            for model in ml.models:
                self._served_model(namespace, model)
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

    @staticmethod
    def _model_name(model: ServedModel) -> str:
        return f"{MODEL_PREFIX}{model.name}"

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

    def _dataset_config(self, role: str, namespace: k8s.core.v1.Namespace,
                        plain: Mapping[str, pulumi.Input[str]], secret: Mapping[str, pulumi.Input[str]]) -> None:
        """ConfigMap and Secret ``datasets``: every dataset's copy in this site, as environment
        variables (``envFrom`` them in Spark jobs; JupyterHub sets them in every notebook)."""
        k8s.core.v1.ConfigMap(f"{self._base}-{role}-config",
                              metadata={"name": "datasets", "namespace": namespace.metadata.name},
                              data=dict(plain), opts=self._opts())
        k8s.core.v1.Secret(f"{self._base}-{role}-secret",
                           metadata={"name": "datasets", "namespace": namespace.metadata.name},
                           type="Opaque", string_data=dict(secret), opts=self._opts())

    # --- MLflow -------------------------------------------------------------------------

    def _mlflow(self, namespace: k8s.core.v1.Namespace) -> None:
        args, ns = self._args, self.namespace
        assert args.mlflow_db is not None and args.artifacts is not None
        selector = mlflow_selector(args.system.name)
        labels = {**kw.labels("mlflow", "tracking-server", args.system.name), **selector}
        backend = k8s.core.v1.Secret(
            f"{self._base}-mlflow-backend",
            metadata={"name": "mlflow-backend", "namespace": namespace.metadata.name}, type="Opaque",
            string_data={"MLFLOW_BACKEND_STORE_URI": _backend_store_uri(args.mlflow_db)},
            opts=self._opts())
        artifact_keys = k8s.core.v1.Secret(
            f"{self._base}-mlflow-artifacts",
            metadata={"name": "mlflow-artifacts", "namespace": namespace.metadata.name}, type="Opaque",
            string_data={"AWS_ACCESS_KEY_ID": pulumi.Output.secret(args.artifacts.access_key),
                         "AWS_SECRET_ACCESS_KEY": pulumi.Output.secret(args.artifacts.secret_key)},
            opts=self._opts())
        service_hosts = [f"mlflow.{ns}{suffix}" for suffix in ("", ".svc", ".svc.cluster.local")]
        # MLflow refuses a Host header it does not know: its service name (multidc.components.ml_endpoints) too.
        allowed_hosts = ",".join(host for name in ["mlflow", *service_hosts, *args.service_hosts]
                                 for host in (name, f"{name}:{MLFLOW_PORT}"))
        server = kw.container(
            "mlflow", MLFLOW_IMAGE,
            args=["mlflow", "server", "--host", "0.0.0.0", "--port", str(MLFLOW_PORT), "--workers", "2"],
            cpu="1", memory="2Gi", port=MLFLOW_PORT, probe_path="/health",
            env=[
                {"name": "MLFLOW_ARTIFACTS_DESTINATION",
                 "value": pulumi.Output.concat("s3://", args.artifacts.bucket, "/mlflow")},
                {"name": "MLFLOW_S3_ENDPOINT_URL", "value": args.artifacts.endpoint},
                {"name": "MLFLOW_SERVER_ALLOWED_HOSTS", "value": allowed_hosts},
            ],
            env_from=[{"secret_ref": {"name": backend.metadata.name}},
                      {"secret_ref": {"name": artifact_keys.metadata.name}}],
        )
        kw.deployment(
            f"{self._base}-mlflow", name="mlflow", namespace=namespace.metadata.name, selector=selector,
            pod_labels=labels, pod=kw.pod_spec([server]), replicas=MLFLOW_REPLICAS if self._full else 0,
            annotations={SERVING_REPLICAS_ANNOTATION: str(MLFLOW_REPLICAS)}, opts=self._opts())
        kw.service(f"{self._base}-mlflow-service", name="mlflow", namespace=namespace.metadata.name,
                   selector=selector, port=MLFLOW_PORT, target_port=MLFLOW_PORT, service_labels=labels,
                   opts=self._opts())
        kw.disruption_budget(f"{self._base}-mlflow-pdb", name="mlflow", namespace=namespace.metadata.name,
                             selector=selector, opts=self._opts())
        clients = [{"pod_selector": {}}]  # notebooks and model servers in this namespace
        if self.spark_namespace is not None:
            clients.append({"namespace_selector": {"match_labels": {
                "kubernetes.io/metadata.name": self.spark_namespace}}})
        db_port = pulumi.Output.from_input(args.mlflow_db.port)
        s3_port = pulumi.Output.from_input(args.artifacts.endpoint).apply(_url_port)
        kw.network_policy(
            f"{self._base}-mlflow-netpol", name="mlflow", namespace=namespace.metadata.name, pod_selector=selector,
            ingress=[{"from": clients, "ports": [{"protocol": "TCP", "port": MLFLOW_PORT}]}],
            egress=[kw.dns_egress(),
                    {"ports": [{"protocol": "TCP", "port": db_port}, {"protocol": "TCP", "port": s3_port}]}],
            opts=self._opts())

    # --- served models ------------------------------------------------------------------

    def _served_model(self, namespace: k8s.core.v1.Namespace, model: ServedModel) -> None:
        assert self.tracking_uri is not None
        system, name = self._args.system.name, self._model_name(model)
        role = f"{self._base}-{name}"
        selector = model_selector(system, model.name)
        labels = {**kw.labels(name, "model-server", system), **selector}
        ns = namespace.metadata.name
        deployment = kw.deployment(
            role, name=name, namespace=ns, selector=selector, pod_labels=labels,
            pod=kw.pod_spec([model_server_container(model, self.tracking_uri)]),
            # Full scale leaves the count to the autoscaler; a warm standby is held at zero.
            replicas=None if self._full else 0,
            annotations={SERVING_REPLICAS_ANNOTATION: str(model.min_replicas)}, opts=self._opts())
        kw.service(f"{role}-service", name=name, namespace=ns, selector=selector, port=MODEL_PORT,
                   target_port=MODEL_PORT, service_labels=labels, opts=self._opts())
        kw.autoscaler(f"{role}-hpa", name=name, namespace=ns, deployment_name=name,
                      min_replicas=model.min_replicas, max_replicas=max(model.max_replicas, model.min_replicas),
                      opts=self._opts(depends_on=[deployment]))
        kw.disruption_budget(f"{role}-pdb", name=name, namespace=ns, selector=selector, opts=self._opts())
        mlflow_pods = mlflow_selector(system)
        kw.network_policy(
            f"{role}-netpol", name=name, namespace=ns, pod_selector=selector,
            # Clients are the applications in any namespace of the cluster.
            ingress=[{"from": [{"namespace_selector": {}}], "ports": [{"protocol": "TCP", "port": MODEL_PORT}]}],
            # The model comes through MLflow's artifact proxy; the server needs nothing else.
            egress=[kw.dns_egress(), {"to": [{"pod_selector": {"match_labels": mlflow_pods}}],
                                      "ports": [{"protocol": "TCP", "port": MLFLOW_PORT}]}],
            opts=self._opts())

    # --- Spark --------------------------------------------------------------------------

    def _spark_operator(self, namespace: k8s.core.v1.Namespace, spark_namespace: k8s.core.v1.Namespace) -> None:
        k8s.helm.v3.Release(
            f"{self._base}-spark-operator",
            name=SPARK_OPERATOR_RELEASE,
            chart=SPARK_OPERATOR_CHART.chart,
            version=SPARK_OPERATOR_CHART.version,
            repository_opts={"repo": SPARK_OPERATOR_CHART.repo},
            namespace=namespace.metadata.name,
            values={
                # One replica even in a warm standby: the webhook admits the job namespace's pods.
                "controller": {"replicas": 1, "resources": kw.resources("500m", "1Gi")},
                "webhook": {"replicas": 1, "resources": kw.resources("200m", "256Mi")},
                "spark": {"jobNamespaces": [spark_namespace.metadata.name],
                          "serviceAccount": {"create": True, "name": SPARK_SERVICE_ACCOUNT},
                          "rbac": {"create": True}},
            },
            opts=self._opts(depends_on=[spark_namespace]),
        )
        kw.network_policy(
            f"{self._base}-spark-webhook-netpol", name="spark-operator-webhook",
            namespace=namespace.metadata.name,
            pod_selector={"app.kubernetes.io/instance": SPARK_OPERATOR_RELEASE,
                          "app.kubernetes.io/component": "webhook"},
            # The API server calls the admission webhook; its address is not a pod's.
            ingress=[{"ports": [{"protocol": "TCP", "port": 9443}]}], opts=self._opts())

    # --- JupyterHub ---------------------------------------------------------------------

    def _jupyterhub(self, namespace: k8s.core.v1.Namespace, plain: Mapping[str, Any],
                    secret: Mapping[str, Any], gpu_profile: bool) -> None:
        hub_spec = self._args.system.ml.jupyterhub
        k8s.helm.v3.Release(
            f"{self._base}-jupyterhub",
            name=JUPYTERHUB_RELEASE,
            chart=JUPYTERHUB_CHART.chart,
            version=JUPYTERHUB_CHART.version,
            repository_opts={"repo": JUPYTERHUB_CHART.repo},
            namespace=namespace.metadata.name,
            values=jupyterhub_values(
                authenticator=hub_spec.authenticator, max_users=hub_spec.max_users,
                user_storage_gb=hub_spec.user_storage_gb, full=self._full,
                gpu=self._args.gpu if gpu_profile else None, tracking_uri=self.tracking_uri,
                dataset_plain=sorted(plain), dataset_secret=sorted(secret),
                dataset_db_ports=[dataset.database.port for dataset in self._args.datasets
                                  if dataset.database is not None],
                system=self._args.system.name),
            opts=self._opts(),
        )


def jupyterhub_values(
    *,
    authenticator: str,
    max_users: int,
    user_storage_gb: int,
    full: bool,
    gpu: Optional[GpuScheduling],
    tracking_uri: Optional[str],
    dataset_plain: list[str],
    dataset_secret: list[str],
    dataset_db_ports: list[pulumi.Input[int]],
    system: str,
) -> dict[str, Any]:
    """Values for the Zero to JupyterHub chart (raw chart keys, camelCase)."""
    extra_env: dict[str, Any] = {
        key: {"valueFrom": {"configMapKeyRef": {"name": "datasets", "key": key}}} for key in dataset_plain}
    extra_env.update({
        key: {"valueFrom": {"secretKeyRef": {"name": "datasets", "key": key}}} for key in dataset_secret})
    egress: list[dict[str, Any]] = []
    if tracking_uri is not None:
        extra_env["MLFLOW_TRACKING_URI"] = tracking_uri
        egress.append({"to": [{"podSelector": {"matchLabels": {
            "app.kubernetes.io/name": "mlflow", "app.kubernetes.io/instance": system}}}],
            "ports": [{"protocol": "TCP", "port": MLFLOW_PORT}]})
    if dataset_db_ports:
        # Read-only dataset endpoints are on the site network; only their ports are opened.
        egress.append({"to": [{"ipBlock": {"cidr": cidr}} for cidr in PRIVATE_RANGES],
                       "ports": [{"protocol": "TCP", "port": port} for port in dataset_db_ports]})
    profiles: list[dict[str, Any]] = [{
        "display_name": "CPU: 2 cores, 4 GB",
        "slug": "cpu",
        "default": True,
        "kubespawner_override": {"cpu_guarantee": 1, "cpu_limit": 2, "mem_guarantee": "2G", "mem_limit": "4G"},
    }]
    if gpu is not None:
        profiles.append({
            "display_name": f"GPU: 1 {GPU_RESOURCE}, 10 cores, 80 GB",
            "slug": "gpu",
            "kubespawner_override": {
                "image": ":".join(GPU_NOTEBOOK_IMAGE),
                "cpu_guarantee": 4, "cpu_limit": 10, "mem_guarantee": "32G", "mem_limit": "80G",
                "extra_resource_guarantees": {GPU_RESOURCE: "1"},
                "extra_resource_limits": {GPU_RESOURCE: "1"},
                "tolerations": [{"key": gpu.taint_key, "operator": "Equal", "value": gpu.taint_value,
                                 "effect": gpu.taint_effect}],
                "node_selector": dict(gpu.node_labels),
            },
        })
    return {
        "hub": {
            "config": {"JupyterHub": {"authenticator_class": AUTHENTICATORS[authenticator],
                                      "active_server_limit": max_users}},
            "resources": kw.resources("500m", "1Gi"),
            "networkPolicy": {"enabled": True},
        },
        "proxy": {
            # Published by an ingress or load balancer decided per site, not by the chart.
            "service": {"type": "ClusterIP"},
            "chp": {"resources": kw.resources("200m", "256Mi"), "networkPolicy": {"enabled": True}},
        },
        "singleuser": {
            "image": {"name": NOTEBOOK_IMAGE[0], "tag": NOTEBOOK_IMAGE[1]},
            "storage": {"type": "dynamic", "capacity": f"{user_storage_gb}Gi"},
            # The network policy already blocks the cloud metadata server; the chart's iptables
            # init container would need privileges the namespace's pod security level refuses.
            "cloudMetadata": {"blockWithIptables": False},
            "extraEnv": extra_env,
            "networkPolicy": {"enabled": True, "egress": egress},
            "profileList": profiles,
        },
        "scheduling": {"userScheduler": {"enabled": full}, "userPlaceholder": {"enabled": False}},
        "prePuller": {"hook": {"enabled": False}, "continuous": {"enabled": full}},
        "cull": {"enabled": True, "timeout": 3600},
    }
