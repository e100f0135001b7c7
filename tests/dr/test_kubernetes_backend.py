"""The Kubernetes backend against an API server that holds the Deployments the components declare.

The server (a small HTTP server speaking the apps/v1 endpoints the official client calls) is
loaded with kz-prod's planned almaty Deployments, labels and annotations as the components
export them; the assertions are on the state it holds after the step, and on which objects the
client's requests reached.
"""

import copy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from multidc import project
from multidc.contract import ANNOTATION_SERVING_REPLICAS, OUTPUTS_KEY
from multidc.dr.runbook import RunbookKind, build
from multidc.dr.states import NeedsOperator, NotApplicable
from multidc.ops.deployed import deployed
from multidc.ops.outputs import parse
from multidc.ops.wiring import backends

ITEM = re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+)/(scale|status)$")


class ApiServer(ThreadingHTTPServer):
    """Deployments by (namespace, name); a scale patch sets spec.replicas and, as a kubelet would
    once pods start, status.readyReplicas."""

    def __init__(self, deployments):
        super().__init__(("127.0.0.1", 0), Handler)
        self.deployments = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in deployments}
        self.patched = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/apis/apps/v1/deployments":
            wanted = dict(term.split("=", 1) for term in parse_qs(url.query)["labelSelector"][0].split(","))
            items = [d for d in self.server.deployments.values()
                     if wanted.items() <= d["metadata"].get("labels", {}).items()]
            return self._send(200, {"kind": "DeploymentList", "apiVersion": "apps/v1", "metadata": {},
                                    "items": items})
        match = ITEM.match(url.path)
        if match and match.group(3) == "status" and (match.group(1), match.group(2)) in self.server.deployments:
            return self._send(200, self.server.deployments[(match.group(1), match.group(2))])
        self._send(404, {"kind": "Status", "code": 404})

    def do_PATCH(self):
        match = ITEM.match(urlsplit(self.path).path)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = match and (match.group(1), match.group(2))
        if not match or match.group(3) != "scale" or key not in self.server.deployments:
            return self._send(404, {"kind": "Status", "code": 404})
        deployment = self.server.deployments[key]
        replicas = body["spec"]["replicas"]
        deployment["spec"]["replicas"] = replicas
        deployment["status"] = {"replicas": replicas, "readyReplicas": replicas}
        self.server.patched.append(key)
        self._send(200, {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": deployment["metadata"],
                         "spec": {"replicas": replicas}, "status": {"replicas": replicas}})


def _as_served(value):
    """Pulumi's plan carries every number as a float; an API server serves integers."""
    if isinstance(value, dict):
        return {k: _as_served(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_served(v) for v in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value


@pytest.fixture
def kz(planned):
    platform, graph = planned("kz-prod")
    declared = [_as_served(node.inputs) for node in graph.of_type("kubernetes:apps/v1:Deployment")
                if node.site == "almaty"]
    server = ApiServer(declared)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield platform, graph, server
    server.shutdown()
    server.server_close()


def _kubeconfig(server):
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "almaty",
        "clusters": [{"name": "almaty", "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"}}],
        "users": [{"name": "dr", "user": {"token": "test"}}],
        "contexts": [{"name": "almaty", "context": {"cluster": "almaty", "user": "dr"}}]})


def _run(platform, graph, server, system):
    document = copy.deepcopy(graph.outputs[OUTPUTS_KEY])
    for name in ("apps", "ml-k8s"):
        document["systems"][name]["placements"]["almaty"]["cluster"]["kubeconfig"] = _kubeconfig(server)
    outputs = parse(document, "test outputs")
    book = build(platform, deployed(outputs), RunbookKind.unplanned, "almaty")
    step = next(s for s in book.steps() if s.action == "k8s.scale" and s.system == system)
    return backends(platform, outputs, project.root())["k8s"].run(step)


def test_scale_reaches_exactly_the_ml_deployments_the_components_declare_at_their_serving_size(kz):
    platform, graph, server = kz
    declared = {(d["metadata"]["namespace"], d["metadata"]["name"]): int(d["metadata"]["annotations"]
                                                                           [ANNOTATION_SERVING_REPLICAS])
                for d in server.deployments.values() if d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "ml"}
    assert declared, "kz-prod declares ML deployments in almaty"
    detail = _run(platform, graph, server, "ml")
    assert sorted(server.patched) == sorted(declared), detail
    assert {key: server.deployments[key]["spec"]["replicas"] for key in declared} == declared
    assert "ready at full size" in detail


def test_a_system_with_no_declared_deployments_is_skipped_with_the_selector(kz):
    platform, graph, server = kz
    with pytest.raises(NotApplicable, match="app.kubernetes.io/part-of=apps"):
        _run(platform, graph, server, "apps")
    assert server.patched == []


def test_without_a_kubeconfig_in_the_outputs_the_step_needs_an_operator(kz):
    platform, graph, _ = kz
    outputs = parse(copy.deepcopy(graph.outputs[OUTPUTS_KEY]), "test outputs")
    book = build(platform, deployed(outputs), RunbookKind.unplanned, "almaty")
    step = next(s for s in book.steps() if s.action == "k8s.scale" and s.system == "ml")
    with pytest.raises(NeedsOperator, match="no kubeconfig"):
        backends(platform, outputs, project.root())["k8s"].run(step)
