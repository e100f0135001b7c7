"""The planned resource graph: what the Pulumi program registered, as plain frozen data.

Captured by the offline plan (`multidc.plan.capture`) from the same registrations a
real `pulumi up` sends to the engine. Policies, the resilience assessment and the
runbook read this graph; none of them reaches back into the program.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

SECRET_MASK = "[secret]"
COMPONENT_PREFIX = "multidc:"


@dataclass(frozen=True)
class Node:
    """One registered resource (custom, provider or component)."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: Optional[str] = None
    provider: Optional[str] = None  # the provider resource's URN; None for components
    dependencies: tuple[str, ...] = ()
    inputs: dict[str, Any] = field(default_factory=dict)  # secrets replaced by SECRET_MASK
    outputs: dict[str, Any] = field(default_factory=dict)  # as the (mock) engine returned them, masked
    secret_inputs: tuple[str, ...] = ()  # top-level input names whose value is a Pulumi secret
    secret_outputs: tuple[str, ...] = ()  # the additionalSecretOutputs resource option
    site: Optional[str] = None  # the site whose provider or component owns this resource
    id: Optional[str] = None

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")

    @property
    def is_component(self) -> bool:
        return not self.custom

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn, "type": self.type, "name": self.name, "custom": self.custom,
            "parent": self.parent, "provider": self.provider, "dependencies": list(self.dependencies),
            "site": self.site, "id": self.id, "inputs": self.inputs, "outputs": self.outputs,
            "secret_inputs": list(self.secret_inputs), "secret_outputs": list(self.secret_outputs),
        }


@dataclass(frozen=True)
class ResourceGraph:
    """Every node of one stack's plan, in registration order."""

    stack: str
    project: str
    nodes: tuple[Node, ...]
    outputs: dict[str, Any] = field(default_factory=dict)  # the stack's exports, secrets masked

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def by_urn(self, urn: str) -> Node:
        return self._index()[urn]

    def _index(self) -> dict[str, Node]:
        cached = self.__dict__.get("_index_cache")
        if cached is None:
            cached = {node.urn: node for node in self.nodes}
            object.__setattr__(self, "_index_cache", cached)
        return cached

    def of_type(self, *types: str) -> list[Node]:
        return [node for node in self.nodes if node.type in types]

    def components(self, type_: str) -> list[Node]:
        """Nodes of one multidc component type, e.g. 'multidc:database:ManagedDatabase'."""
        return [node for node in self.nodes if not node.custom and node.type == type_]

    def children(self, urn: str) -> list[Node]:
        return [node for node in self.nodes if node.parent == urn]

    def descendants(self, urn: str) -> list[Node]:
        found, frontier = [], [urn]
        while frontier:
            current = frontier.pop()
            for child in self.children(current):
                found.append(child)
                frontier.append(child.urn)
        return found

    def ancestors(self, node: Node) -> list[Node]:
        chain, index = [], self._index()
        parent = node.parent
        while parent and parent in index:
            chain.append(index[parent])
            parent = index[parent].parent
        return chain

    def counts_by_site(self) -> dict[str, Counter]:
        """Custom resources per site per type (providers and components left out)."""
        counts: dict[str, Counter] = {}
        for node in self.nodes:
            if node.custom and not node.is_provider:
                counts.setdefault(node.site or "(no site)", Counter())[node.type] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack, "project": self.project,
            "resources": [node.to_json() for node in self.nodes],
            "counts": {site: dict(sorted(c.items())) for site, c in self.counts_by_site().items()},
            "outputs": self.outputs,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ResourceGraph":
        nodes = tuple(
            Node(urn=r["urn"], type=r["type"], name=r["name"], custom=r["custom"], parent=r.get("parent"),
                 provider=r.get("provider"), dependencies=tuple(r.get("dependencies", ())),
                 inputs=r.get("inputs", {}), outputs=r.get("outputs", {}),
                 secret_inputs=tuple(r.get("secret_inputs", ())), secret_outputs=tuple(r.get("secret_outputs", ())),
                 site=r.get("site"), id=r.get("id"))
            for r in data["resources"]
        )
        return cls(stack=data["stack"], project=data["project"], nodes=nodes, outputs=data.get("outputs", {}))
