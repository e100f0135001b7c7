"""The offline plan: run the real Pulumi program through the Pulumi SDK with mocks.

No cloud and no Pulumi CLI are needed. The program registers its resources exactly as
it would under `pulumi up`; a capturing resource monitor records every registration
(type, name, parent, provider, dependencies, inputs) and the mocks answer with
plausible computed outputs (IDs, addresses, kubeconfigs) so that every `apply` runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import uuid
from typing import Any, Callable, Optional

from google.protobuf import json_format
import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_pulumi_func

from multidc.plan.graph import SECRET_MASK, Node, ResourceGraph
from multidc.spec import CONFIG_KEY, Platform

PROJECT = "multidc"
UNKNOWN_MASK = "[unknown]"


def _stable(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _fake_ip(seed: str, network: str = "10.255.0.0/16") -> str:
    net = ipaddress.IPv4Network(network)
    offset = int(_stable(seed)[:8], 16) % (net.num_addresses - 2) + 1
    return str(net.network_address + offset)


def _kubeconfig(cluster: str, host: str) -> str:
    return "\n".join([
        "apiVersion: v1", "kind: Config", "clusters:",
        f"- name: {cluster}", "  cluster:", f"    server: https://{host}:6443",
        "    certificate-authority-data: TU9DSy1DQQ==", "users:",
        f"- name: {cluster}-admin", "  user:", "    client-certificate-data: TU9DSy1DRVJU",
        "    client-key-data: TU9DSy1LRVk=", "contexts:", f"- name: {cluster}",
        "  context:", f"    cluster: {cluster}", f"    user: {cluster}-admin", f"current-context: {cluster}", "",
    ])


class PlanMocks(pulumi_mocks.Mocks):
    """Plausible computed outputs for the resource types multidc declares.

    Servers get addresses inside their own subnet, so a plan shows which site an
    endpoint is in (subnets register before the servers that wait on their network).
    """

    def __init__(self) -> None:
        self._subnet_of_network: dict[str, str] = {}
        self._cidr_of_subnet: dict[str, str] = {}

    def _address(self, seed: str, networks: Any) -> str:
        uuids = [n.get("uuid") for n in networks if isinstance(n, dict)] if isinstance(networks, list) else []
        cidr = next((self._subnet_of_network[u] for u in uuids if u in self._subnet_of_network), None)
        return _fake_ip(seed, cidr) if cidr else _fake_ip(seed)

    def _subnet_cidr(self, subnet_id: Any) -> str:
        return self._cidr_of_subnet.get(subnet_id, "10.255.0.0/16")

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[Optional[str], dict]:
        seed = f"{args.typ}/{args.name}"
        resource_id = str(uuid.UUID(_stable(seed)[:32]))
        state = dict(args.inputs)
        typ = args.typ
        if typ == "openstack:networking/subnet:Subnet" and isinstance(args.inputs.get("cidr"), str):
            self._subnet_of_network.setdefault(args.inputs.get("networkId"), args.inputs["cidr"])
            self._cidr_of_subnet[resource_id] = args.inputs["cidr"]
        if typ == "random:index/randomPassword:RandomPassword":
            state["result"] = _stable("password", seed)[: int(args.inputs.get("length", 32))]
            state["bcryptHash"] = "$2a$10$" + _stable("bcrypt", seed)[:53]
        elif typ == "openstack:containerinfra/cluster:Cluster":
            host = _fake_ip(seed)
            state.update(apiAddress=f"https://{host}:6443", masterAddresses=[host],
                         # A map output: its keys are the provider schema's, not camelCase.
                         kubeconfig={"raw_config": _kubeconfig(args.name, host), "host": f"https://{host}:6443",
                                     "cluster_ca_certificate": "MOCK-CA", "client_certificate": "MOCK-CERT",
                                     "client_key": "MOCK-KEY"})
        elif typ == "openstack:compute/instance:Instance":
            state.setdefault("accessIpV4", self._address(seed, args.inputs.get("networks")))
        elif typ == "openstack:database/instance:Instance":
            state.setdefault("addresses", [self._address(seed, args.inputs.get("networks"))])
        elif typ == "openstack:networking/router:Router":
            state.setdefault("externalFixedIps", [{"ipAddress": _fake_ip(seed, "203.0.113.0/24")}])
            state.setdefault("externalGateway", state.get("externalNetworkId", "ext-net"))
        elif typ == "openstack:vpnaas/service:Service":
            state.setdefault("externalV4Ip", _fake_ip(seed, "203.0.113.0/24"))
        elif typ == "openstack:identity/ec2CredentialV3:Ec2CredentialV3":
            state.update(access=_stable("access", seed)[:20].upper(), secret=_stable("secret", seed)[:40])
        elif typ == "openstack:dns/recordSet:RecordSet":
            state.setdefault("ttl", 60)
        elif typ == "openstack:loadbalancer/loadBalancer:LoadBalancer":
            state.setdefault("vipAddress", _fake_ip(seed, self._subnet_cidr(args.inputs.get("vipSubnetId"))))
            state.setdefault("vipPortId", str(uuid.UUID(_stable("vip-port", seed)[:32])))
        elif typ == "openstack:networking/port:Port":
            subnets = [ip.get("subnetId") for ip in args.inputs.get("fixedIps") or [] if isinstance(ip, dict)]
            state.setdefault("allFixedIps", [_fake_ip(seed, self._subnet_cidr(subnets[0] if subnets else None))])
        elif typ == "openstack:networking/floatingIp:FloatingIp":
            state.setdefault("address", _fake_ip(seed, "198.51.100.0/24"))
        state.setdefault("id", resource_id)
        return resource_id, state

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict:
        result = dict(args.args)
        result.setdefault("id", str(uuid.UUID(_stable(args.token, json.dumps(args.args, sort_keys=True,
                                                                              default=str))[:32])))
        if args.token.startswith("openstack:networking/getNetwork"):
            result.setdefault("name", args.args.get("name", "ext-net"))
            result.setdefault("external", True)
        return result


def _plain(value: Any, secret_paths: set[str], path: str = "") -> Any:
    """Turn deserialized-from-protobuf JSON into plain data, masking secrets and unknowns."""
    if isinstance(value, dict):
        sig = value.get(rpc._special_sig_key)
        if sig == rpc._special_secret_sig:
            secret_paths.add(path.split(".")[0])
            return SECRET_MASK
        if sig == rpc._special_resource_sig:
            return {"urn": value.get("urn"), "id": value.get("id")}
        if sig == rpc._special_output_value_sig:
            if value.get("secret"):
                secret_paths.add(path.split(".")[0])
                return SECRET_MASK
            return _plain(value.get("value", UNKNOWN_MASK), secret_paths, path)
        if sig is not None:
            return {k: v for k, v in value.items() if k != rpc._special_sig_key}
        return {k: _plain(v, secret_paths, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, secret_paths, path) for v in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN_MASK
    return value


class CapturingMonitor(pulumi_mocks.MockMonitor):
    """A mock resource monitor that also records every registration as it arrives."""

    def __init__(self, mocks: pulumi_mocks.Mocks):
        super().__init__(mocks)
        self.registrations: list[dict[str, Any]] = []
        self.stack_urn: Optional[str] = None
        self.stack_outputs: dict[str, Any] = {}
        self._by_urn: dict[str, dict[str, Any]] = {}

    def RegisterResource(self, request):
        if request.type == "pulumi:pulumi:Stack":
            response = super().RegisterResource(request)
            self.stack_urn = response.urn
            return response
        urn = self.make_urn(request.parent, request.type, request.name)
        _ensure_event_loop()
        secret_inputs: set[str] = set()
        inputs = _plain(json_format.MessageToDict(request.object), secret_inputs)
        id_, state = None, {}
        if request.custom:
            id_, state = self.mocks.new_resource(pulumi_mocks.MockResourceArgs(
                typ=request.type, name=request.name, inputs=rpc.deserialize_properties(request.object),
                provider=request.provider, resource_id=request.importId, custom=True))
        # The engine, not the SDK, keeps outputs secret: those named in
        # additionalSecretOutputs and those fed from a secret input. Do as it does, so a
        # plan shows what a real deployment would keep secret.
        hidden = set(request.additionalSecretOutputs) | secret_inputs
        wrapped = {k: ({rpc._special_sig_key: rpc._special_secret_sig, "value": v} if k in hidden else v)
                   for k, v in state.items()}
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, id_, state)
        record = {
            "urn": urn, "type": request.type, "name": request.name, "custom": bool(request.custom),
            "parent": request.parent or None,
            "provider": request.provider.rsplit("::", 1)[0] if request.provider else None,
            "dependencies": tuple(dict.fromkeys(request.dependencies)), "inputs": inputs,
            "outputs": {k: (SECRET_MASK if k in hidden else v)
                        for k, v in _plain(json.loads(json.dumps(state, default=str)), set()).items()},
            "secret_inputs": tuple(sorted(secret_inputs)), "id": id_,
            "secret_outputs": tuple(request.additionalSecretOutputs),
        }
        self.registrations.append(record)
        self._by_urn[urn] = record
        return resource_pb2.RegisterResourceResponse(
            urn=urn, id=id_ or "", object=_sync_await(rpc.serialize_properties(wrapped, {})))


    def RegisterResourceOutputs(self, request):
        # A component's outputs reach the engine (and AnalyzeStack) only through this call.
        record = self._by_urn.get(request.urn)
        if request.urn == self.stack_urn:
            # The stack's exports (`pulumi.export`): what `pulumi stack output` shows, secrets masked.
            self.stack_outputs = _plain(json_format.MessageToDict(request.outputs), set())
        if record is not None:
            secret_outputs: set[str] = set()
            outputs = _plain(json_format.MessageToDict(request.outputs), secret_outputs)
            record["outputs"] = outputs
        return super().RegisterResourceOutputs(request)


def _attribute_sites(registrations: list[dict[str, Any]]) -> dict[str, Optional[str]]:
    """The site of each resource: its own `site` property, else its provider's, else its parent's."""
    by_urn = {r["urn"]: r for r in registrations}
    sites: dict[str, Optional[str]] = {}

    def site_of(urn: Optional[str], seen: frozenset = frozenset()) -> Optional[str]:
        if urn is None or urn not in by_urn or urn in seen:
            return None
        if urn in sites:
            return sites[urn]
        record = by_urn[urn]
        own = record["inputs"].get("site") if not record["custom"] else None
        found = own if isinstance(own, str) else (
            site_of(record["provider"], seen | {urn}) or site_of(record["parent"], seen | {urn}))
        sites[urn] = found
        return found

    for record in registrations:
        site_of(record["urn"])
    return sites


def _with_exports(program: Callable[[], None]) -> None:
    """Run ``program``, then register the root stack's exports as `pulumi up` does once a program ends.

    ``set_mocks`` finishes its root stack before the program runs, so ``pulumi.export`` calls
    would otherwise never reach the monitor (under the engine, ``run_in_stack`` registers them).
    """
    program()
    root = pulumi.runtime.get_root_resource()
    if root is not None and root.outputs:
        root.register_outputs(dict(root.outputs))


def run_under_mocks(program: Callable[[], None], stack: str, config: dict[str, Any],
                    monitor: pulumi_mocks.MockMonitor) -> None:
    """Run a Pulumi program to completion against a mock resource monitor."""
    # The SDK ties its pending registrations to the event loop current when they are
    # created, so the loop must exist before the mocks create the root stack resource.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        settings.reset_options(project=PROJECT, stack=stack, preview=False)
        settings.SETTINGS.rpc_manager.clear()
        settings.SETTINGS.outputs.clear()
        set_all_config({key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()})
        pulumi_mocks.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
        loop.run_until_complete(run_pulumi_func(lambda: _with_exports(program)))
    finally:
        asyncio.set_event_loop(None)
        loop.close()
        settings.reset_options()
        set_all_config({})


def run_program(program: Callable[[], None], stack: str, config: dict[str, Any]) -> ResourceGraph:
    """Run a Pulumi program under the capturing mocks and return what it registered."""
    monitor = CapturingMonitor(PlanMocks())
    run_under_mocks(program, stack, config, monitor)
    sites = _attribute_sites(monitor.registrations)
    nodes = tuple(Node(site=sites.get(r["urn"]), **r) for r in monitor.registrations)
    return ResourceGraph(stack=stack, project=PROJECT, nodes=nodes, outputs=monitor.stack_outputs)


def plan(platform: Platform, stack: Optional[str] = None) -> ResourceGraph:
    """Plan a validated platform offline: the same program `pulumi up` runs, under mocks."""
    from multidc import program

    config = {CONFIG_KEY: platform.model_dump(mode="json")}
    return run_program(program.main, stack or platform.name, config)
