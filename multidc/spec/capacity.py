"""A site's quota: what its project may use, so that a failover that would not fit is found in the plan.

Declared per site under ``quota`` (every limit optional: an absent one is not checked):

    quota: {vcpus: 200, ram_gb: 800, instances: 40, volume_gb: 20000, floating_ips: 10, gpus: 4}

`multidc plan --read-quotas` reads the same limits from each site's cloud (multidc.dr.cloud_quota)
and judges with those, showing where the declared ones differ.

Flavor sizes come from the flavor's name where it follows the providers' pattern
``<family>-<vCPUs>-<RAM GB>`` (``STD3-4-8``, ``DB-8-32``, ``GPU-A100-40-12-96``: the last two
numbers), or from ``quota.flavors`` for any other name or to correct one:

    quota: {vcpus: 200, flavors: {m1.large: {vcpus: 4, ram_gb: 8}}}
"""

from __future__ import annotations

from typing import Annotated, Optional

from pydantic import Field

from multidc.spec.scalars import SpecModel

Count = Annotated[int, Field(ge=0)]


class FlavorSize(SpecModel):
    """What one server of a flavor takes from the quota."""

    vcpus: Annotated[int, Field(ge=1)]
    ram_gb: Annotated[float, Field(gt=0)]
    gpus: Count = 0


class Quota(SpecModel):
    """The limits of the site's project (OpenStack compute, volume and network quotas)."""

    vcpus: Optional[Count] = None
    ram_gb: Optional[Count] = None
    instances: Optional[Count] = None
    volume_gb: Optional[Count] = None
    floating_ips: Optional[Count] = None
    gpus: Optional[Count] = None
    flavors: dict[str, FlavorSize] = Field(
        {}, description="sizes of flavors whose name does not read <family>-<vCPUs>-<RAM GB>")
