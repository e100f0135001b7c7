"""The manifest export, over a graph captured from the ML platform under Pulumi mocks."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from multidc.components.ml_platform import (
    JUPYTERHUB_CHART,
    MlPlatform,
    MlPlatformArgs,
    PostgresConnection,
    S3BucketAccess,
)
from multidc.plan.capture import run_program
from multidc.plan.graph import Node, ResourceGraph
from multidc.plan.manifests import ManifestExportError, export_manifests
from multidc.spec import load_stack
from multidc.contract import KUBERNETES

DB_PASSWORD = "never-on-disk-db"
S3_SECRET = "never-on-disk-s3"


@pytest.fixture(scope="module")
def graph() -> ResourceGraph:
    system = load_stack("kz-prod").system("ml")

    def program() -> None:
        provider = k8s.Provider("ml-k8s", kubeconfig="apiVersion: v1\nkind: Config\n")  # mocks never read it
        MlPlatform("ml-almaty", MlPlatformArgs(
            system=system, site="almaty", scale="full", provider=provider,
            mlflow_db=PostgresConnection(host="10.20.1.5", port=5432, dbname="mlflow_db", user="mlflow_db",
                                         password=pulumi.Output.secret(DB_PASSWORD)),
            artifacts=S3BucketAccess(endpoint="https://s3.almaty.example.kz", bucket="ml-artifacts",
                                     access_key="AK", secret_key=pulumi.Output.secret(S3_SECRET))))

    return run_program(program, "test", {})


@pytest.fixture(scope="module")
def exported(graph, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("export") / "manifests"
    export_manifests(graph, directory)
    return directory


def read(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_every_kubernetes_object_and_release_is_one_file(graph, exported):
    objects = [n for n in graph if n.custom and n.type.startswith("kubernetes:")]
    assert len(list(exported.rglob("*.yaml"))) == len(objects) > 0


def test_files_are_laid_out_by_site_cluster_namespace_kind_and_name(exported):
    metadata = read(exported / "almaty" / "ml-k8s" / "ml" / "Deployment-model-churn-60d.yaml")["metadata"]
    assert (metadata["name"], metadata["namespace"]) == ("model-churn-60d", "ml")


def test_cluster_scoped_objects_go_under_cluster(exported):
    assert read(exported / "almaty" / "ml-k8s" / "_cluster" / "Namespace-spark-jobs.yaml")["kind"] == "Namespace"


def test_a_manifest_starts_with_api_version_and_kind_and_carries_integers(exported):
    document = read(exported / "almaty" / "ml-k8s" / "ml" / "Deployment-model-churn-60d.yaml")
    assert list(document)[:3] == ["apiVersion", "kind", "metadata"]
    assert (document["apiVersion"], document["kind"]) == ("apps/v1", "Deployment")
    port = document["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    assert port == 8080 and isinstance(port, int)


def test_a_helm_release_records_chart_repository_version_and_values(exported):
    document = read(exported / "almaty" / "ml-k8s" / "ml" / "HelmRelease-jupyterhub.yaml")
    assert {key: document[key] for key in ("name", "namespace", "chart", "repository", "version")} == {
        "name": "jupyterhub", "namespace": "ml", "chart": "jupyterhub",
        "repository": JUPYTERHUB_CHART.repo, "version": JUPYTERHUB_CHART.version}
    assert document["values"]["singleuser"]["storage"]["capacity"] == "20Gi"


def test_secret_values_never_reach_the_disk(exported):
    for path in exported.rglob("*.yaml"):
        text = path.read_text()
        assert DB_PASSWORD not in text and S3_SECRET not in text, path


def test_a_secret_is_written_without_its_data_and_says_why(exported):
    path = exported / "almaty" / "ml-k8s" / "ml" / "Secret-mlflow-backend.yaml"
    assert "stringData" not in read(path)
    assert "# not exported, Pulumi secrets: stringData" in path.read_text()


def test_a_non_empty_directory_is_refused(graph, tmp_path):
    (tmp_path / "old.yaml").write_text("kind: Leftover\n")
    with pytest.raises(ManifestExportError, match="new or empty directory"):
        export_manifests(graph, tmp_path)


def deployment(urn: str, provider: str, site: str) -> Node:
    return Node(urn=urn, type="kubernetes:apps/v1:Deployment", name=urn.rsplit("::", 1)[-1], custom=True,
                provider=provider, site=site, inputs={
                    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "apps"}})


def provider_of(cluster: str) -> list[Node]:
    component = f"urn:pulumi:s::p::multidc:kubernetes:KubernetesCluster::{cluster}"
    return [Node(urn=component, type=KUBERNETES, name=cluster, custom=False),
            Node(urn=f"{component}$pulumi:providers:kubernetes::{cluster}-k8s", type="pulumi:providers:kubernetes",
                 name=f"{cluster}-k8s", custom=True, parent=component)]


def test_two_clusters_in_one_site_keep_their_objects_apart(tmp_path):
    a, b = provider_of("apps-astana"), provider_of("ml-k8s-astana")
    graph = ResourceGraph("s", "p", (*a, *b, deployment("urn:x::web-a", a[1].urn, "astana"),
                                     deployment("urn:x::web-b", b[1].urn, "astana")))
    written = export_manifests(graph, tmp_path / "out")
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in written) == [
        "astana/apps-astana/apps/Deployment-web.yaml", "astana/ml-k8s-astana/apps/Deployment-web.yaml"]


def test_two_objects_with_one_identity_in_one_cluster_are_refused(tmp_path):
    a = provider_of("apps-astana")
    graph = ResourceGraph("s", "p", (*a, deployment("urn:x::web-a", a[1].urn, "astana"),
                                     deployment("urn:x::web-b", a[1].urn, "astana")))
    with pytest.raises(ManifestExportError, match="urn:x::web-b and urn:x::web-a are both"):
        export_manifests(graph, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_kz_prod_plan_exports_every_cluster_object_under_its_site_and_cluster(planned, tmp_path):
    _, graph = planned("kz-prod")
    written = export_manifests(graph, tmp_path / "kz-prod")
    assert len(written) == len([n for n in graph if n.custom and n.type.startswith("kubernetes:")])
    for site in ("astana", "almaty"):
        assert read(tmp_path / "kz-prod" / site / f"ml-k8s-{site}" / "ml" / "HelmRelease-jupyterhub.yaml")[
            "version"] == JUPYTERHUB_CHART.version
