"""Distances between sites, failure domains, and which sites one earthquake takes out."""

from __future__ import annotations

import math
from dataclasses import dataclass

from multidc.spec import Location, Platform, SeismicZone

from .assumptions import figures

EARTH_RADIUS_KM = 6371.0


def distance_km(a: Location, b: Location) -> float:
    """Great-circle distance (haversine) between two locations."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def failure_domains(platform: Platform, min_distance_km: float | None = None) -> list[frozenset[str]]:
    """Groups of sites that fail together: sites closer than `min_distance_km`, transitively.

    Default: the stack's FAILURE_DOMAIN_KM (multidc.dr.assumptions, or what its spec declares).
    """
    if min_distance_km is None:
        min_distance_km = figures(platform).value("FAILURE_DOMAIN_KM")
    domain = {site.name: {site.name} for site in platform.sites}
    for i, a in enumerate(platform.sites):
        for b in platform.sites[i + 1:]:
            if distance_km(a.location, b.location) < min_distance_km and domain[a.name] is not domain[b.name]:
                merged = domain[a.name] | domain[b.name]
                for name in merged:
                    domain[name] = merged
    seen: list[frozenset[str]] = []
    for site in platform.sites:
        group = frozenset(domain[site.name])
        if group not in seen:
            seen.append(group)
    return seen


@dataclass(frozen=True)
class Quake:
    """One earthquake: its epicentre (a site) and every site it takes out, with why."""

    epicentre: str
    lost: frozenset[str]
    why: str


def earthquakes(
    platform: Platform,
    *,
    radius_km: float | None = None,
    region_km: float | None = None,
    min_distance_km: float | None = None,
) -> list[Quake]:
    """One earthquake centred on each site, with a distinct set of lost sites each.

    Lost together: sites within `radius_km` of the epicentre; if the epicentre is in a
    high seismic zone, every other high-zone site within `region_km` (same fault system);
    then every site sharing a failure domain with a lost one. Each default is the stack's figure
    (EARTHQUAKE_RADIUS_KM, SEISMIC_REGION_KM, FAILURE_DOMAIN_KM).
    """
    table = figures(platform)
    radius_km = table.value("EARTHQUAKE_RADIUS_KM") if radius_km is None else radius_km
    region_km = table.value("SEISMIC_REGION_KM") if region_km is None else region_km
    domains = failure_domains(platform, min_distance_km)
    quakes: list[Quake] = []
    for centre in platform.sites:
        lost = {centre.name}
        reasons = []
        for site in platform.sites:
            if site is centre:
                continue
            km = distance_km(centre.location, site.location)
            if km <= radius_km:
                lost.add(site.name)
                reasons.append(f"{site.name} {km:.0f} km away")
            elif (centre.location.seismic_zone is SeismicZone.high and site.location.seismic_zone is SeismicZone.high
                  and km <= region_km):
                lost.add(site.name)
                reasons.append(f"{site.name} in the same high seismic zone {km:.0f} km away")
        for group in domains:
            if group & lost and not group <= lost:
                reasons.append(f"{', '.join(sorted(group - lost))} in one failure domain with a lost site")
                lost |= group
        why = f"epicentre {centre.location.city} ({centre.location.seismic_zone.value} seismic zone)"
        if reasons:
            why += "; also lost: " + "; ".join(reasons)
        if all(q.lost != frozenset(lost) for q in quakes):
            quakes.append(Quake(centre.name, frozenset(lost), why))
    return quakes


def witness_problem(platform: Platform, sites: tuple[str, str] | None = None,
                    min_distance_km: float | None = None) -> str | None:
    """Why the spec's witness cannot vote on automatic failover, or None if it can.

    A witness must exist and sit in a third location: not within `min_distance_km` of
    either site of the pair (default: the primary and every other site), or a disaster
    that takes out a site would take out the witness too, and a partition would leave
    the witness on one side of it. Default distance: the stack's FAILURE_DOMAIN_KM.
    """
    if min_distance_km is None:
        min_distance_km = figures(platform).value("FAILURE_DOMAIN_KM")
    witness = platform.witness
    if witness is None:
        return ("no witness in the spec: a lost interconnect looks exactly like a lost site, so automatic "
                "failover would risk two primaries; add `witness:` (a third location) to allow it")
    names = sites or tuple(site.name for site in platform.sites)
    for name in names:
        km = distance_km(witness.location, platform.site(name).location)
        if km < min_distance_km:
            return (f"witness {witness.name} is {km:.0f} km from site {name}, closer than {min_distance_km:.0f} km: "
                    "it is not a third location; move it")
    return None
