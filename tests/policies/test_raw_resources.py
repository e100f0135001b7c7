"""Resources a user adds next to the components, written as a user writes them: small real
Pulumi programs (pulumi-openstack, pulumi-kubernetes) run under the plan's mocks, their graph
sent to the real pack over the analyzer protocol. Each class of finding has a program the
pack flags and one it passes, and the test asserts the exact set of (policy ID, resource)."""

from __future__ import annotations

from typing import Any, Callable

import pulumi
import pulumi_kubernetes as k8s
import pulumi_openstack as openstack

from multidc.plan.analyzer import PolicyPackProcess
from multidc.plan.capture import run_program

from .fixtures import Stack, compliant, found, with_cards
from .test_policies import check

RESTRICTED = {"allow_privilege_escalation": False, "capabilities": {"drop": ["ALL"]}, "run_as_non_root": True,
              "run_as_user": 10001, "seccomp_profile": {"type": "RuntimeDefault"}}
SIZED = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "100m", "memory": "128Mi"}}
PROBED = {"http_get": {"path": "/", "port": 8080}}


def verdict(pack: PolicyPackProcess, program: Callable[[], None]) -> set[tuple[str, str]]:
    return found(pack.analyze(run_program(program, "raw", {})))


def web(**context: Any) -> dict[str, Any]:
    """A container that meets every rule, with `context` overriding its security context."""
    return {"name": "web", "image": "nginxinc/nginx-unprivileged:1.27.1", "resources": SIZED,
            "security_context": {**RESTRICTED, **context}, "liveness_probe": PROBED, "readiness_probe": PROBED}


def template(*containers: dict[str, Any], **pod: Any) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": list(containers), **pod}}


def deployment(name: str, *containers: dict[str, Any], **pod: Any) -> None:
    k8s.apps.v1.Deployment(name, spec={"selector": {"match_labels": {"app": "web"}},
                                       "template": template(*(containers or (web(),)), **pod)})


# --- network -----------------------------------------------------------------------------------

def _trove(name: str, network: Any, **extra: Any) -> openstack.database.Instance:
    return openstack.database.Instance(name, flavor_id="db-2-8", size=20, networks=[{"uuid": network}],
                                       datastore={"type": "postgresql", "version": "16"}, **extra)


def test_net002_rejects_raw_trove_instance_on_the_external_network(pack):
    def program():
        public = openstack.networking.Network("public", external=True)
        _trove("orders", public.id)
    assert verdict(pack, program) == {("MDC-NET-002", "orders"), ("MDC-BAK-001", "orders")}


def test_net002_accepts_raw_trove_instance_on_a_private_network(pack):
    def program():
        openstack.networking.Network("public", external=True)
        _trove("orders", openstack.networking.Network("private").id)
    assert verdict(pack, program) == {("MDC-BAK-001", "orders")}  # advisory: declared outside the spec


def test_net003_rejects_swift_container_readable_by_anyone(pack):
    def program():
        openstack.objectstorage.Container("media", container_read=".r:*,.rlistings")
    assert verdict(pack, program) == {("MDC-NET-003", "media")}


def test_net003_accepts_swift_container_read_by_its_project(pack):
    def program():
        openstack.objectstorage.Container("media", container_read="bank:reader")
    assert verdict(pack, program) == set()


S3_ACL = "aws:s3/bucketAclV2:BucketAclV2"  # pulumi-aws is not a dependency: its inputs as aws.s3.BucketAclV2 sends them


def test_net003_rejects_s3_canned_public_acl_and_grant_to_all_users(pack):
    stack = Stack()
    stack.add(S3_ACL, "media-acl", inputs={"bucket": "media", "acl": "public-read"})
    stack.add(S3_ACL, "logs-acl", inputs={"bucket": "logs", "accessControlPolicy": {
        "owner": {"id": "owner"}, "grants": [{"permission": "READ", "grantee": {
            "type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"}}]}})
    assert check(pack, stack) == {("MDC-NET-003", "media-acl"), ("MDC-NET-003", "logs-acl")}


def test_net003_accepts_private_s3_acl(pack):
    stack = Stack()
    stack.add(S3_ACL, "media-acl", inputs={"bucket": "media", "acl": "private"})
    assert check(pack, stack) == set()


def _world_rule(name: str, port: int, prefix: str = "0.0.0.0/0") -> None:
    openstack.networking.SecGroupRule(name, direction="ingress", ethertype="IPv4", protocol="tcp",
                                      port_range_min=port, port_range_max=port, remote_ip_prefix=prefix,
                                      security_group_id="sg")


def test_net001_rejects_world_open_rules_on_database_ports_other_than_postgres(pack):
    def program():
        _world_rule("mysql", 3306)
        _world_rule("mongo", 27017)
        _world_rule("oracle", 1521, "::/0")
    assert verdict(pack, program) == {("MDC-NET-001", "mysql"), ("MDC-NET-001", "mongo"), ("MDC-NET-001", "oracle")}


def test_net001_accepts_database_port_open_to_the_site_only(pack):
    def program():
        _world_rule("mysql", 3306, "10.10.0.0/16")
        _world_rule("https", 443)
    assert verdict(pack, program) == set()


def _service(name: str, kind: str, port: int) -> None:
    k8s.core.v1.Service(name, spec={"type": kind, "selector": {"app": "db"},
                                    "ports": [{"port": port, "target_port": port}]})


def test_net005_rejects_load_balancer_and_node_port_services_in_front_of_databases(pack):
    def program():
        _service("pg", "LoadBalancer", 5432)
        _service("redis", "NodePort", 6379)
    assert verdict(pack, program) == {("MDC-NET-005", "pg"), ("MDC-NET-005", "redis")}


def test_net005_accepts_cluster_ip_database_service_and_public_web_service(pack):
    def program():
        _service("pg", "ClusterIP", 5432)
        _service("web", "LoadBalancer", 443)
    assert verdict(pack, program) == set()


def _ike(name: str, version: str) -> None:
    openstack.vpnaas.IkePolicy(name, ike_version=version, encryption_algorithm="aes-256", auth_algorithm="sha256",
                               pfs="group14")


def test_net004_rejects_ikev1(pack):
    assert verdict(pack, lambda: _ike("legacy", "v1")) == {("MDC-NET-004", "legacy")}


def test_net004_accepts_ikev2(pack):
    assert verdict(pack, lambda: _ike("modern", "v2")) == set()


# --- Kubernetes: Pod Security Standards, restricted ----------------------------------------------

def test_k8s_restricted_workload_of_every_kind_passes(pack):
    def program():
        deployment("web")
        k8s.core.v1.ReplicationController("legacy", spec={"selector": {"app": "web"}, "template": template(web())})
        k8s.batch.v1.CronJob("report", spec={"schedule": "0 3 * * *", "job_template": {"spec": {
            "template": template(web(), restart_policy="OnFailure")}}})
        k8s.apps.v1.DeploymentPatch("web-replicas", metadata={"name": "web"}, spec={"replicas": 3})
    assert verdict(pack, program) == set()


def test_k8s006_rejects_host_namespaces_host_path_and_host_ports(pack):
    def program():
        deployment("sniffer", host_network=True, host_pid=True)
        k8s.apps.v1.DaemonSet("logs", spec={"selector": {"match_labels": {"app": "web"}}, "template": template(
            web(), volumes=[{"name": "varlog", "host_path": {"path": "/var/log"}}])})
        deployment("proxy", {**web(), "ports": [{"container_port": 8080, "host_port": 80}]})
    assert verdict(pack, program) == {("MDC-K8S-006", "sniffer"), ("MDC-K8S-006", "logs"), ("MDC-K8S-006", "proxy")}


def test_k8s002_rejects_added_capabilities_and_privilege_escalation_in_any_kind(pack):
    def program():
        deployment("admin", web(capabilities={"add": ["SYS_ADMIN"], "drop": ["ALL"]}))
        escalating = template(web(allow_privilege_escalation=True))
        k8s.core.v1.ReplicationController("escalating", spec={"selector": {"app": "web"}, "template": escalating})
        k8s.batch.v1.CronJob("nightly", spec={"schedule": "0 3 * * *", "job_template": {"spec": {
            "template": template(web(privileged=True), restart_policy="OnFailure")}}})
    assert verdict(pack, program) == {("MDC-K8S-002", "admin"), ("MDC-K8S-002", "escalating"),
                                      ("MDC-K8S-002", "nightly")}


def test_k8s_patch_is_judged_on_what_it_sets(pack):
    def program():
        k8s.apps.v1.DeploymentPatch("debug", metadata={"name": "web"}, spec={"template": {"spec": {
            "host_pid": True, "containers": [{"name": "web", "security_context": {"privileged": True}}]}}})
    assert verdict(pack, program) == {("MDC-K8S-002", "debug"), ("MDC-K8S-006", "debug")}


def test_k8s007_rejects_workload_without_seccomp_profile_and_unconfined_patch(pack):
    def program():
        deployment("web", web(seccomp_profile=None))
        k8s.apps.v1.StatefulSetPatch("db", metadata={"name": "db"}, spec={"template": {"spec": {
            "security_context": {"seccomp_profile": {"type": "Unconfined"}}, "containers": [{"name": "db"}]}}})
    assert verdict(pack, program) == {("MDC-K8S-007", "web"), ("MDC-K8S-007", "db")}


def test_k8s_helm_values_that_open_the_host_or_escalate_are_rejected(pack):
    def program():
        k8s.helm.v3.Release("agent", chart="node-agent", values={
            "hostNetwork": True, "daemonset": {"securityContext": {"privileged": True, "runAsUser": 0}}})
    assert verdict(pack, program) == {("MDC-K8S-002", "agent"), ("MDC-K8S-003", "agent"), ("MDC-K8S-006", "agent")}


def test_k8s_helm_values_with_a_restricted_security_context_pass(pack):
    def program():
        k8s.helm.v3.Release("api", chart="api", values={
            "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}})
    assert verdict(pack, program) == set()


# --- secrets read by value ------------------------------------------------------------------------

def test_sec001_rejects_password_nested_in_trove_users_and_in_user_data(pack):
    def program():
        _trove("ledger", "private-net", users=[{"name": "app", "password": "hunter22-but-longer"}])
        openstack.compute.Instance("worker", flavor_name="STD3-2-4", image_name="ubuntu-24.04",
                                   user_data="#cloud-config\nruncmd:\n  - export DB_PASSWORD=s3cr3t-value\n")
    assert verdict(pack, program) == {("MDC-SEC-001", "ledger"), ("MDC-SEC-001", "worker"),
                                      ("MDC-BAK-001", "ledger")}


def test_sec001_accepts_secret_values_booleans_and_plain_user_data(pack):
    def program():
        _trove("ledger", "private-net", users=[{"name": "app", "password": pulumi.Output.secret("hunter22")}])
        openstack.compute.Instance("worker", flavor_name="STD3-2-4", image_name="ubuntu-24.04",
                                   user_data="#cloud-config\npackages: [nginx]\n")
        openstack.vpnaas.SiteConnection("to-almaty", ikepolicy_id="ike", ipsecpolicy_id="ipsec", vpnservice_id="vpn",
                                        peer_address="203.0.113.7", peer_id="203.0.113.7",
                                        psk=pulumi.Output.secret("a-long-pre-shared-key"))
        openstack.identity.User("robot", name="robot", ignore_password_expiry=True)
    assert verdict(pack, program) == {("MDC-BAK-001", "ledger")}


def test_sec001_rejects_plain_pre_shared_key(pack):
    def program():
        openstack.vpnaas.SiteConnection("to-almaty", ikepolicy_id="ike", ipsecpolicy_id="ipsec", vpnservice_id="vpn",
                                        peer_address="203.0.113.7", peer_id="203.0.113.7", psk="a-long-pre-shared-key")
    assert verdict(pack, program) == {("MDC-SEC-001", "to-almaty")}


def test_sec002_rejects_credentials_in_environment_urls_and_arguments(pack):
    def program():
        deployment("api", {**web(), "env": [{"name": "DATABASE_URL", "value": "postgres://app:s3cret@db:5432/app"}]})
        deployment("sync", {**web(), "args": ["--source", "s3://key:s3cret-key@minio:9000/bucket"]})
    assert verdict(pack, program) == {("MDC-SEC-002", "api"), ("MDC-SEC-002", "sync")}


def test_sec002_accepts_names_that_only_mention_a_secret_and_secret_references(pack):
    def program():
        deployment("api", {**web(), "env": [
            {"name": "OIDC_TOKEN_ENDPOINT", "value": "https://id.example.kz/oauth2/token"},
            {"name": "SECRETS_DIR", "value": "/run/secrets"},
            {"name": "DATABASE_URL", "value": "postgres://app@db:5432/app"},
            {"name": "PGPASSWORD", "value_from": {"secret_key_ref": {"name": "db", "key": "password"}}},
            {"name": "API_TOKEN", "value": "$(TOKEN_FROM_SECRET)"},
        ]})
    assert verdict(pack, program) == set()


# --- next to the components: the cardholder network, backups ------------------------------------

def _raw_vm(stack: Stack, network: str) -> None:
    """A server as openstack.compute.Instance(networks=[{"uuid": network.id}]) sends it."""
    stack.add("openstack:compute/instance:Instance", "jumphost", parent="kz", provider="astana-openstack",
              depends_on=[network], inputs={"name": "jumphost", "flavorName": "STD3-2-4", "imageName": "ubuntu-24.04",
                                            "networks": [{"uuid": f"{network}-id"}]})


def test_pci001_rejects_raw_server_on_the_cardholder_network(pack):
    stack = with_cards(compliant())
    _raw_vm(stack, "astana-cardholder-network")
    assert check(pack, stack) == {("MDC-PCI-001", "cards-db-astana")}


def test_pci001_accepts_raw_server_on_the_site_network(pack):
    stack = with_cards(compliant())
    _raw_vm(stack, "astana-network")
    assert check(pack, stack) == set()


def test_bak004_rejects_retention_of_zero_however_spelled(pack):
    stack = compliant()
    stack.set_props("core-db-backup-almaty", daily="0", weekly=-4, monthly=None)
    stack.set_props("documents-backup-almaty", daily=None, weekly=None, monthly=None, retention={"daily": 0})
    stack.set_inputs("core-db-backup-almaty-vault", lifecycle_days=0)
    assert check(pack, stack) == {("MDC-BAK-004", "core-db-backup-almaty"), ("MDC-BAK-004", "documents-backup-almaty"),
                                  ("MDC-BAK-004", "core-db-backup-almaty-vault")}


def test_bak004_accepts_retention_spelled_as_text_or_nested(pack):
    stack = compliant()
    stack.set_props("core-db-backup-almaty", daily="7", weekly=None, monthly=None)
    stack.set_props("documents-backup-almaty", daily=None, weekly=None, monthly=None, retention={"weekly": 4})
    assert check(pack, stack) == set()
