"""Run the CrossGuard policy pack over a planned resource graph, the way the Pulumi CLI does.

`pulumi preview --policy-pack policies` starts the pack as a plugin process,
`python -u -m pulumi.policy <engine address> .` in the pack's directory; the pack serves
Pulumi's Analyzer gRPC service on a loopback port and prints that port on stdout. The CLI
then asks it for its policies (`GetAnalyzerInfo`), sends the stack (`ConfigureStack`) and
the policy configuration (`Configure`), and finally the resources. This module does the
same, so that `multidc plan` and a real preview run the same pack code on the same data.

What the engine sends, and so what we send (pulumi/pulumi: `pkg/resource/deploy/
step_generator.go` and `sdk/go/common/resource/plugin/analyzer_plugin.go`):

- `Analyze` once per registered resource -- custom resources, providers and components
  alike -- with its *inputs* (for a Python component: the `props` it passed to
  `super().__init__`), its options and its provider.
- `AnalyzeStack` once, with every resource's *outputs*, parent and dependencies. A
  component's outputs are what it passed to `register_outputs`, nothing else.
- Secrets as Pulumi secret values (the special-signature object), unknowns as the
  unknown sentinel, and no internal keys (those starting with `__`, e.g. the pickled
  `__provider` of a dynamic resource).

`pulumi.policy` parses the engine address but never connects to it (pulumi 3.272), and the
pack's logging goes to its stderr, so no engine service is started here; stderr is kept
and shown when the pack fails.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

import grpc
import jsonschema
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from multidc import project
from multidc.plan.capture import UNKNOWN_MASK
from multidc.plan.graph import SECRET_MASK, Node, ResourceGraph


# The engine address the CLI passes as the first argument; pulumi.policy never dials it.
_UNUSED_ENGINE_ADDRESS = "127.0.0.1:0"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_MAX_MESSAGE = 400 * 1024 * 1024  # the limit the pack's own server sets
_CHANNEL_OPTIONS = [("grpc.max_send_message_length", _MAX_MESSAGE),
                    ("grpc.max_receive_message_length", _MAX_MESSAGE)]
_LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
_LEVEL_CODES = {name: code for code, name in _LEVELS.items()}
_POLICY_ID = re.compile(r"^(mdc-[a-z0-9]+-\d{3})(?:-|$)")


class PolicyPackError(RuntimeError):
    """The pack could not be started or answered with an error; the message says which and why."""


class PolicyConfigError(ValueError):
    """A policy configuration that the pack's schemas reject; the message names each problem."""


def policy_id(policy_name: str) -> str:
    """The stable ID carried at the start of a policy's name: 'mdc-dr-002-site-distance' -> 'MDC-DR-002'."""
    match = _POLICY_ID.match(policy_name)
    return match.group(1).upper() if match else policy_name


@dataclass(frozen=True)
class PolicyInfo:
    """One policy of the pack as the pack describes it, with its effective enforcement."""

    name: str
    description: str
    enforcement: str  # advisory, mandatory, remediate or disabled, after configuration
    kind: str  # resource or stack

    @property
    def policy_id(self) -> str:
        return policy_id(self.name)


@dataclass(frozen=True)
class Violation:
    """One violation: which policy, how hard it binds, on which resource, and why."""

    policy_id: str
    policy_name: str
    enforcement: str
    urn: Optional[str]  # None: the stack as a whole
    message: str


@dataclass(frozen=True)
class PolicySummary:
    policies_run: int
    passed: int
    advisory_violations: int
    mandatory_violations: int


@dataclass(frozen=True)
class PolicyReport:
    """The verdict of one policy pack over one stack's resource graph."""

    pack: str
    version: str
    stack: str
    policies: tuple[PolicyInfo, ...]
    violations: tuple[Violation, ...]
    seconds: float = field(compare=False)

    @property
    def summary(self) -> PolicySummary:
        run = [p for p in self.policies if p.enforcement != "disabled"]
        failed = {v.policy_name for v in self.violations}
        return PolicySummary(
            policies_run=len(run),
            passed=sum(1 for p in run if p.name not in failed),
            advisory_violations=sum(1 for v in self.violations if v.enforcement == "advisory"),
            mandatory_violations=sum(1 for v in self.violations if v.enforcement == "mandatory"),
        )

    @property
    def ok(self) -> bool:
        """True when no mandatory policy is violated: the deployment may go ahead."""
        return self.summary.mandatory_violations == 0

    def to_json(self) -> dict[str, Any]:
        summary = self.summary
        return {
            "pack": self.pack, "version": self.version, "stack": self.stack, "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "summary": {"policies_run": summary.policies_run, "passed": summary.passed,
                        "advisory_violations": summary.advisory_violations,
                        "mandatory_violations": summary.mandatory_violations},
            "policies": [{"id": p.policy_id, "name": p.name, "description": p.description,
                          "enforcement": p.enforcement, "kind": p.kind} for p in self.policies],
            "violations": [{"id": v.policy_id, "policy": v.policy_name, "enforcement": v.enforcement,
                            "urn": v.urn, "message": v.message} for v in self.violations],
        }


# --- policy configuration: the format of `pulumi preview --policy-pack-config` --------------

def load_policy_config(path: Path) -> dict[str, Any]:
    """Read a policy-config JSON file: `{"<policy name>": "<level>" | {"enforcementLevel": ..., "<param>": ...}}`."""
    try:
        data = json.loads(path.read_text() or "{}")
    except FileNotFoundError:
        raise PolicyConfigError(f"{path}: no such policy config file") from None
    except json.JSONDecodeError as error:
        raise PolicyConfigError(f"{path}: not valid JSON ({error}); write an object keyed by policy name") from None
    if not isinstance(data, dict):
        raise PolicyConfigError(f"{path}: expected a JSON object keyed by policy name, got {type(data).__name__}")
    return data


def _parse_given(config: Mapping[str, Any]) -> dict[str, tuple[Optional[str], dict[str, Any]]]:
    """Each entry as (enforcement level or None, properties), rejecting what the CLI rejects."""
    parsed: dict[str, tuple[Optional[str], dict[str, Any]]] = {}
    for name, value in config.items():
        if isinstance(value, str):
            level, props = value, {}
        elif isinstance(value, dict):
            props = dict(value)
            level = props.pop("enforcementLevel", None)
        else:
            raise PolicyConfigError(f"policy config '{name}': {value!r} must be an enforcement level or an object")
        if level is not None and level not in _LEVEL_CODES:
            raise PolicyConfigError(f"policy config '{name}': enforcementLevel {level!r} is not one of "
                                    f"{', '.join(_LEVEL_CODES)}")
        parsed[name] = (level, props)
    return parsed


def reconcile_config(info: analyzer_pb2.AnalyzerInfo,
                     config: Optional[Mapping[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
    """The configuration the CLI would send: schema defaults, then the pack's initial config,
    then the user's (`all` first, then per policy), validated against each policy's schema."""
    result: dict[str, tuple[str, dict[str, Any]]] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for policy in info.policies:
        schema = json_format.MessageToDict(policy.configSchema, preserving_proto_field_name=True)
        properties = schema.get("properties", {})
        schemas[policy.name] = {"type": "object", "properties": properties,
                                **({"required": schema["required"]} if schema.get("required") else {})}
        defaults = {key: spec["default"] for key, spec in properties.items() if "default" in spec}
        result[policy.name] = (_LEVELS[policy.enforcementLevel], defaults)

    initial = {name: (_LEVELS[c.enforcementLevel], json_format.MessageToDict(c.properties))
               for name, c in info.initialConfig.items()}
    given = _parse_given(config or {})
    unknown = sorted(set(given) - set(result) - {"all"})
    if unknown:
        raise PolicyConfigError(
            f"policy config names {', '.join(repr(u) for u in unknown)}, not a policy of pack '{info.name}'; "
            f"known policies: {', '.join(sorted(result))}")
    for layer in (initial, given):
        all_level = layer.get("all", (None, {}))[0]
        if all_level is not None:
            result = {name: (all_level, props) for name, (_, props) in result.items()}
        for name, (level, props) in layer.items():
            if name == "all":
                continue
            current_level, current_props = result[name]
            result[name] = (level or current_level, {**current_props, **props})

    problems = []
    for name, (_, props) in result.items():
        validator = jsonschema.Draft7Validator(schemas[name])
        for error in sorted(validator.iter_errors(props), key=lambda e: list(e.path)):
            where = ".".join(str(p) for p in error.path) or "(config)"
            problems.append(f"{name}.{where}: {error.message}")
    if problems:
        raise PolicyConfigError("policy config rejected by the pack's schemas:\n  " + "\n  ".join(problems))
    return result


# --- properties as the engine marshals them ------------------------------------------------

def _engine_value(value: Any) -> Any:
    """Graph data -> what the engine puts on the wire: secrets wrapped, unknowns as the sentinel,
    internal `__` keys dropped."""
    if isinstance(value, dict):
        return {k: _engine_value(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, (list, tuple)):
        return [_engine_value(v) for v in value]
    if value == SECRET_MASK:
        return {rpc._special_sig_key: _SECRET_SIG, "value": SECRET_MASK}
    if value == UNKNOWN_MASK:
        return rpc.UNKNOWN
    return value


def _struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(_engine_value(dict(props)))
    return struct


class AnalyzerMessages:
    """The analyzer requests for one graph, built as the engine builds them (providers looked up once)."""

    def __init__(self, graph: ResourceGraph):
        self.graph = graph
        self._by_urn = {node.urn: node for node in graph}

    def options(self, node: Node) -> analyzer_pb2.AnalyzerResourceOptions:
        return analyzer_pb2.AnalyzerResourceOptions(
            parent=node.parent or "",
            additionalSecretOutputs=list(node.secret_outputs),
            customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(),
        )

    def provider(self, node: Node) -> Optional[analyzer_pb2.AnalyzerProviderResource]:
        provider = self._by_urn.get(node.provider) if node.provider else None
        if provider is None:
            return None
        return analyzer_pb2.AnalyzerProviderResource(
            urn=provider.urn, type=provider.type, name=provider.name, properties=_struct(provider.inputs))

    def analyze_request(self, node: Node) -> analyzer_pb2.AnalyzeRequest:
        return analyzer_pb2.AnalyzeRequest(
            urn=node.urn, type=node.type, name=node.name, properties=_struct(node.inputs),
            options=self.options(node), provider=self.provider(node))

    def stack_request(self) -> analyzer_pb2.AnalyzeStackRequest:
        return analyzer_pb2.AnalyzeStackRequest(resources=[
            analyzer_pb2.AnalyzerResource(
                urn=node.urn, type=node.type, name=node.name, properties=_struct(node.outputs),
                options=self.options(node), provider=self.provider(node), parent=node.parent or "",
                dependencies=list(node.dependencies))
            for node in self.graph
        ])


# --- the pack process ------------------------------------------------------------------------

class PolicyPackProcess:
    """One running policy pack, configured once, that can check several graphs.

    Use as a context manager; the process is always stopped on exit (SIGTERM, then SIGKILL
    after `stop_timeout` seconds).
    """

    def __init__(self, pack_dir: Optional[Path] = None, config: Optional[Mapping[str, Any]] = None, *,
                 python: str = sys.executable, start_timeout: float = 60.0, call_timeout: float = 600.0,
                 stop_timeout: float = 5.0):
        self.pack_dir = Path(pack_dir) if pack_dir is not None else project.policies_dir()
        self.config = config
        self.python = python
        self.start_timeout = start_timeout
        self.call_timeout = call_timeout
        self.stop_timeout = stop_timeout
        self._process: Optional[subprocess.Popen] = None
        self._channel: Optional[grpc.Channel] = None
        self._stub: Optional[analyzer_pb2_grpc.AnalyzerStub] = None
        self._stderr: list[str] = []
        self._stderr_pump: Optional[threading.Thread] = None
        self.info: Optional[analyzer_pb2.AnalyzerInfo] = None
        self.version = ""
        self.policies: tuple[PolicyInfo, ...] = ()

    def __enter__(self) -> "PolicyPackProcess":
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    def _start(self) -> None:
        if not (self.pack_dir / "PulumiPolicy.yaml").is_file():
            raise PolicyPackError(f"{self.pack_dir}: no PulumiPolicy.yaml; pass the directory of a CrossGuard pack "
                                  "(the default is the project's policies/)")
        self._process = subprocess.Popen(
            [self.python, "-u", "-m", "pulumi.policy", _UNUSED_ENGINE_ADDRESS, "."],
            cwd=self.pack_dir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        port = self._read_port()
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=_CHANNEL_OPTIONS)
        try:
            grpc.channel_ready_future(self._channel).result(timeout=self.start_timeout)
        except grpc.FutureTimeoutError:
            raise self._failure(f"did not accept connections on 127.0.0.1:{port} within {self.start_timeout:.0f} s")
        self._stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        self.info = self._call("GetAnalyzerInfo", empty_pb2.Empty())
        reconciled = reconcile_config(self.info, self.config)
        self._call("Configure", analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
            name: analyzer_pb2.PolicyConfig(enforcementLevel=_LEVEL_CODES[level], properties=_struct(props))
            for name, (level, props) in reconciled.items()
        }))
        # As the CLI does: the version in PulumiPolicy.yaml wins over the one the pack reports.
        project = yaml.safe_load((self.pack_dir / "PulumiPolicy.yaml").read_text()) or {}
        self.version = str(project.get("version") or self.info.version)
        kinds = {analyzer_pb2.POLICY_TYPE_RESOURCE: "resource", analyzer_pb2.POLICY_TYPE_STACK: "stack"}
        self.policies = tuple(
            PolicyInfo(name=p.name, description=p.description, enforcement=reconciled[p.name][0],
                       kind=kinds.get(p.policy_type, "unknown"))
            for p in self.info.policies)

    def _read_port(self) -> int:
        """Drain stdout and stderr on threads (a full pipe would block the pack); the first stdout line is the port."""
        lines: "queue.Queue[Optional[str]]" = queue.Queue()

        def pump(stream: Any, sink: Any, at_end: Any = None) -> None:
            for line in stream:
                sink(line)
            if at_end is not None:
                at_end()

        process = self._process
        threading.Thread(target=pump, args=(process.stdout, lines.put, lambda: lines.put(None)), daemon=True).start()
        self._stderr_pump = threading.Thread(target=pump, args=(process.stderr, self._stderr.append), daemon=True)
        self._stderr_pump.start()
        try:
            first = lines.get(timeout=self.start_timeout)
        except queue.Empty:
            raise self._failure(f"printed no port within {self.start_timeout:.0f} s") from None
        if first is None or not first.strip().isdigit():
            self._process.wait(timeout=self.stop_timeout)
            raise self._failure(f"exited or printed {first!r} instead of its port")
        return int(first)

    def _failure(self, what: str) -> PolicyPackError:
        if self._process is not None and self._process.poll() is not None and self._stderr_pump is not None:
            self._stderr_pump.join(timeout=self.stop_timeout)  # the pack has exited: read its last words
        tail = "".join(self._stderr[-30:]).strip()
        return PolicyPackError(
            f"policy pack {self.pack_dir} {what}." + (f"\nIts stderr:\n{tail}" if tail else "")
            + f"\nCheck that the pack runs with `cd {self.pack_dir} && python -m pulumi.policy 127.0.0.1:0 .` "
              "in an environment with its requirements.txt installed.")

    def _call(self, rpc_name: str, request: Any, about: str = "") -> Any:
        method = getattr(self._stub, rpc_name)
        try:
            return method(request, timeout=self.call_timeout)
        except grpc.RpcError as error:
            subject = f" on {about}" if about else ""
            raise self._failure(f"failed {rpc_name}{subject}: {error.code().name} {error.details()}") from None

    def analyze(self, graph: ResourceGraph) -> PolicyReport:
        """Analyze every resource, then the whole stack, and collect the verdict."""
        if self._channel is None or self.info is None:
            raise PolicyPackError("the policy pack is not running; use PolicyPackProcess as a context manager")
        started = time.perf_counter()
        self._call("ConfigureStack", analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=graph.stack, project=graph.project, dry_run=True))
        wire = AnalyzerMessages(graph)
        violations: list[Violation] = []
        for node in graph:
            response = self._call("Analyze", wire.analyze_request(node), about=node.urn)
            # The engine attributes every resource diagnostic to the resource analyzed.
            violations.extend(self._violations(response, urn=node.urn))
        response = self._call("AnalyzeStack", wire.stack_request())
        violations.extend(self._violations(response, urn=None))
        return PolicyReport(pack=self.info.name, version=self.version, stack=graph.stack,
                            policies=self.policies, violations=tuple(violations),
                            seconds=time.perf_counter() - started)

    @staticmethod
    def _violations(response: analyzer_pb2.AnalyzeResponse, urn: Optional[str]) -> Iterator[Violation]:
        for diagnostic in response.diagnostics:
            message = diagnostic.message
            # pulumi_policy prefixes the policy's description; keep only what the policy said.
            if diagnostic.description and message.startswith(diagnostic.description):
                message = message[len(diagnostic.description):].lstrip("\n") or diagnostic.description
            yield Violation(
                policy_id=policy_id(diagnostic.policyName), policy_name=diagnostic.policyName,
                enforcement=_LEVELS[diagnostic.enforcementLevel], urn=urn or diagnostic.urn or None,
                message=message)

    @property
    def pid(self) -> Optional[int]:
        """The pack's process ID while it runs."""
        return self._process.pid if self._process is not None else None

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=self.stop_timeout)


def run_policy_pack(graph: ResourceGraph, pack_dir: Optional[Path] = None,
                    config: Optional[Mapping[str, Any]] = None) -> PolicyReport:
    """Start the pack, configure it, analyze `graph` as `pulumi preview --policy-pack` would, stop it.

    `config` has the format of `--policy-pack-config` (see `load_policy_config`).
    Raises PolicyConfigError for a configuration the pack's schemas reject and
    PolicyPackError when the pack cannot be started or fails.
    """
    with PolicyPackProcess(pack_dir, config) as pack:
        return pack.analyze(graph)
