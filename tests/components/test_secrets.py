"""Credentials, keys and kubeconfigs are Pulumi secrets from the moment they exist."""

import pytest

from multidc.plan.graph import SECRET_MASK

from conftest import STACKS, pod_containers

PASSWORD = "random:index/randomPassword:RandomPassword"


@pytest.mark.parametrize("stack", STACKS)
def test_generated_passwords_and_keys_are_secret_in_state(graphs, stack):
    passwords = graphs[stack].of_type(PASSWORD)
    assert passwords
    for node in passwords:
        assert node.outputs["result"] == SECRET_MASK, node.urn


@pytest.mark.parametrize("stack", STACKS)
def test_database_logins_reach_trove_as_secrets(graphs, stack):
    with_users = [node for node in graphs[stack].of_type("openstack:database/instance:Instance") if "users" in node.inputs]
    assert with_users
    for node in with_users:
        assert "users" in node.secret_inputs, node.urn


@pytest.mark.parametrize("stack", STACKS)
def test_vpn_pre_shared_key_is_secret_in_inputs_and_state(graphs, stack):
    connections = graphs[stack].of_type("openstack:vpnaas/siteConnection:SiteConnection")
    assert connections
    for node in connections:
        assert "psk" in node.secret_inputs and node.outputs["psk"] == SECRET_MASK, node.urn


@pytest.mark.parametrize("stack", STACKS)
def test_s3_keys_are_secret_where_made_and_where_used(graphs, stack):
    graph = graphs[stack]
    for node in graph.of_type("openstack:identity/ec2CredentialV3:Ec2CredentialV3"):
        assert node.outputs["access"] == SECRET_MASK and node.outputs["secret"] == SECRET_MASK, node.urn
    for node in graph.of_type("pulumi-python:dynamic:Resource"):
        if "bucket" in node.inputs:  # replication links carry database passwords (test_replication_links)
            assert {"access_key", "secret_key"} <= set(node.secret_inputs), node.urn


@pytest.mark.parametrize("stack", STACKS)
def test_kubernetes_secrets_carry_their_data_as_pulumi_secrets(graphs, stack):
    secrets = graphs[stack].of_type("kubernetes:core/v1:Secret")
    assert secrets
    for node in secrets:
        assert "stringData" in node.secret_inputs or "data" in node.secret_inputs, node.urn


@pytest.mark.parametrize("stack", STACKS)
def test_cluster_providers_receive_their_kubeconfig_as_a_secret(graphs, stack):
    providers = graphs[stack].of_type("pulumi:providers:kubernetes")
    assert providers
    for node in providers:
        assert "kubeconfig" in node.secret_inputs, node.urn


@pytest.mark.parametrize("stack", STACKS)
def test_no_job_puts_a_credential_in_a_plain_environment_value(graphs, stack):
    jobs = graphs[stack].of_type("kubernetes:batch/v1:CronJob")
    assert jobs
    for job in jobs:
        for container in pod_containers(job):
            for variable in container.get("env", []):
                if any(word in variable["name"] for word in ("KEY", "PASSWORD", "SECRET")):
                    assert "valueFrom" in variable and "value" not in variable, (
                        f"{job.urn}: {container['name']} sets {variable['name']} in plain text")
