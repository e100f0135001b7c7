"""Each site's quota as its cloud states it, read through openstacksdk (`multidc plan --read-quotas`).

For the project of each site's clouds.yaml entry (`cloud.profile`, default the site's name):

- compute (Nova `os-quota-sets`): cores, RAM (MiB, counted in whole GB), instances;
- block storage (Cinder `os-quota-sets`): gigabytes;
- network (Neutron `quotas`): floating IPs;
- GPUs: where a GPU flavor the site boots asks for a resource class in its extra specs
  (`resources:VGPU=1`, `resources:CUSTOM_A100=1`), the project's unified limit of that class
  in Keystone (`class:<RESOURCE CLASS>`, Nova's unified limits); without one, GPUs are not read.

A limit of -1 (unlimited) is no limit. Flavor sizes stay the spec's (name or `quota.flavors`).
Proven here against a small local HTTP server that answers the Keystone, Nova, Cinder and
Neutron calls openstacksdk makes (tests/dr/test_cloud_quota.py): a unit test of this code, not of
a cloud. A real cloud's answers were not read on this machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from multidc.spec import Platform
from multidc.spec.capacity import Quota

RESOURCE_PREFIX = "resources:"
UNIFIED_LIMIT_PREFIX = "class:"


class QuotaReadError(RuntimeError):
    """A site's quota could not be read; the message names the site, the cloud and the fix."""


@dataclass(frozen=True)
class CloudQuota:
    """What one site's cloud says its project may use, and what could not be read."""

    site: str
    profile: str
    quota: Quota
    notes: tuple[str, ...] = ()


def _limit(value: Any) -> Optional[int]:
    return None if value is None or int(value) < 0 else int(value)


def _gpu_limit(conn: Any, project: str, flavors: Sequence[str]) -> tuple[Optional[int], list[str]]:
    classes: set[str] = set()
    for name in flavors:
        flavor = conn.compute.find_flavor(name, ignore_missing=True)
        if flavor is None:
            return None, [f"GPU flavor {name} is not offered by this cloud: GPUs not read"]
        specs = conn.compute.fetch_flavor_extra_specs(flavor).extra_specs or {}
        classes |= {key[len(RESOURCE_PREFIX):] for key in specs if key.startswith(RESOURCE_PREFIX)
                    and key[len(RESOURCE_PREFIX):] not in ("VCPU", "MEMORY_MB", "DISK_GB")}
    if not classes:
        return None, ([f"no GPU flavor ({', '.join(flavors)}) names a resource class in its extra specs: GPUs "
                       "not read"] if flavors else [])
    limits = {limit.resource_name: limit.resource_limit for limit in conn.identity.limits(project_id=project)}
    missing = sorted(rc for rc in classes if f"{UNIFIED_LIMIT_PREFIX}{rc}" not in limits)
    if missing:
        return None, [f"no unified limit in Keystone for {', '.join(UNIFIED_LIMIT_PREFIX + rc for rc in missing)}: "
                      "GPUs not read"]
    values = [_limit(limits[f"{UNIFIED_LIMIT_PREFIX}{rc}"]) for rc in sorted(classes)]
    return (None if None in values else sum(v for v in values if v is not None)), []


def read_quota(conn: Any, site: str, profile: str, gpu_flavors: Sequence[str] = ()) -> CloudQuota:
    """The quota of the connection's project (openstacksdk Connection)."""
    project = conn.current_project_id
    compute = conn.compute.get_quota_set(project)
    volume = conn.block_storage.get_quota_set(project)
    network = conn.network.get_quota(project)
    ram_mb = _limit(compute.ram)
    gpus, notes = _gpu_limit(conn, project, gpu_flavors)
    quota = Quota(vcpus=_limit(compute.cores), ram_gb=None if ram_mb is None else ram_mb // 1024,
                  instances=_limit(compute.instances), volume_gb=_limit(volume.gigabytes),
                  floating_ips=_limit(network.floating_ips), gpus=gpus)
    return CloudQuota(site, profile, quota, tuple(notes))


def _connect(profile: str, region: str) -> Any:
    import openstack

    return openstack.connect(cloud=profile, region_name=region)


def gpu_flavors(platform: Platform, site: str) -> list[str]:
    """The GPU pool flavors systems boot in `site` (their GPUs count against a resource class)."""
    return sorted({pool.flavor for system in platform.systems if site in system.sites and system.size
                   for pool in system.size.gpu_pools})


def read_quotas(platform: Platform, clouds: Optional[list[str]] = None,
                connect: Callable[[str, str], Any] = _connect) -> dict[str, CloudQuota]:
    """Every site's quota from its cloud; QuotaReadError for the first site that cannot be read."""
    from multidc.spec.cloud import configured_clouds

    clouds = configured_clouds() if clouds is None else clouds
    read = {}
    for site in platform.sites:
        profile = site.cloud.profile or site.name
        if profile not in clouds:
            raise QuotaReadError(
                f"--read-quotas: site {site.name} has no clouds.yaml entry '{profile}' (sites.{site.name}.cloud."
                f"profile, default the site's name); known entries: {', '.join(clouds) or 'none'}. Add it "
                "(clouds.yaml or OS_CLIENT_CONFIG_FILE), or plan with the declared quotas (no --read-quotas)")
        try:
            read[site.name] = read_quota(connect(profile, site.cloud.region), site.name, profile,
                                         gpu_flavors(platform, site.name))
        except QuotaReadError:
            raise
        except Exception as error:  # noqa: BLE001 - keystoneauth and openstacksdk raise many kinds
            raise QuotaReadError(
                f"--read-quotas: site {site.name}: the quota of clouds.yaml entry '{profile}' could not be read "
                f"({type(error).__name__}: {error}); check that the cloud answers from here and the credentials "
                "may read quotas, or plan with the declared quotas (no --read-quotas)") from None
    return read
