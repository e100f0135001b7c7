"""What ML training reads: each dataset's copy in the training site, as the platform passes it on.

A dataset is a bucket's replica or a database's read-only standby endpoint in the site the
ML platform trains in (``ml_scale``/``training_datasets`` in multidc.components.ml_platform
pick it); notebooks and Spark jobs find it in ``DATASET_<SYSTEM>_*`` environment variables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s


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


def bucket_url(bucket: S3BucketAccess) -> pulumi.Output[str]:
    """``<endpoint>/<bucket>``: where a bucket is, without its keys."""
    return pulumi.Output.concat(bucket.endpoint, "/", bucket.bucket)


def database_url(engine: str, host: Any, port: Any, dbname: Any = None) -> pulumi.Output[str]:
    """``<engine>://<host>:<port>/<dbname>``: where a database is, without its login."""
    return pulumi.Output.concat(engine, "://", host, ":", pulumi.Output.from_input(port).apply(str),
                                "/", dbname if dbname is not None else "")


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


def dataset_config(resource_name: str, namespace: k8s.core.v1.Namespace, plain: Mapping[str, pulumi.Input[str]],
                   secret: Mapping[str, pulumi.Input[str]], opts: Callable[[], pulumi.ResourceOptions]) -> None:
    """ConfigMap and Secret ``datasets``: every dataset's copy in this site, as environment
    variables (``envFrom`` them in Spark jobs; JupyterHub sets them in every notebook).
    ``opts`` gives each resource its own options."""
    k8s.core.v1.ConfigMap(f"{resource_name}-config",
                          metadata={"name": "datasets", "namespace": namespace.metadata.name},
                          data=dict(plain), opts=opts())
    k8s.core.v1.Secret(f"{resource_name}-secret",
                       metadata={"name": "datasets", "namespace": namespace.metadata.name},
                       type="Opaque", string_data=dict(secret), opts=opts())
