"""``--export-manifests DIR``: what the toolkit renders into each cluster, as reviewable YAML.

From the captured graph (never from the program), one file per Kubernetes object the
toolkit writes itself and one per Helm release (chart, repository, version and the values
it is installed with), laid out as::

    DIR/<site>/<cluster>/<namespace>/<Kind>-<name>.yaml
    DIR/<site>/<cluster>/<namespace>/HelmRelease-<name>.yaml

``<cluster>`` is the KubernetesCluster component that owns the provider (two clusters in one
site keep apart), ``_cluster`` stands for cluster-scoped objects. Pulumi secrets stay
masked: a Secret is written without its data and says so; nothing secret reaches the disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import yaml

from multidc.plan.graph import SECRET_MASK, Node, ResourceGraph

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
CLUSTER_SCOPED = "_cluster"
_KUBERNETES = "kubernetes:"
_TOP_KEYS = ("apiVersion", "kind", "metadata")


class ManifestExportError(RuntimeError):
    """The export cannot be written as asked; the message names the directory or object and the fix."""


def _normalised(value: Any) -> Any:
    """Keys sorted (two exports of one plan diff cleanly) and integral floats made integers:
    numbers arrive from the engine as floats (protobuf Struct), Kubernetes wants integers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _normalised(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_normalised(item) for item in value]
    return value


def manifest(node: Node) -> dict[str, Any]:
    """The Kubernetes object a ``kubernetes:*`` node declares, as it would be applied."""
    inputs = _normalised(node.inputs)
    document = {key: inputs[key] for key in _TOP_KEYS if key in inputs}
    document.setdefault("metadata", {})
    # A value masked as a whole (a Secret's data) is left out; nested masks stay visible.
    document.update({key: value for key, value in inputs.items() if key not in _TOP_KEYS and value != SECRET_MASK})
    return document


def release(node: Node) -> dict[str, Any]:
    """A Helm release: which chart from where, at which version, with which values."""
    inputs = _normalised(node.inputs)
    return {
        "name": inputs.get("name", node.name),
        "namespace": inputs.get("namespace"),
        "chart": inputs.get("chart"),
        "repository": (inputs.get("repositoryOpts") or {}).get("repo"),
        "version": inputs.get("version"),
        "values": inputs.get("values", {}),
    }


def _cluster(node: Node, graph: ResourceGraph) -> str:
    """The component that owns the node's provider (the cluster), else the provider's name."""
    if node.provider is None:
        return "_no-provider"
    try:
        provider = graph.by_urn(node.provider)
        owner = graph.by_urn(provider.parent) if provider.parent else None
    except KeyError:
        return node.provider.rsplit("::", 1)[-1]
    if owner is not None and owner.is_component and owner.type.startswith("multidc:"):
        return owner.name
    return provider.name


def _path(directory: Path, node: Node, graph: ResourceGraph, kind: str, name: str,
          namespace: Optional[str]) -> Path:
    site = node.site or "_no-site"
    return directory / site / _cluster(node, graph) / (namespace or CLUSTER_SCOPED) / f"{kind}-{name}.yaml"


def _text(node: Node, document: dict[str, Any]) -> str:
    """The YAML of ``document`` under a header naming its resource and what is withheld."""
    body = yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    header = [f"# {node.urn}"]
    withheld = [key for key in node.secret_inputs if node.inputs.get(key) == SECRET_MASK]
    if withheld:
        header.append(f"# not exported, Pulumi secrets: {', '.join(withheld)}")
    if SECRET_MASK in body:
        header.append(f"# values shown as {SECRET_MASK} are Pulumi secrets")
    return "\n".join(header) + "\n" + body


def export_manifests(graph: ResourceGraph, directory: Path) -> list[Path]:
    """Write every Kubernetes object and Helm release of ``graph`` under ``directory``.

    ``directory`` must be new or empty, so an export never mixes with an older one. Returns
    the files written, in graph order.
    """
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ManifestExportError(
            f"{directory}: the manifest export writes into a new or empty directory so that no file from "
            "an earlier export is mistaken for part of this plan; give another path or empty this one")
    planned: dict[Path, tuple[Node, str]] = {}
    for node in graph:
        if not node.type.startswith(_KUBERNETES) or not node.custom:
            continue
        if node.type == RELEASE_TYPE:
            document = release(node)
            path = _path(directory, node, graph, "HelmRelease", document["name"], document["namespace"])
        else:
            document = manifest(node)
            metadata = document["metadata"]
            name = metadata.get("name") or node.name
            path = _path(directory, node, graph, document.get("kind", node.type.rsplit(":", 1)[-1]), name,
                         metadata.get("namespace"))
        if path in planned:
            raise ManifestExportError(
                f"{node.urn} and {planned[path][0].urn} are both {path.relative_to(directory)}: one cluster "
                "cannot hold two objects of one kind and name in one namespace; rename one of them")
        planned[path] = (node, _text(node, document))
    for path, (_, text) in planned.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(planned)
