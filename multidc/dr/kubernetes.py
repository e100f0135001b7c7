"""`k8s.scale`: a warm standby's workloads scaled to full size, found by the labels the components emit.

The components label every workload of a system with `app.kubernetes.io/part-of=<system>` and
`app.kubernetes.io/managed-by=multidc` (`contract.system_selector`) and annotate it with its full
size (`contract.ANNOTATION_SERVING_REPLICAS`); a warm standby declares it at zero replicas. Node
groups are scaled by the pulumi step (the flipped spec declares the full count again).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping

from multidc.contract import ANNOTATION_SERVING_REPLICAS, system_selector

from .backends import Backend, BackendError
from .runbook import Step
from .states import NotApplicable

API_TIMEOUT_S = 30


@dataclass
class KubernetesBackend:
    """Scale each Deployment of a system in the step's site to its serving replicas and wait until they are ready.

    `kubeconfigs` maps (system, site) to the kubeconfig (a dict) of the cluster that runs the
    system's workloads there; steps without one go to `fallback` (it needs an operator).
    Atomic per Deployment (one patch of its scale subresource); idempotent (the same count
    again changes nothing); timeout `API_TIMEOUT_S` per API call and `ready_timeout` for the
    Deployments to report their ready count. Uses the official kubernetes client.
    """

    kubeconfigs: Mapping[tuple[str, str], dict[str, Any]]
    fallback: Backend
    ready_timeout: float = 600.0
    poll_s: float = 1.0

    def run(self, step: Step) -> str:
        kubeconfig = self.kubeconfigs.get((step.system, step.site))
        if kubeconfig is None:
            return self.fallback.run(step)
        from kubernetes import client as k8s, config  # imported here: only a cluster needs it

        apps = k8s.AppsV1Api(config.new_client_from_config_dict(kubeconfig))
        selector = system_selector(step.system)
        namespace = step.param("namespace")
        listed = (apps.list_namespaced_deployment(namespace, label_selector=selector, _request_timeout=API_TIMEOUT_S)
                  if namespace else
                  apps.list_deployment_for_all_namespaces(label_selector=selector, _request_timeout=API_TIMEOUT_S))
        if not listed.items:
            raise NotApplicable(f"no Deployment in {step.site} is labelled {selector}: {step.system} has no "
                                "workloads the components declare there")
        wanted = {}
        for deployment in listed.items:
            meta = deployment.metadata
            full = int((meta.annotations or {}).get(ANNOTATION_SERVING_REPLICAS, deployment.spec.replicas or 1))
            apps.patch_namespaced_deployment_scale(meta.name, meta.namespace, {"spec": {"replicas": full}},
                                                   _request_timeout=API_TIMEOUT_S)
            wanted[(meta.namespace, meta.name)] = full
        self._wait_ready(apps, wanted, step)
        return (f"{len(wanted)} deployment(s) of {step.system} in {step.site} ready at full size: "
                + ", ".join(f"{ns}/{name}={n}" for (ns, name), n in sorted(wanted.items())))

    def _wait_ready(self, apps: Any, wanted: dict[tuple[str, str], int], step: Step) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            short = {}
            for (namespace, name), full in wanted.items():
                status = apps.read_namespaced_deployment_status(name, namespace, _request_timeout=API_TIMEOUT_S).status
                ready = (status.ready_replicas or 0) if status else 0
                if ready < full:
                    short[f"{namespace}/{name}"] = f"{ready}/{full}"
            if not short:
                return
            if time.monotonic() >= deadline:
                raise BackendError(f"{step.system}@{step.site}: scaled, but not ready within {self.ready_timeout:.0f}s: "
                                   + ", ".join(f"{k} {v}" for k, v in short.items())
                                   + "; check the node group's size and the pods' events, then rerun")
            time.sleep(self.poll_s)
