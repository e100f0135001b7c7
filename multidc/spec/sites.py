"""Sites: where each site's cloud is, where it stands, the witness and the interconnect."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal, Optional

from pydantic import Field

from multidc.spec.capacity import Quota
from multidc.spec.scalars import Cidr, DnsZone, Name, SpecModel, Url


class SiteRole(str, Enum):
    primary = "primary"
    secondary = "secondary"
    backup = "backup"


class SeismicZone(str, Enum):
    low = "low"
    moderate = "moderate"
    high = "high"


class Cloud(SpecModel):
    """Where a site's OpenStack API is, and which project the platform lives in."""

    auth_url: Url
    region: str
    project: str
    domain: str = "Default"
    profile: Optional[str] = Field(
        None, description="clouds.yaml entry holding this site's credentials (defaults to the site's name)")
    on_prem: bool = Field(False, description="the customer's own OpenStack (hybrid stacks)")
    external_network: str = Field("ext-net", description="the provider network routers use as their gateway")
    dns_zone: Optional[DnsZone] = Field(None, description="Designate zone for service names, e.g. 'bank.kz.'")
    encrypted_volume_type: str = Field(
        "encrypted", description="the Cinder volume type with encryption at rest (LUKS), used for card data")


class Location(SpecModel):
    city: str
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    seismic_zone: SeismicZone = SeismicZone.low


class Catalogue(SpecModel):
    """What a site's cloud offers: every flavor and image a system there uses must be listed.

    Declared in the spec so a typo or a flavor only the other site has is refused at load,
    not by Nova at `pulumi up`; `pulumi preview` also checks it against the cloud itself
    when a clouds.yaml entry for the site exists (multidc/spec/cloud.py).
    """

    flavors: list[str] = []
    images: list[str] = []


class Site(SpecModel):
    name: Name
    role: SiteRole
    cloud: Cloud
    location: Location
    cidr: Cidr
    availability_zones: Annotated[list[str], Field(min_length=1)] = ["nova"]
    s3_endpoint: Url
    catalogue: Optional[Catalogue] = Field(
        None, description="the flavors and images this site offers; when given, systems may use only these")
    quota: Optional[Quota] = Field(None, description="the project's quota here; the plan checks failovers fit it")


class Witness(SpecModel):
    """A third location that votes on automatic failover, so a partition is not taken for a fire."""

    name: Name
    location: Location
    endpoint: Url


class IpsecPolicy(SpecModel):
    encryption: Literal["aes-256", "aes-192", "aes-128"] = "aes-256"
    auth: Literal["sha256", "sha384", "sha512", "sha1"] = "sha256"
    pfs: Literal["group14", "group15", "group16", "group19", "group20", "group21", "group5", "group2"] = "group14"
    ike_version: Literal["v1", "v2"] = "v2"
    lifetime_seconds: Annotated[int, Field(ge=600, le=86400)] = 3600


class Interconnect(SpecModel):
    kind: Literal["ipsec-vpn"] = "ipsec-vpn"
    ipsec: IpsecPolicy = IpsecPolicy()

