"""The ML platform component, run under Pulumi mocks through the offline plan's capture.

Each test builds the component from args the way platform.py does and reads what was
registered (the same inputs a real `pulumi up` would send), never the component's own
attributes.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any, Callable

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi.runtime import mocks as pulumi_mocks

from multidc.components.ml_platform import (
    FULL,
    JUPYTERHUB_CHART,
    MLFLOW_IMAGE,
    SERVING_IMAGE,
    SERVING_REPLICAS_ANNOTATION,
    SPARK_OPERATOR_CHART,
    WARM_STANDBY,
    DatabaseEndpoint,
    Dataset,
    GpuScheduling,
    MlPlatform,
    MlPlatformArgs,
    PostgresConnection,
    S3BucketAccess,
    ml_scale,
    model_server_args,
    model_server_container,
    model_server_workers,
    training_datasets,
)
from multidc.components.k8s_workloads import UnpinnedImageError
from multidc.plan.capture import run_program
from multidc.plan.graph import SECRET_MASK, Node, ResourceGraph
from multidc.spec import ServedModel, Topology, load_stack
from multidc.contract import ML_PLATFORM, OBJECT_BUCKET

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: ml, cluster: {server: "https://10.20.0.10:6443"}}]
contexts: [{name: ml, context: {cluster: ml, user: admin}}]
current-context: ml
users: [{name: admin, user: {token: mock-token}}]
"""
DB_PASSWORD = "s3cr3t/p@ss"
S3_SECRET = "artifact-secret-key"

PLATFORM = load_stack("kz-prod")
ML = PLATFORM.system("ml")
ML_SITE = PLATFORM.ml_site(ML)  # almaty: the replica site
PRIMARY = ML.primary_site  # astana


def site_copies(site: str) -> dict[tuple[str, str], Dataset]:
    """The copies of kz-prod's two datasets in one site, with that site in every address."""
    return {
        ("datasets", site): Dataset("datasets", site, bucket=S3BucketAccess(
            endpoint=f"https://s3.{site}.example.kz", bucket=f"kz-prod-datasets-{site}",
            access_key=f"AK-{site}", secret_key=pulumi.Output.secret(f"SK-{site}"))),
        ("core-db", site): Dataset("core-db", site, database=DatabaseEndpoint(
            engine="postgresql", host=f"core-db.{site}.db.internal", port=5432, dbname="core_db",
            user="core_db", password=pulumi.Output.secret(f"pw-{site}"))),
    }


def all_copies() -> dict[tuple[str, str], Dataset]:
    """Both sites' copies (built inside a program: Outputs belong to its event loop)."""
    return {**site_copies(PRIMARY), **site_copies(ML_SITE)}


def platform_args(site: str, provider: k8s.Provider, **overrides: Any) -> MlPlatformArgs:
    """Args for kz-prod's ml system in ``site``, chosen by the same functions platform.py uses."""
    args = MlPlatformArgs(
        system=ML,
        site=site,
        scale=ml_scale(PLATFORM, ML, site),
        provider=provider,
        gpu=GpuScheduling(node_labels={"nvidia.com/gpu.present": "true"}),
        mlflow_db=PostgresConnection(host=f"mlflow-db.{site}.db.internal", port=5432, dbname="mlflow_db",
                                     user="mlflow_db", password=pulumi.Output.secret(DB_PASSWORD)),
        artifacts=S3BucketAccess(endpoint=f"https://s3.{site}.example.kz", bucket=f"kz-prod-ml-artifacts-{site}",
                                 access_key=f"AK-artifacts-{site}", secret_key=pulumi.Output.secret(S3_SECRET)),
        datasets=training_datasets(PLATFORM, ML, site, all_copies()),
    )
    return replace(args, **overrides)


def build(site: str = ML_SITE, **overrides: Any) -> ResourceGraph:
    def program() -> None:
        provider = k8s.Provider("ml-k8s", kubeconfig=KUBECONFIG)
        MlPlatform(f"ml-{site}", platform_args(site, provider, **overrides))

    return run_program(program, "test", {})


@pytest.fixture(scope="module")
def full() -> ResourceGraph:
    return build()


@pytest.fixture(scope="module")
def standby() -> ResourceGraph:
    return build(PRIMARY)


def one(graph: ResourceGraph, type_: str, name: str, namespace: str = "ml") -> Node:
    found = [n for n in graph.of_type(type_) if n.inputs.get("namespace", n.inputs.get("metadata", {}).get(
        "namespace")) == namespace and name in (n.inputs.get("metadata", {}).get("name"), n.inputs.get("name"))]
    assert len(found) == 1, f"expected one {type_} named {name}, found {[n.urn for n in found]}"
    return found[0]


def pod_spec(node: Node) -> dict[str, Any]:
    return node.inputs["spec"]["template"]["spec"]


def release_values(graph: ResourceGraph, release: str) -> dict[str, Any]:
    return one(graph, "kubernetes:helm.sh/v3:Release", release).inputs["values"]


def gpu_profile(graph: ResourceGraph) -> dict[str, Any]:
    profiles = release_values(graph, "jupyterhub")["singleuser"]["profileList"]
    return next(profile for profile in profiles if profile["slug"] == "gpu")


# --- JupyterHub -----------------------------------------------------------------------

def test_jupyterhub_is_the_pinned_zero_to_jupyterhub_chart(full):
    node = one(full, "kubernetes:helm.sh/v3:Release", "jupyterhub")
    assert (node.inputs["chart"], node.inputs["repositoryOpts"]["repo"], node.inputs["version"]) == (
        "jupyterhub", "https://hub.jupyter.org/helm-chart/", JUPYTERHUB_CHART.version), node.urn


def test_gpu_profile_requests_one_gpu(full):
    override = gpu_profile(full)["kubespawner_override"]
    assert override["extra_resource_guarantees"] == {"nvidia.com/gpu": "1"}
    assert override["extra_resource_limits"] == {"nvidia.com/gpu": "1"}


def test_gpu_profile_tolerates_the_pool_taint_and_selects_its_nodes(full):
    override = gpu_profile(full)["kubespawner_override"]
    assert override["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}]
    assert override["node_selector"] == {"nvidia.com/gpu.present": "true"}


def test_cpu_profile_asks_for_no_gpu(full):
    profiles = release_values(full, "jupyterhub")["singleuser"]["profileList"]
    cpu = next(profile for profile in profiles if profile["slug"] == "cpu")
    assert "nvidia.com/gpu" not in json.dumps(cpu)


def test_without_a_gpu_pool_jupyterhub_offers_the_cpu_profile_only():
    graph = build(gpu=None)
    profiles = release_values(graph, "jupyterhub")["singleuser"]["profileList"]
    assert [profile["slug"] for profile in profiles] == ["cpu"]


def test_user_storage_and_authenticator_come_from_the_spec(full):
    values = release_values(full, "jupyterhub")
    assert values["singleuser"]["storage"]["capacity"] == f"{ML.ml.jupyterhub.user_storage_gb}Gi"
    assert values["hub"]["config"]["JupyterHub"] == {
        "authenticator_class": "nativeauthenticator.NativeAuthenticator",
        "active_server_limit": ML.ml.jupyterhub.max_users}


def test_notebooks_get_the_tracking_uri_and_dataset_settings(full):
    extra_env = release_values(full, "jupyterhub")["singleuser"]["extraEnv"]
    assert extra_env["MLFLOW_TRACKING_URI"] == "http://mlflow.ml.svc.cluster.local:5000"
    assert extra_env["DATASET_CORE_DB_HOST"] == {
        "valueFrom": {"configMapKeyRef": {"name": "datasets", "key": "DATASET_CORE_DB_HOST"}}}
    assert extra_env["DATASET_CORE_DB_PASSWORD"] == {
        "valueFrom": {"secretKeyRef": {"name": "datasets", "key": "DATASET_CORE_DB_PASSWORD"}}}


# --- MLflow ---------------------------------------------------------------------------

def test_mlflow_runs_the_pinned_full_image_from_secrets(full):
    container = pod_spec(one(full, "kubernetes:apps/v1:Deployment", "mlflow"))["containers"][0]
    assert container["image"] == MLFLOW_IMAGE
    assert container["envFrom"] == [{"secretRef": {"name": "mlflow-backend"}},
                                    {"secretRef": {"name": "mlflow-artifacts"}}]


def test_mlflow_stores_artifacts_in_the_bucket_of_its_site(full):
    env = {e["name"]: e.get("value") for e in
           pod_spec(one(full, "kubernetes:apps/v1:Deployment", "mlflow"))["containers"][0]["env"]}
    assert env["MLFLOW_ARTIFACTS_DESTINATION"] == f"s3://kz-prod-ml-artifacts-{ML_SITE}/mlflow"
    assert env["MLFLOW_S3_ENDPOINT_URL"] == f"https://s3.{ML_SITE}.example.kz"


def test_mlflow_backend_store_uri_is_a_pulumi_secret(full):
    node = one(full, "kubernetes:core/v1:Secret", "mlflow-backend")
    assert node.inputs["stringData"] == SECRET_MASK and "stringData" in node.secret_inputs, node.urn


def test_no_secret_value_appears_in_the_graph(full):
    text = json.dumps(full.to_json())
    assert DB_PASSWORD not in text and S3_SECRET not in text and "pw-almaty" not in text


def test_mlflow_backend_store_uri_escapes_the_password():
    backend = next(inputs for name, inputs in raw_registrations(ML_SITE) if name == "ml-almaty-mlflow-backend")
    assert "postgresql+psycopg2://mlflow_db:s3cr3t%2Fp%40ss@mlflow-db.almaty.db.internal:5432/mlflow_db" in \
        json.dumps(backend)


# --- served models --------------------------------------------------------------------

def test_each_model_is_served_by_deployment_service_autoscaler_and_budget(full):
    for type_ in ("kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service",
                  "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:policy/v1:PodDisruptionBudget"):
        node = one(full, type_, "model-churn-60d")
        assert node.type == type_ and node.inputs["metadata"]["name"] == "model-churn-60d", node.urn


def test_model_server_runs_multidc_serving_with_one_worker_per_cpu_of_its_limit(full):
    container = pod_spec(one(full, "kubernetes:apps/v1:Deployment", "model-churn-60d"))["containers"][0]
    model = ML.ml.models[0]  # kz-prod's churn-60d: cpu "2", workers not set
    assert container["args"] == model_server_args(model.model_uri, 2)
    assert container["args"][:3] == ["python", "-m", "multidc.serving"]
    assert container["args"][container["args"].index("--workers") + 1] == "2"


def test_model_server_readiness_is_on_ping_at_the_model_port(full):
    container = pod_spec(one(full, "kubernetes:apps/v1:Deployment", "model-churn-60d"))["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/ping", "port": 8080}


def test_model_server_image_is_the_serving_image_unless_the_spec_names_one(full):
    container = pod_spec(one(full, "kubernetes:apps/v1:Deployment", "model-churn-60d"))["containers"][0]
    assert container["image"] == SERVING_IMAGE
    named = ML.ml.models[0].model_copy(update={"image": "churn-serving:1.4.2"})
    assert model_server_container(named, "http://mlflow:5000")["image"] == "churn-serving:1.4.2"


def test_model_server_refuses_an_unpinned_image_from_the_spec():
    unpinned = ML.ml.models[0].model_copy(update={"image": "churn-serving:latest"})
    with pytest.raises(UnpinnedImageError, match="churn-serving:latest"):
        model_server_container(unpinned, "http://mlflow:5000")


@pytest.mark.parametrize("fields,workers", [
    ({"cpu": "2"}, 2), ({"cpu": "1500m"}, 2), ({"cpu": "500m"}, 1), ({"cpu": "4", "workers": 3}, 3)])
def test_model_server_workers_are_the_specs_or_one_per_cpu(fields, workers):
    model = ServedModel(name="churn", model_uri="models:/churn/1", **fields)
    assert model_server_workers(model) == workers


def test_the_spec_refuses_a_served_model_cpu_that_is_no_quantity():
    with pytest.raises(ValueError, match="'two' is not a Kubernetes quantity"):
        ServedModel(name="churn", model_uri="models:/churn/1", cpu="two")


def test_model_server_workers_name_a_cpu_that_is_no_quantity():
    # The spec refuses it first (above); the component still names it if handed one unchecked.
    model = ServedModel.model_construct(name="churn", model_uri="models:/churn/1", cpu="two")
    with pytest.raises(ValueError, match="served model 'churn': cpu 'two' is not a Kubernetes CPU quantity"):
        model_server_workers(model)


def test_model_server_gets_2_cpu_and_2_gib_as_requests_and_limits(full):
    container = pod_spec(one(full, "kubernetes:apps/v1:Deployment", "model-churn-60d"))["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "2Gi"},
                                      "limits": {"cpu": "2", "memory": "2Gi"}}


def test_autoscaler_bounds_come_from_the_spec(full):
    spec = one(full, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "model-churn-60d").inputs["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"], spec["scaleTargetRef"]["name"]) == (2, 8, "model-churn-60d")


def test_full_scale_leaves_the_model_replica_count_to_the_autoscaler(full):
    spec = one(full, "kubernetes:apps/v1:Deployment", "model-churn-60d").inputs["spec"]
    assert "replicas" not in spec


# --- warm standby ---------------------------------------------------------------------

def test_ml_runs_full_in_the_replica_site_and_warm_in_the_primary():
    assert (ml_scale(PLATFORM, ML, ML_SITE), ml_scale(PLATFORM, ML, PRIMARY)) == (FULL, WARM_STANDBY)


@pytest.mark.parametrize("name,serving", [("mlflow", "2"), ("model-churn-60d", "2")])
def test_warm_standby_declares_services_at_zero_replicas_with_the_count_to_scale_to(standby, name, serving):
    node = one(standby, "kubernetes:apps/v1:Deployment", name)
    assert node.inputs["spec"]["replicas"] == 0, node.urn
    assert node.inputs["metadata"]["annotations"][SERVING_REPLICAS_ANNOTATION] == serving, node.urn


def test_warm_standby_jupyterhub_runs_without_user_scheduler_or_image_puller(standby):
    values = release_values(standby, "jupyterhub")
    assert values["scheduling"]["userScheduler"]["enabled"] is False
    assert values["prePuller"]["continuous"]["enabled"] is False


def test_active_active_runs_full_in_every_site():
    both = PLATFORM.model_copy(update={"systems": [
        s.model_copy(update={"topology": Topology.active_active}) if s.name == "ml" else s for s in PLATFORM.systems]})
    ml = both.system("ml")
    assert {ml_scale(both, ml, site) for site in ml.sites} == {FULL}


# --- Spark ----------------------------------------------------------------------------

def test_spark_operator_is_the_pinned_kubeflow_chart_watching_the_jobs_namespace(full):
    node = one(full, "kubernetes:helm.sh/v3:Release", "spark-operator")
    assert (node.inputs["chart"], node.inputs["repositoryOpts"]["repo"], node.inputs["version"]) == (
        "spark-operator", "https://kubeflow.github.io/spark-operator", SPARK_OPERATOR_CHART.version)
    spark = node.inputs["values"]["spark"]
    assert spark["jobNamespaces"] == ["spark-jobs"] and spark["serviceAccount"] == {"create": True, "name": "spark"}


def test_spark_jobs_namespace_has_the_dataset_settings(full):
    config = one(full, "kubernetes:core/v1:ConfigMap", "datasets", namespace="spark-jobs")
    assert config.inputs["data"]["DATASET_DATASETS_BUCKET"] == "kz-prod-datasets-almaty"


# --- hardening ------------------------------------------------------------------------

def deployments(graph: ResourceGraph) -> list[Node]:
    return graph.of_type("kubernetes:apps/v1:Deployment")


def test_every_container_is_non_root_read_only_with_equal_requests_and_limits(full):
    for node in deployments(full):
        for container in pod_spec(node)["containers"]:
            context, resources = container["securityContext"], container["resources"]
            assert context["runAsNonRoot"] and context["readOnlyRootFilesystem"], node.urn
            assert not context["allowPrivilegeEscalation"] and context["capabilities"] == {"drop": ["ALL"]}, node.urn
            assert resources["requests"] == resources["limits"], node.urn


def test_every_container_has_readiness_liveness_and_startup_probes(full):
    for node in deployments(full):
        for container in pod_spec(node)["containers"]:
            assert {"readinessProbe", "livenessProbe", "startupProbe"} <= set(container), node.urn


def test_namespaces_deny_ingress_unless_a_policy_allows_it(full):
    for namespace in ("ml", "spark-jobs"):
        policies = [n for n in full.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
                    if n.inputs["metadata"]["namespace"] == namespace and n.inputs["spec"]["podSelector"] == {
                        "matchLabels": {}}]
        assert len(policies) == 1 and policies[0].inputs["spec"]["policyTypes"] == ["Ingress"], namespace


def test_model_server_may_reach_only_dns_and_mlflow(full):
    spec = one(full, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "model-churn-60d").inputs["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    destinations = [rule["ports"] for rule in spec["egress"]]
    assert destinations == [[{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                            [{"protocol": "TCP", "port": 5000}]]


def test_mlflow_accepts_connections_only_on_its_port(full):
    spec = one(full, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "mlflow").inputs["spec"]
    assert [rule["ports"] for rule in spec["ingress"]] == [[{"protocol": "TCP", "port": 5000}]]


# --- ML on replicas -------------------------------------------------------------------

def test_a_dataset_from_another_site_is_refused():
    def program() -> None:
        provider = k8s.Provider("ml-k8s", kubeconfig=KUBECONFIG)
        wrong = (site_copies(PRIMARY)[("core-db", PRIMARY)],)
        MlPlatform("ml-almaty", platform_args(ML_SITE, provider, datasets=wrong))

    with pytest.raises(ValueError, match=r"given dataset 'core-db' from 'astana'.*pass the 'almaty' copy"):
        run_program(program, "test", {})


def test_warm_standby_in_the_primary_site_gets_no_datasets(standby):
    assert one(standby, "kubernetes:core/v1:ConfigMap", "datasets").inputs["data"] == {}


def raw_registrations(site: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, inputs) of every Kubernetes object the ML placement in ``site`` registers, with
    secrets unmasked: the graph masks them, and an endpoint could hide in a secret."""
    registered: list[tuple[str, dict[str, Any]]] = []

    class Recording(pulumi_mocks.Mocks):
        def new_resource(self, args):
            if args.typ.startswith("kubernetes:"):
                registered.append((args.name, args.inputs))
            return f"{args.name}-id", args.inputs

        def call(self, args):
            return {}

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    pulumi_mocks.set_mocks(Recording(), preview=False)
    try:
        @pulumi.runtime.test
        def run():
            provider = k8s.Provider("ml-k8s", kubeconfig=KUBECONFIG)
            return pulumi.Output.from_input(MlPlatform(f"ml-{site}", platform_args(site, provider)).namespace)

        run()
    finally:
        pulumi.runtime.settings.reset_options()
        asyncio.set_event_loop(None)
        loop.close()
    assert registered, f"the ML placement in {site} registered no Kubernetes objects"
    return registered


def test_default_active_passive_ml_workloads_receive_no_primary_site_endpoint():
    # Every copy of every dataset exists in both sites and is offered; the ML placement where
    # training runs must take only the replica site's: no env var, Secret, ConfigMap or chart
    # value names the primary site.
    assert ML.topology.value == "active-passive" and ML_SITE != PRIMARY
    text = json.dumps(raw_registrations(ML_SITE))
    assert PRIMARY not in text, [line for line in text.split('"') if PRIMARY in line]
    assert "core-db.almaty.db.internal" in text and "kz-prod-datasets-almaty" in text


# --- over kz-prod's full plan (platform.py's wiring) ------------------------------------

@pytest.fixture(scope="module")
def kz_prod(planned) -> ResourceGraph:
    return planned("kz-prod")[1]


def ml_placement(graph: ResourceGraph, site: str) -> Node:
    return next(n for n in graph.components(ML_PLATFORM) if n.inputs["site"] == site)


def addresses_of(graph: ResourceGraph, site: str) -> set[str]:
    """What names a site's data: its S3 endpoint, its buckets, its database instances' addresses."""
    found = {PLATFORM.site(site).s3_endpoint}
    found |= {n.inputs["bucket"] for n in graph.components(OBJECT_BUCKET) if n.site == site}
    found |= {address for n in graph.of_type("openstack:database/instance:Instance") if n.site == site
              for address in n.outputs.get("addresses", [])}
    return found


def test_kz_prod_plan_runs_ml_full_in_the_replica_site_and_warm_in_the_primary(kz_prod):
    assert {site: ml_placement(kz_prod, site).inputs["scale"] for site in ML.sites} == {
        ML_SITE: FULL, PRIMARY: WARM_STANDBY}


def test_kz_prod_plan_training_site_workloads_name_no_primary_site_address(kz_prod):
    placement = ml_placement(kz_prod, ML_SITE)
    workloads = [n for n in kz_prod.descendants(placement.urn) if n.type.startswith("kubernetes:")]
    text = json.dumps([n.inputs for n in workloads])
    assert [address for address in addresses_of(kz_prod, PRIMARY) if address in text] == [], placement.urn
    # The scan does see addresses: the replica site's own are there.
    assert [address for address in addresses_of(kz_prod, ML_SITE) if address in text], placement.urn


def test_kz_prod_plan_warm_standby_in_the_primary_site_receives_no_dataset(kz_prod):
    placement = ml_placement(kz_prod, PRIMARY)
    assert placement.inputs["datasets"] == {}, placement.urn
