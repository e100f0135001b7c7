"""The server of a self-managed PostgreSQL host in one site: the archive host and the delayed standby.

Both hold a copy of their system's data, so both are declared the same way:

* a data volume of the system's ``volume_gb``, attached at boot (cloud-init finds it) and kept when the
  server is replaced (``delete_on_termination`` false), and a boot disk from the system's image;
* card data (``payment-card``) on the cardholder network and on the encrypted volume type, boot disk
  included (PCI DSS segmentation and requirement 3: the policy pack's MDC-PCI rules count these hosts as
  holding their system's data);
* a security group of its own with no rule: nothing comes in, the host connects out (to the primary, to
  the vault);
* ``user_data`` a Pulumi secret (it carries S3 keys, and the archive host the primary's password).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import pulumi
import pulumi_openstack as openstack

from multidc import spec
from multidc.components.database import holds_card_data
from multidc.components.site import Site

BOOT_VOLUME_GB = 20


@dataclass(frozen=True)
class PgServer:
    """What ``pg_server`` declared: the server, its data volume and its address on the site network."""

    server: openstack.compute.Instance
    data: openstack.blockstorage.Volume
    user_data: pulumi.Output[str]

    @property
    def address(self) -> pulumi.Output[str]:
        return self.server.access_ip_v4


def pg_server(name: str, *, platform: spec.Platform, system: spec.System, site: Site, parent: pulumi.Resource,
              tags: dict[str, str], what: str, render: Callable[[str], pulumi.Output[str]],
              depends_on: Sequence[pulumi.Resource] = ()) -> PgServer:
    """Declare the host's volume, closed security group and server; ``render(volume_id)`` gives its cloud-config.

    ``what`` says in the volume's and the group's descriptions what the host is for.
    """
    on_site = pulumi.ResourceOptions(parent=parent, provider=site.provider)
    card_data = holds_card_data(system)
    network_id = site.cardholder_network_id if card_data and site.cardholder_network_id is not None \
        else site.network_id
    zone = site.availability_zones[0]
    volume_type: Optional[str] = platform.site(site.name).cloud.encrypted_volume_type if card_data else None
    typed = {"volume_type": volume_type} if volume_type else {}
    data = openstack.blockstorage.Volume(
        f"{name}-data", name=f"{platform.name}-{name}-data", size=system.size.volume_gb, availability_zone=zone,
        volume_type=volume_type, description=f"multidc: {system.name}'s {what}", metadata=tags, opts=on_site)
    closed = openstack.networking.SecGroup(
        f"{name}-closed", name=f"{platform.name}-{name}",
        description=f"multidc: {what}: nothing inbound; it connects out", opts=on_site)
    user_data = pulumi.Output.secret(data.id.apply(render))
    image = openstack.images.get_image_output(
        name=system.size.image, most_recent=True, opts=pulumi.InvokeOutputOptions(parent=parent, provider=site.provider))
    server = openstack.compute.Instance(
        f"{name}-server",
        name=f"{platform.name}-{name}",
        flavor_name=system.size.flavor,
        availability_zone=zone,
        block_devices=[
            {"source_type": "image", "uuid": image.id, "destination_type": "volume",
             "volume_size": BOOT_VOLUME_GB, "boot_index": 0, "delete_on_termination": True, **typed},
            # Attached at boot, so cloud-init finds it; kept when the server is replaced.
            {"source_type": "volume", "uuid": data.id, "destination_type": "volume", "boot_index": -1,
             "delete_on_termination": False, **typed},
        ],
        networks=[{"uuid": network_id}],
        security_groups=[closed.name],
        user_data=user_data,
        metadata=tags,
        opts=pulumi.ResourceOptions.merge(on_site, pulumi.ResourceOptions(
            additional_secret_outputs=["user_data"], depends_on=list(depends_on))),
    )
    return PgServer(server, data, user_data)
