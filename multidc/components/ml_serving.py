"""Served models: each a Deployment + Service + HorizontalPodAutoscaler + PodDisruptionBudget
running multidc's model server (``multidc.serving``: MLflow's scoring protocol, ten times
``mlflow models serve``'s rate in ``benchmarks/serving.py``) from the image the spec names.

The model is downloaded through MLflow's artifact proxy; a warm standby declares the servers
at zero replicas (the count to scale to is in the ``multidc.io/serving-replicas`` annotation).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import pulumi
import pulumi_kubernetes as k8s

from multidc.components import k8s_workloads as kw
from multidc.components.ml_mlflow import MLFLOW_PORT, mlflow_selector
from multidc.contract import ANNOTATION_SERVING_REPLICAS
from multidc.spec import ServedModel
from multidc.spec.service_names import MODEL_PREFIX

MODEL_PORT = 8080
# Built from multidc/serving/Dockerfile by the user's CI; a served model's ``image`` overrides it.
SERVING_IMAGE = "multidc/model-server:0.1.0"
MODEL_STARTUP_SECONDS = 300  # the model is downloaded through MLflow before the first request
SERVING_REPLICAS_ANNOTATION = ANNOTATION_SERVING_REPLICAS


def model_selector(system: str, model: str) -> dict[str, str]:
    """The labels that select the servers of one served model."""
    return {"app.kubernetes.io/name": f"{MODEL_PREFIX}{model}", "app.kubernetes.io/instance": system}


def served_model_name(model: ServedModel) -> str:
    """The name of a served model's Deployment and Service: ``model-<name>``."""
    return f"{MODEL_PREFIX}{model.name}"


def model_endpoint(namespace: str, model: ServedModel) -> str:
    """A served model's REST endpoint inside the cluster (POST ``/invocations``)."""
    return f"http://{served_model_name(model)}.{namespace}.svc.cluster.local:{MODEL_PORT}"


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


def served_model(base: str, *, system: str, namespace: k8s.core.v1.Namespace, model: ServedModel,
                 tracking_uri: str, full: bool, opts: Callable[..., pulumi.ResourceOptions]) -> None:
    """The servers of ``model`` in ``namespace``, each resource named ``<base>-model-<name>*``;
    ``opts(**kwargs)`` gives each resource its own options."""
    name = served_model_name(model)
    role = f"{base}-{name}"
    selector = model_selector(system, model.name)
    labels = {**kw.labels(name, "model-server", system), **selector}
    ns = namespace.metadata.name
    deployment = kw.deployment(
        role, name=name, namespace=ns, selector=selector, pod_labels=labels,
        pod=kw.pod_spec([model_server_container(model, tracking_uri)]),
        # Full scale leaves the count to the autoscaler; a warm standby is held at zero.
        replicas=None if full else 0,
        annotations={ANNOTATION_SERVING_REPLICAS: str(model.min_replicas)}, opts=opts())
    kw.service(f"{role}-service", name=name, namespace=ns, selector=selector, port=MODEL_PORT,
               target_port=MODEL_PORT, service_labels=labels, opts=opts())
    kw.autoscaler(f"{role}-hpa", name=name, namespace=ns, deployment_name=name,
                  min_replicas=model.min_replicas, max_replicas=max(model.max_replicas, model.min_replicas),
                  opts=opts(depends_on=[deployment]))
    kw.disruption_budget(f"{role}-pdb", name=name, namespace=ns, selector=selector, opts=opts())
    mlflow_pods = mlflow_selector(system)
    kw.network_policy(
        f"{role}-netpol", name=name, namespace=ns, pod_selector=selector,
        # Clients are the applications in any namespace of the cluster.
        ingress=[{"from": [{"namespace_selector": {}}], "ports": [{"protocol": "TCP", "port": MODEL_PORT}]}],
        # The model comes through MLflow's artifact proxy; the server needs nothing else.
        egress=[kw.dns_egress(), {"to": [{"pod_selector": {"match_labels": mlflow_pods}}],
                                  "ports": [{"protocol": "TCP", "port": MLFLOW_PORT}]}],
        opts=opts())
