"""Every policy of the pack, through the real pack process: one compliant and at least one
non-compliant fixture each, asserting the exact set of (policy ID, resource) violations."""

from __future__ import annotations

from typing import Any

import pytest

from multidc.components.common import placement_props
from multidc.plan.analyzer import PolicyPackProcess
from multidc.plan.graph import SECRET_MASK
from multidc.spec import load_stack

from .fixtures import Stack, compliant, container, cron_job, deployment, found, with_archive_host, with_cards
from multidc.contract import SITE


def check(pack: PolicyPackProcess, stack: Stack) -> set[tuple[str, str]]:
    return found(pack.analyze(stack.graph()))


def check_with(config: dict[str, Any], stack: Stack) -> set[tuple[str, str]]:
    with PolicyPackProcess(config=config) as configured:
        return found(configured.analyze(stack.graph()))


def test_compliant_platform_violates_no_policy(pack):
    report = pack.analyze(compliant().graph())
    assert report.violations == ()
    assert report.summary.passed == report.summary.policies_run == 36


def test_compliant_payment_card_system_violates_no_policy(pack):
    assert check(pack, with_cards(compliant())) == set()


# --- disaster recovery ----------------------------------------------------------------------

def test_dr001_rejects_critical_system_with_every_copy_in_one_site(pack):
    stack = compliant()
    stack.remove("core-db-almaty")
    stack.remove("core-db-backup-almaty")
    stack.set_system("core-db", sites=["astana"], topology="single-site", replication=None, backup=None,
                     rpo_seconds=86400)
    assert check(pack, stack) == {("MDC-DR-001", "core-db-astana"), ("MDC-BAK-001", "core-db-astana")}


def test_dr001_accepts_single_site_system_with_offsite_backups(pack):
    stack = compliant()
    stack.remove("core-db-almaty")
    stack.set_system("core-db", sites=["astana"], topology="backup-only", replication=None, rpo_seconds=21600)
    assert check(pack, stack) == set()


def test_dr002_rejects_copies_closer_than_100_km(pack):
    stack = compliant()
    stack.set_props("almaty", latitude=51.30, longitude=71.90)  # ~35 km from Astana
    assert check(pack, stack) == {("MDC-DR-002", "core-db-astana"), ("MDC-DR-002", "documents-astana")}


def test_dr002_takes_min_distance_from_config():
    stack = compliant()  # Astana-Almaty is about 970 km
    assert check_with({"mdc-dr-002-site-distance": {"min_distance_km": 1000}}, stack) == {
        ("MDC-DR-002", "core-db-astana"), ("MDC-DR-002", "documents-astana")}


def test_dr003_rejects_every_copy_in_high_seismic_zone(pack):
    stack = compliant()
    stack.set_props("astana", seismic_zone="high")
    assert check(pack, stack) == {("MDC-DR-003", "core-db-astana"), ("MDC-DR-003", "documents-astana")}


def test_dr004_rejects_active_passive_system_without_standby(pack):
    stack = compliant()
    stack.remove("core-db-almaty")
    assert check(pack, stack) == {("MDC-DR-004", "core-db-astana")}


def test_dr005_rejects_rpo_zero_with_async_replication(pack):
    stack = compliant()
    stack.set_system("core-db", replication="async")
    assert check(pack, stack) == {("MDC-DR-005", "core-db-astana")}


def test_dr006_rejects_bucket_copy_running_less_often_than_rpo(pack):
    stack = compliant()
    stack.set_props("documents-copy-astana-to-almaty", schedule="0 * * * *")  # hourly, RPO 15m
    assert check(pack, stack) == {("MDC-DR-006", "documents-copy-astana-to-almaty")}


def test_dr006_rejects_backup_running_less_often_than_rpo_of_unreplicated_system(pack):
    stack = compliant()
    stack.remove("core-db-almaty")
    stack.set_system("core-db", sites=["astana"], topology="backup-only", replication=None, rpo_seconds=3600)
    assert check(pack, stack) == {("MDC-DR-006", "core-db-astana")}


# --- backups --------------------------------------------------------------------------------

def test_bak001_advises_a_backup_for_stateful_system_without_one(pack):
    stack = compliant()
    stack.remove("documents-backup-almaty")
    stack.set_system("documents", backup=None)
    report = pack.analyze(stack.graph())
    assert found(report) == {("MDC-BAK-001", "documents-astana")}
    assert [v.enforcement for v in report.violations] == ["advisory"]
    assert report.ok


def test_bak002_rejects_backup_policy_without_target_in_offsite_site(pack):
    stack = compliant()
    stack.remove("documents-backup-almaty")
    assert check(pack, stack) == {("MDC-BAK-002", "documents-astana")}


def test_bak002_rejects_backup_target_in_the_site_it_protects(pack):
    stack = compliant()
    stack.set_props("core-db-backup-almaty", site="astana")
    assert check(pack, stack) == {("MDC-BAK-002", "core-db-astana"), ("MDC-BAK-002", "core-db-backup-almaty")}


def test_bak003_rejects_critical_backups_immutable_for_under_14_days(pack):
    stack = compliant()
    stack.set_system("core-db", backup={**stack.nodes["core-db-astana"].inputs["backup"], "immutable_days": 7})
    assert check(pack, stack) == {("MDC-BAK-003", "core-db-astana")}


def test_bak003_rejects_vault_without_compliance_lock(pack):
    stack = compliant()
    stack.set_inputs("core-db-backup-almaty-vault", object_lock_mode="GOVERNANCE")
    assert check(pack, stack) == {("MDC-BAK-003", "core-db-backup-almaty-vault")}


def test_bak003_takes_min_immutable_days_from_config():
    assert check_with({"mdc-bak-003-immutable-copies": {"min_immutable_days": 60}}, compliant()) == {
        ("MDC-BAK-003", "core-db-astana"), ("MDC-BAK-003", "documents-astana")}


def test_bak004_rejects_backups_that_keep_no_copy(pack):
    stack = compliant()
    stack.set_props("core-db-backup-almaty", daily=0, weekly=0, monthly=0)
    assert check(pack, stack) == {("MDC-BAK-004", "core-db-backup-almaty")}


# --- data residency -------------------------------------------------------------------------

def test_res001_rejects_personal_data_placed_outside_kazakhstan(pack):
    stack = compliant()
    stack.set_props("almaty", country="UZ")
    assert check(pack, stack) == {("MDC-RES-001", "core-db-astana"), ("MDC-RES-001", "documents-astana")}


def test_res001_rejects_personal_data_backed_up_outside_kazakhstan(pack):
    stack = compliant()
    stack.component(SITE, "bishkek", {
        **stack.nodes["almaty"].inputs, "site": "bishkek", "country": "KG", "latitude": 42.8746,
        "longitude": 74.5698, "seismic_zone": "moderate"}, parent="kz")
    stack.set_system("core-db", backup={**stack.nodes["core-db-astana"].inputs["backup"], "offsite_site": "bishkek"})
    stack.set_props("core-db-backup-almaty", site="bishkek", offsite_site="bishkek")
    assert check(pack, stack) == {("MDC-RES-001", "core-db-astana")}


def test_res001_takes_allowed_countries_from_config():
    assert check_with({"mdc-res-001-personal-data-residency": {"allowed_countries": ["UZ"]}}, compliant()) == {
        ("MDC-RES-001", "core-db-astana"), ("MDC-RES-001", "documents-astana")}


# --- network and access ---------------------------------------------------------------------

def test_net001_rejects_ssh_open_to_the_world(pack):
    stack = compliant()
    stack.set_inputs("astana-internal-ssh-10.10.0.0_16", remoteIpPrefix="0.0.0.0/0")
    assert check(pack, stack) == {("MDC-NET-001", "astana-internal-ssh-10.10.0.0_16")}


def test_net001_rejects_port_range_covering_postgres_open_to_ipv6_world(pack):
    stack = compliant()
    stack.set_inputs("almaty-web-https", ethertype="IPv6", portRangeMin=5000, portRangeMax=5500,
                     remoteIpPrefix="::/0")
    assert check(pack, stack) == {("MDC-NET-001", "almaty-web-https")}


def test_net001_rejects_any_protocol_rule_without_remote_prefix(pack):
    stack = compliant()
    stack.set_inputs("astana-web-https", protocol=None, portRangeMin=None, portRangeMax=None, remoteIpPrefix=None)
    assert check(pack, stack) == {("MDC-NET-001", "astana-web-https")}


def test_net001_takes_protected_ports_from_config():
    assert check_with({"mdc-net-001-admin-ports-closed": {"ports": [443]}}, compliant()) == {
        ("MDC-NET-001", "astana-web-https"), ("MDC-NET-001", "almaty-web-https")}


def test_net002_rejects_floating_ip_on_database(pack):
    stack = compliant()
    stack.add("openstack:networking/floatingIpAssociate:FloatingIpAssociate", "core-db-astana-fip",
              parent="core-db-astana", provider="astana-openstack",
              inputs={"floatingIp": "203.0.113.10", "portId": "core-db-astana-port"})
    assert check(pack, stack) == {("MDC-NET-002", "core-db-astana-fip")}


def test_net002_rejects_database_on_external_network(pack):
    stack = compliant()
    stack.set_inputs("core-db-almaty-0", networks=[{"uuid": "ext-net-almaty"}])
    assert check(pack, stack) == {("MDC-NET-002", "core-db-almaty-0")}


def test_net003_rejects_public_bucket(pack):
    stack = compliant()
    stack.set_inputs("documents-almaty-bucket", public=True)
    assert check(pack, stack) == {("MDC-NET-003", "documents-almaty-bucket")}


def test_net004_rejects_aes_128_ike_policy(pack):
    stack = compliant()
    stack.set_inputs("astana-almaty-vpn-astana-ike", encryptionAlgorithm="aes-128")
    assert check(pack, stack) == {("MDC-NET-004", "astana-almaty-vpn-astana-ike")}


def test_net004_rejects_ipsec_policy_left_on_neutron_default_pfs(pack):
    stack = compliant()
    stack.set_inputs("astana-almaty-vpn-almaty-ipsec", pfs=None)  # Neutron's default: group5
    assert check(pack, stack) == {("MDC-NET-004", "astana-almaty-vpn-almaty-ipsec")}


# --- secrets --------------------------------------------------------------------------------

def test_sec001_rejects_password_input_that_is_not_a_secret(pack):
    stack = compliant()
    stack.add("pulumi-python:dynamic:Resource", "registry-login", parent="kz",
              inputs={"username": "robot", "password": "hunter2"})
    assert check(pack, stack) == {("MDC-SEC-001", "registry-login")}


def test_sec001_accepts_password_input_that_is_a_secret(pack):
    stack = compliant()
    stack.add("pulumi-python:dynamic:Resource", "registry-login", parent="kz", secret_inputs=["password"],
              inputs={"username": "robot", "password": SECRET_MASK})
    assert check(pack, stack) == set()


def test_sec002_rejects_password_as_literal_environment_value(pack):
    stack = compliant()
    leaky = container("web", "nginxinc/nginx-unprivileged:1.27.1", readinessProbe={"tcpSocket": {"port": 8080}},
                      livenessProbe={"tcpSocket": {"port": 8080}}, env=[{"name": "PGPASSWORD", "value": "hunter2"}])
    stack.set_inputs("web", spec=deployment("web", leaky)["spec"])
    assert check(pack, stack) == {("MDC-SEC-002", "web")}


def test_sec002_rejects_credential_in_config_map(pack):
    stack = compliant()
    stack.add("kubernetes:core/v1:ConfigMap", "web-config", parent="kz", provider="ops-k8s",
              inputs={"metadata": {"name": "web"}, "data": {"DB_HOST": "db", "DB_PASSWORD": "hunter2"}})
    assert check(pack, stack) == {("MDC-SEC-002", "web-config")}


def test_sec003_rejects_generated_password_that_is_not_secret(pack):
    stack = compliant()
    stack.add("random:index/randomString:RandomString", "admin-password", parent="kz", provider="astana-random",
              inputs={"length": 24})
    assert check(pack, stack) == {("MDC-SEC-003", "admin-password")}


# --- PCI DSS --------------------------------------------------------------------------------

def test_pci001_rejects_card_database_on_a_shared_network(pack):
    stack = with_cards(compliant())
    stack.set_dependencies("cards-db-astana-0", ["astana-network", "cards-db-astana-tls-only"])
    stack.set_inputs("cards-db-astana-0", networks=[{"uuid": "astana-network-id"}])
    assert check(pack, stack) == {("MDC-PCI-001", "cards-db-astana")}


def test_pci002_rejects_card_database_on_unencrypted_volume_type(pack):
    stack = with_cards(compliant())
    stack.set_inputs("cards-db-almaty-0", volumeType=None)
    assert check(pack, stack) == {("MDC-PCI-002", "cards-db-almaty-0")}


def test_pci002_takes_encrypted_volume_types_from_config():
    config = {"mdc-pci-002-encrypted-at-rest": {"encrypted_volume_types": ["ceph-ssd-luks"]}}
    assert check_with(config, with_cards(compliant())) == {
        ("MDC-PCI-002", "cards-db-astana-0"), ("MDC-PCI-002", "cards-db-almaty-0")}


def test_pci_accepts_the_card_systems_archive_host_on_the_cardholder_segment_encrypted(pack):
    assert check(pack, with_archive_host(with_cards(compliant()))) == set()


def test_pci001_rejects_an_archive_host_of_card_data_on_the_shared_network(pack):
    # It holds a copy of cards-db's data: on the site network core-db's standby uses, both are in scope.
    stack = with_archive_host(with_cards(compliant()), network="almaty-network")
    assert check(pack, stack) == {("MDC-PCI-001", "cards-db-backup-almaty-archive-host")}


def test_pci002_rejects_an_archive_host_of_card_data_on_an_unencrypted_boot_disk(pack):
    stack = with_archive_host(with_cards(compliant()))
    server = "cards-db-backup-almaty-archive-host-server"
    boot, data = stack.nodes[server].inputs["blockDevices"]
    stack.set_inputs(server, blockDevices=[{**boot, "volumeType": None}, data])
    assert check(pack, stack) == {("MDC-PCI-002", server)}


def test_pci003_rejects_card_database_without_tls_configuration(pack):
    stack = with_cards(compliant())
    stack.remove("cards-db-astana-tls-only")
    stack.set_dependencies("cards-db-astana-0", ["astana-cardholder-network"])
    stack.set_inputs("cards-db-astana-0", configurationId=None)
    # The same group carries the parameters of its logical replication (MDC-REP-002).
    assert check(pack, stack) == {("MDC-PCI-003", "cards-db-astana-0"), ("MDC-REP-002", "cards-db-astana-0")}


def test_pci003_rejects_plain_http_listener_in_front_of_card_system(pack):
    stack = with_cards(compliant())
    stack.add("openstack:loadbalancer/listener:Listener", "cards-db-almaty-listener", parent="cards-db-almaty",
              provider="almaty-openstack", inputs={"protocol": "HTTP", "protocolPort": 80})
    assert check(pack, stack) == {("MDC-PCI-003", "cards-db-almaty-listener")}


# --- Kubernetes workloads ---------------------------------------------------------------------

def job_with(**changes: Any) -> dict[str, Any]:
    """The inputs of a CronJob whose one container has `changes`."""
    return cron_job("job", "0 3 * * *", {**container(), **changes})


def test_k8s001_rejects_container_without_memory_limit(pack):
    stack = compliant()
    stack.set_inputs("core-db-backup-almaty-dump", spec=job_with(
        resources={"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "500m"}})["spec"])
    assert check(pack, stack) == {("MDC-K8S-001", "core-db-backup-almaty-dump")}


def test_k8s002_rejects_privileged_container(pack):
    stack = compliant()
    context = {**container()["securityContext"], "privileged": True}
    stack.set_inputs("core-db-backup-almaty-dump", spec=job_with(securityContext=context)["spec"])
    assert check(pack, stack) == {("MDC-K8S-002", "core-db-backup-almaty-dump")}


def test_k8s003_rejects_container_running_as_uid_0(pack):
    stack = compliant()
    context = {**container()["securityContext"], "runAsNonRoot": False, "runAsUser": 0}
    stack.set_inputs("core-db-backup-almaty-dump", spec=job_with(securityContext=context)["spec"])
    assert check(pack, stack) == {("MDC-K8S-003", "core-db-backup-almaty-dump")}


def test_k8s003_rejects_pod_that_does_not_ask_for_non_root(pack):
    stack = compliant()
    spec = deployment("web")["spec"]
    spec["template"]["spec"]["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}}
    for served in spec["template"]["spec"]["containers"]:
        del served["securityContext"]["runAsNonRoot"], served["securityContext"]["runAsUser"]
    stack.set_inputs("web", spec=spec)
    assert check(pack, stack) == {("MDC-K8S-003", "web")}


def test_k8s004_advises_probes_on_deployment_containers(pack):
    stack = compliant()
    stack.set_inputs("web", spec=deployment("web", container("web", "nginxinc/nginx-unprivileged:1.27.1"))["spec"])
    report = pack.analyze(stack.graph())
    assert found(report) == {("MDC-K8S-004", "web")}
    assert report.ok  # advisory


def test_k8s005_rejects_latest_tag(pack):
    stack = compliant()
    stack.set_inputs("core-db-backup-almaty-dump", spec=job_with(image="rclone/rclone:latest")["spec"])
    assert check(pack, stack) == {("MDC-K8S-005", "core-db-backup-almaty-dump")}


def test_k8s005_rejects_untagged_image_from_registry_with_port(pack):
    stack = compliant()
    stack.set_inputs("core-db-backup-almaty-dump", spec=job_with(image="registry.local:5000/rclone")["spec"])
    assert check(pack, stack) == {("MDC-K8S-005", "core-db-backup-almaty-dump")}


def test_k8s005_accepts_image_pinned_by_digest(pack):
    stack = compliant()
    stack.set_inputs("core-db-backup-almaty-dump",
                     spec=job_with(image="rclone/rclone@sha256:" + "a" * 64)["spec"])
    assert check(pack, stack) == set()


# --- the pack's precondition ------------------------------------------------------------------

def test_pack001_reports_component_without_contract_outputs_and_nothing_passes_unseen(pack):
    stack = compliant()
    stack.set_outputs("almaty", {"network_id": "almaty-network-id"})  # what Site registers today
    assert check(pack, stack) == {
        ("MDC-PACK-001", "almaty"),
        ("MDC-DR-002", "core-db-astana"), ("MDC-DR-002", "documents-astana"),
        ("MDC-RES-001", "core-db-astana"), ("MDC-RES-001", "documents-astana"),
    }


@pytest.mark.parametrize("system, site", [("core-db", "astana"), ("core-db", "almaty"), ("documents", "almaty")])
def test_fixture_placements_carry_every_property_the_components_register(system, site):
    platform = load_stack("kz-prod")
    registered = {key for key, value in placement_props(platform, platform.system(system), site).items()
                  if value is not None}  # the SDK sends no key for None
    fixture = compliant().nodes[f"{system}-{site}"].inputs
    assert registered <= set(fixture), f"{system}-{site} lacks {sorted(registered - set(fixture))}"
