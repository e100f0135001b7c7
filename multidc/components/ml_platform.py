"""The ML platform of one site: JupyterHub, MLflow, served models and Spark on Kubernetes.

Training reads data where it runs. In the default active-passive placement that is the
secondary site (``Platform.ml_site``), so every dataset endpoint the platform receives is
the replica in its own site and production is never loaded by training ("ML on replicas").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from multidc.spec import System

Scale = Literal["full", "warm-standby"]


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
    ``site`` of the systems listed in ``system.ml.datasets``.
    """

    system: System
    site: str
    scale: Scale
    provider: k8s.Provider
    gpu: Optional[GpuScheduling] = None
    mlflow_db: Optional[PostgresConnection] = None
    artifacts: Optional[S3BucketAccess] = None
    datasets: tuple[Dataset, ...] = ()
