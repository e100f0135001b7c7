"""multidc's CrossGuard policy pack: every policy, listed here and nowhere else.

Run by the Pulumi CLI (`pulumi preview --policy-pack policies`) and by `multidc plan`
(`multidc.plan.analyzer`), which start this program the same way. Policy names carry the
stable ID: `mdc-dr-002-site-distance` is MDC-DR-002. See docs/policies.md.
"""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

try:
    import multidc.contract  # noqa: F401 - installed: `multidc plan` runs the pack with the project's interpreter
except ImportError:
    # `pulumi preview --policy-pack policies` runs the pack in its own virtualenv, from this folder: the
    # contract module is taken from the project's source, found as the Pulumi CLI finds a project.
    here = Path.cwd().resolve()
    sys.path.insert(0, str(next((d for d in (here, *here.parents) if (d / "Pulumi.yaml").is_file()), here.parent)))

from mdc import backups, contract, dns, dr, kubernetes, network, pci, pod_security, replication, residency, secrets, waivers, wire

wire.install()  # decode each resource once per request, not once per policy

PolicyPack(
    name="multidc",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        contract.component_contract,
        waivers.waivers_valid,
        dr.two_sites,
        dr.site_distance,
        dr.seismic_zones,
        dr.standby_placed,
        dr.zero_rpo_sync,
        dr.loss_window,
        backups.backup_policy,
        backups.offsite_copy,
        backups.immutable_copies,
        backups.retention,
        residency.personal_data_residency,
        network.admin_ports_closed,
        network.database_private,
        network.bucket_private,
        network.vpn_crypto,
        network.service_exposure,
        secrets.credentials_secret,
        secrets.kubernetes_plaintext,
        secrets.generated_secret,
        pci.cardholder_segment,
        pci.encrypted_at_rest,
        pci.tls_only,
        kubernetes.resource_limits,
        pod_security.not_privileged,
        pod_security.non_root,
        kubernetes.probes,
        kubernetes.pinned_images,
        pod_security.host_access,
        pod_security.seccomp,
        dns.ttl_within_rto,
        replication.replication_realised,
        replication.trove_logical_parameters,
        # Last of each kind: the SDK runs policies in this order, and these show what the
        # policies above set aside under a waiver during the same request.
        waivers.waived_findings,
        waivers.waived_stack_findings,
    ],
)
