"""The ML platform's endpoints as clients reach them: a VIP port of the stack's, a LoadBalancer Service
on it (cloud-provider-openstack builds the Octavia load balancer), a service name per endpoint pointing
where the platform runs full, private or public as declared."""

from __future__ import annotations

from types import SimpleNamespace

import pulumi_kubernetes as k8s
import pulumi_openstack as openstack

from multidc.components.ml_endpoints import MlEndpoints, MlEndpointsArgs
from multidc.contract import ANNOTATION_LB_INTERNAL, ANNOTATION_LB_PORT_ID, ML_ENDPOINTS, OUTPUTS_KEY, PRIVATE, PUBLIC
from multidc.plan.capture import run_program
from multidc.spec.service_names import Endpoint, ttl_for_rto

from conftest import component, descendant

PORT = "openstack:networking/port:Port"
SERVICE = "kubernetes:core/v1:Service"
FIP = "openstack:networking/floatingIp:FloatingIp"


def test_kz_prods_ml_endpoints_are_private_names_at_the_load_balancers_where_it_trains(graphs, specs):
    graph, platform = graphs["kz-prod"], specs["kz-prod"]
    ml = platform.system("ml")
    trains = platform.ml_site(ml)
    names = graph.outputs[OUTPUTS_KEY]["systems"]["ml"]["service_names"]
    assert [n["endpoint"] for n in names] == ["jupyterhub", "mlflow", "model-churn-60d"]
    for site in ml.sites:
        endpoints = component(graph, ML_ENDPOINTS, f"ml-{site}-endpoints")
        ports = {p.name: p for p in descendant(graph, endpoints, PORT)}
        for service in descendant(graph, endpoints, SERVICE):
            endpoint = service.inputs["metadata"]["name"][:-len("-lb")]
            port = ports[f"ml-{site}-endpoints-{endpoint}-vip"]
            assert service.inputs["spec"]["type"] == "LoadBalancer", service.urn
            assert service.inputs["metadata"]["annotations"] == {ANNOTATION_LB_PORT_ID: port.outputs["id"],
                                                                 ANNOTATION_LB_INTERNAL: "true"}, service.urn
            assert service.inputs["spec"]["loadBalancerSourceRanges"] == [str(s.cidr) for s in platform.sites]
            entry = next(n for n in names if n["endpoint"] == endpoint)
            assert entry["site_addresses"][site] == port.outputs["allFixedIps"][0], service.urn
        assert descendant(graph, endpoints, FIP) == [], "kz-prod declares its ML endpoints private"
    for entry in names:
        assert (entry["visibility"], entry["ttl"]) == (PRIVATE, ttl_for_rto(ml.rto.total_seconds()))
        assert entry["records"] == [entry["site_addresses"][trains]], "where the platform runs full"


def test_mlflow_accepts_requests_addressed_to_its_service_name(graphs):
    [mlflow] = [d for d in graphs["kz-prod"].of_type("kubernetes:apps/v1:Deployment")
                if d.inputs["metadata"]["name"] == "mlflow" and d.name.startswith("ml-almaty")]
    env = {e["name"]: e.get("value") for e in mlflow.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "mlflow.ml.bank.example.kz" in env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(","), mlflow.urn


def test_a_public_endpoint_gets_a_floating_ip_on_its_vip_port_and_admits_anyone():
    def program():
        site = SimpleNamespace(name="astana", provider=openstack.Provider("astana"), network_id="net-1",
                               subnet_id="subnet-1")
        MlEndpoints("ml-astana-endpoints", MlEndpointsArgs(
            platform="p", system="ml", site=site, provider=k8s.Provider("k8s", kubeconfig="{}"), namespace="ml",
            endpoints=(Endpoint("ml", "jupyterhub", PUBLIC), Endpoint("ml", "mlflow", PRIVATE)),
            external_network="ext-net", private_ranges=("10.10.0.0/16",)))

    graph = run_program(program, "test", {})
    [fip] = graph.of_type(FIP)
    [hub_port] = [p for p in graph.of_type(PORT) if p.name.endswith("jupyterhub-vip")]
    assert (fip.inputs["portId"], fip.inputs["pool"]) == (hub_port.outputs["id"], "ext-net")
    sources = {s.inputs["metadata"]["name"]: s.inputs["spec"]["loadBalancerSourceRanges"]
               for s in graph.of_type(SERVICE)}
    assert sources == {"jupyterhub-lb": ["0.0.0.0/0"], "mlflow-lb": ["10.10.0.0/16"]}
    [component_node] = graph.components(ML_ENDPOINTS)
    assert component_node.outputs["addresses"]["jupyterhub"] == fip.outputs["address"]
