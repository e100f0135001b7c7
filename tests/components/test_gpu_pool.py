"""GPU pools: labelled and tainted nodes, and the NVIDIA GPU operator on the same cluster."""

from conftest import component, descendant
from multidc.contract import GPU_POOL, KUBERNETES, ML_PLATFORM

GPU_MODEL = "A100-40GB"  # kz-prod: ml-k8s pool a100, min 1, max 4


def gpu_pool(graph, site):
    return component(graph, GPU_POOL, f"ml-k8s-{site}-a100")


def test_gpu_node_group_uses_the_gpu_flavor_and_the_pools_bounds(graphs):
    graph = graphs["kz-prod"]
    nodes = descendant(graph, gpu_pool(graph, "almaty"), "openstack:containerinfra/nodeGroup:NodeGroup")[0]
    assert nodes.inputs["flavorId"] == "GPU-A100-40-12-96"
    assert (nodes.inputs["minNodeCount"], nodes.inputs["maxNodeCount"]) == (1, 4)


def test_gpu_nodes_are_labelled_and_tainted_by_their_kubelet(graphs):
    graph = graphs["kz-prod"]
    labels = descendant(graph, gpu_pool(graph, "almaty"), "openstack:containerinfra/nodeGroup:NodeGroup")[0].inputs["labels"]
    assert labels["nvidia.com/gpu.present"] == "true"
    assert labels["multidc/gpu-model"] == GPU_MODEL
    kubelet = labels["kubelet_options"].split()
    assert "--register-with-taints=nvidia.com/gpu=present:NoSchedule" in kubelet
    assert f"--node-labels=nvidia.com/gpu.present=true,multidc/gpu-model={GPU_MODEL}" in kubelet


def test_gpu_pool_exposes_its_taint_and_labels_to_readers(graphs):
    pool = gpu_pool(graphs["kz-prod"], "astana")
    assert pool.inputs["taint"] == "nvidia.com/gpu=present:NoSchedule"
    assert pool.inputs["node_labels"] == {"nvidia.com/gpu.present": "true", "multidc/gpu-model": GPU_MODEL}


def test_gpu_operator_is_a_pinned_chart_on_the_clusters_own_provider(graphs):
    graph = graphs["kz-prod"]
    for site in ("astana", "almaty"):
        release = descendant(graph, gpu_pool(graph, site), "kubernetes:helm.sh/v3:Release")[0]
        assert release.inputs["chart"] == "gpu-operator"
        assert release.inputs["repositoryOpts"] == {"repo": "https://helm.ngc.nvidia.com/nvidia"}
        assert release.inputs["version"] and release.inputs["version"] != "latest", release.urn
        provider = graph.by_urn(release.provider)
        assert provider.parent == component(graph, KUBERNETES, f"ml-k8s-{site}").urn
        tolerations = release.inputs["values"]["daemonsets"]["tolerations"]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations


def test_ml_platform_in_the_training_site_gets_the_gpu_pools_scheduling(graphs):
    ml = component(graphs["kz-prod"], ML_PLATFORM, "ml-almaty")
    assert ml.inputs["gpu_profile"] is True
    assert ml.inputs["scale"] == "full"
