"""A group of identical VMs of one system in one site, spread over hosts and zones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_openstack as openstack

from multidc import spec
from multidc.components.common import WARM_STANDBY, placement_props, warm_standby_count
from multidc.components.site import Site
from multidc.contract import TAG_ROLE, TAG_SITE, TAG_SYSTEM, VM_GROUP


@dataclass(frozen=True)
class VmGroupArgs:
    """A vm-group system's placement in one site."""

    platform: spec.Platform
    system: spec.System
    site: Site


class VmGroup(pulumi.ComponentResource):
    """VMs booted from volumes, one per host (anti-affinity), round-robin over the site's zones."""

    instance_ids: list[pulumi.Output[str]]
    addresses: list[pulumi.Output[str]]
    """Fixed IPv4 address of each VM on the site network."""

    def __init__(self, name: str, args: VmGroupArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        system, site, size = args.system, args.site, args.system.size
        props = placement_props(args.platform, system, site.name)
        count = warm_standby_count(size.count) if props["scale"] == WARM_STANDBY else size.count
        contract = {
            **props, "flavor": size.flavor, "volume_gb": size.volume_gb, "image": size.image,
            "node_count": count, "full_node_count": size.count,
        }
        super().__init__(VM_GROUP, name, contract, opts)
        on_site = pulumi.ResourceOptions(parent=self, provider=site.provider)
        image = openstack.images.get_image_output(
            name=size.image, most_recent=True, opts=pulumi.InvokeOutputOptions(parent=self, provider=site.provider))
        groups = [site.internal_security_group]
        if site.web_security_group is not None:
            groups.append(site.web_security_group)

        instances = []
        for index in range(count):
            instances.append(openstack.compute.Instance(
                f"{name}-{index}",
                name=f"{args.platform.name}-{name}-{index}",
                flavor_name=size.flavor,
                availability_zone=site.availability_zones[index % len(site.availability_zones)],
                block_devices=[{
                    "source_type": "image",
                    "uuid": image.id,
                    "destination_type": "volume",
                    "volume_size": size.volume_gb,
                    "boot_index": 0,
                    "delete_on_termination": True,
                }],
                networks=[{"uuid": site.network_id}],
                security_groups=groups,
                scheduler_hints=[{"group": site.server_groups[system.name]}],
                metadata={TAG_SYSTEM: system.name, TAG_SITE: site.name, TAG_ROLE: props["role"]},
                opts=on_site,
            ))
        self.instance_ids = [instance.id for instance in instances]
        self.addresses = [instance.access_ip_v4 for instance in instances]
        self.register_outputs({**contract, "instance_ids": self.instance_ids, "addresses": self.addresses})
