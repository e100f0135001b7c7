"""The platform: one stack's sites and systems, and the rules between them."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Optional

from pydantic import Field, model_validator

from multidc.spec.assumptions import Assumptions
from multidc.spec.errors import nearest
from multidc.spec.scalars import Name, SpecModel, duplicate_problems, raise_problems
from multidc.spec.sites import Interconnect, Site, SiteRole, Witness
from multidc.spec.systems import DATABASE_KINDS, REPLICATED, Kind, System, Topology
from multidc.spec.waivers import Waiver, waiver_problems


class Platform(SpecModel):
    """One stack: a platform across two or more sites."""

    name: Name
    sites: Annotated[list[Site], Field(min_length=2)]
    interconnect: Interconnect = Interconnect()
    witness: Optional[Witness] = None
    systems: Annotated[list[System], Field(min_length=1)]
    waivers: list[Waiver] = Field([], description="accepted exceptions to policies (the policy pack applies them)")
    assumptions: Optional[Assumptions] = Field(
        None, description="this stack's own values of the assessment's figures, each with its source")

    def site(self, name: str) -> Site:
        return next(site for site in self.sites if site.name == name)

    def system(self, name: str) -> System:
        return next(system for system in self.systems if system.name == name)

    @property
    def primary(self) -> Site:
        return next(site for site in self.sites if site.role is SiteRole.primary)

    def replicating_pairs(self) -> list[tuple[str, str]]:
        """Site pairs that carry replication or offsite backups, each once, in spec order."""
        order = [site.name for site in self.sites]
        pairs: set[tuple[str, str]] = set()
        for system in self.systems:
            linked = list(system.sites) if system.topology in REPLICATED else []
            if system.backup is not None:
                linked = list(dict.fromkeys([*system.sites, system.backup.offsite_site]))
            for i, a in enumerate(linked):
                for b in linked[i + 1:]:
                    pairs.add(tuple(sorted((a, b), key=order.index)))
        return sorted(pairs, key=lambda p: (order.index(p[0]), order.index(p[1])))

    @model_validator(mode="after")
    def _cross_field(self) -> "Platform":
        problems = self.reference_problems(self.model_dump(mode="json"))
        if not problems:
            problems = self._ml_placement_problems() + self._catalogue_problems() + self._zone_problems()
        raise_problems(problems)
        return self

    def _zone_problems(self) -> list[tuple[str, str]]:
        """The sites that name a DNS zone hold copies of one zone: the failover re-points names in each copy."""
        zoned = [site for site in self.sites if site.cloud.dns_zone]
        return [(f"sites.{site.name}.cloud.dns_zone",
                 f"'{site.cloud.dns_zone}' differs from '{zoned[0].cloud.dns_zone}' of site '{zoned[0].name}'; every "
                 "site holds a copy of the same zone of service names (a failover re-points them in each copy): "
                 "name the same zone") for site in zoned[1:] if site.cloud.dns_zone != zoned[0].cloud.dns_zone]

    def _ml_placement_problems(self) -> list[tuple[str, str]]:
        """MLflow writes where it runs; training reads only copies present in its site."""
        problems = []
        for system in self.systems:
            if system.ml is None:
                continue
            site, path = self.ml_site(system), f"systems.{system.name}.ml"
            if system.ml.mlflow is not None and system.ml.mlflow.enabled:
                for field in ("backend_db", "artifact_bucket"):
                    store = self.system(getattr(system.ml.mlflow, field))
                    if store.primary_site != site:
                        problems.append((f"{path}.mlflow.{field}",
                                         f"MLflow writes to '{store.name}', whose primary is '{store.primary_site}'; "
                                         f"list '{site}' first in its sites so it is writable where ML runs"))
            for name in system.ml.datasets:
                if site not in self.system(name).sites:
                    problems.append((f"{path}.datasets", f"'{name}' has no copy in '{site}', where training runs"))
        return problems

    def _catalogue_problems(self) -> list[tuple[str, str]]:
        """Every flavor and image a system boots must be offered by each site that declares a catalogue."""
        problems = []
        for system in self.systems:
            for site in (self.site(name) for name in system.sites):
                if site.catalogue is None:
                    continue
                for what, used, offered in (("flavor", system.flavors(), site.catalogue.flavors),
                                            ("image", system.images(), site.catalogue.images)):
                    for field, name in used:
                        if name not in offered:
                            problems.append((f"systems.{system.name}.{field}",
                                             unoffered(what, name, site.name, offered)))
        return problems

    @staticmethod
    def reference_problems(data: dict) -> list[tuple[str, str]]:
        """Rules between sites and systems: names, references, CIDR overlap.

        Works on plain data, defensively, so that these problems are reported together
        with field errors elsewhere in the spec (a typo in one system must not hide a
        dangling reference in another).
        """
        def items(key: str) -> list[dict]:
            value = data.get(key)
            return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []

        problems: list[tuple[str, str]] = []
        sites, systems = items("sites"), items("systems")
        site_names = [s.get("name") for s in sites if isinstance(s.get("name"), str)]
        system_names = [s.get("name") for s in systems if isinstance(s.get("name"), str)]
        problems += duplicate_problems("sites", site_names, "site")
        problems += duplicate_problems("systems", system_names, "system")
        primaries = [str(s.get("name")) for s in sites if s.get("role") == SiteRole.primary.value]
        if sites and not primaries:
            problems.append(("sites", "no site has role primary; give exactly one site role: primary"))
        if len(primaries) > 1:
            problems.append(("sites", f"{len(primaries)} sites have role primary ({', '.join(primaries)}); exactly "
                                      "one serves: make the others secondary or backup"))
        witness = data.get("witness")
        if isinstance(witness, dict) and witness.get("name") in site_names:
            problems.append(("witness.name", f"'{witness['name']}' is also a site; the witness must be a third "
                                             "location, apart from the sites it votes on"))
        networks = []
        for site in sites:
            try:
                networks.append((site.get("name"), ipaddress.IPv4Network(site.get("cidr"), strict=True)))
            except (ValueError, TypeError):
                continue
        for i, (a_name, a) in enumerate(networks):
            for b_name, b in networks[i + 1:]:
                if a.overlaps(b):
                    problems.append((f"sites.{b_name}.cidr",
                                     f"{b} overlaps {a} of site '{a_name}'; the VPN cannot route both"))
        known = ", ".join(site_names)
        by_name = {s.get("name"): s for s in systems}
        for system in systems:
            path = f"systems.{system.get('name')}"
            placed = system.get("sites") if isinstance(system.get("sites"), list) else []
            for site in placed:
                if isinstance(site, str) and site not in site_names:
                    problems.append((f"{path}.sites", f"unknown site '{site}'; known sites: {known}"))
            backup = system.get("backup") if isinstance(system.get("backup"), dict) else {}
            offsite = backup.get("offsite_site")
            if isinstance(offsite, str):
                if offsite not in site_names:
                    problems.append((f"{path}.backup.offsite_site", f"unknown site '{offsite}'; known sites: {known}"))
                elif placed and offsite == placed[0]:
                    problems.append((f"{path}.backup.offsite_site", f"'{offsite}' is the system's primary site; "
                                                                    "an offsite copy must be in another site"))
            if isinstance(system.get("ml"), dict):
                problems.extend(_ml_problems(path, system, by_name))
        problems.extend(_copy_runner_problems(systems, site_names))
        problems.extend(waiver_problems(data.get("waivers"), system_names))
        return problems

    def ml_site(self, system: System) -> str:
        """Where an ML platform trains: the spec's choice, else the replica site in active-passive."""
        if system.ml is not None and system.ml.site is not None:
            return system.ml.site
        if system.topology is Topology.active_passive:
            return system.sites[1]
        return system.primary_site


def unoffered(what: str, name: str, site: str, offered: list[str]) -> str:
    """The message for a flavor or image a site does not offer: the known ones, and the nearest."""
    near = nearest(name, offered)
    return (f"{what} '{name}' is not offered in site '{site}'" + (f" (did you mean '{near}'?)" if near else "")
            + f"; known {what}s there: {', '.join(offered) or 'none'}; use one of them, or add it to "
            f"sites.{site}.catalogue.{what}s")


def copy_destinations(system: dict) -> list[str]:
    """Sites that pull a copy of this system's data: replica sites of a replicated bucket
    (both ways when active-active) and the offsite site of its backups."""
    placed = system.get("sites") if isinstance(system.get("sites"), list) else []
    sites: list[str] = []
    if system.get("kind") == Kind.bucket.value and system.get("topology") in {t.value for t in REPLICATED}:
        sites += placed if system.get("topology") == Topology.active_active.value else placed[1:]
    backup = system.get("backup")
    if isinstance(backup, dict) and isinstance(backup.get("offsite_site"), str):
        sites.append(backup["offsite_site"])
    return list(dict.fromkeys(s for s in sites if isinstance(s, str)))


def _copy_runner_problems(systems: list[dict], site_names: list[str]) -> list[tuple[str, str]]:
    """Copies are pulled by jobs in the destination site, so a cluster must be there to run them."""
    with_cluster = {site for system in systems if system.get("kind") == Kind.kubernetes.value
                    for site in (system.get("sites") or []) if isinstance(site, str)}
    problems = []
    for system in systems:
        for site in copy_destinations(system):
            if site in site_names and site not in with_cluster:
                field = "backup.offsite_site" if site == (system.get("backup") or {}).get("offsite_site") else "sites"
                problems.append((f"systems.{system.get('name')}.{field}",
                                 f"'{site}' receives copies but has no kubernetes system to run the pull jobs; "
                                 "place one there (a small single-site cluster is enough)"))
    return problems


def _ml_problems(path: str, system: dict, systems: dict[str, dict]) -> list[tuple[str, str]]:
    ml = system["ml"]
    path = f"{path}.ml"
    problems = []
    wanted = [("cluster", ml.get("cluster"), Kind.kubernetes)]
    mlflow = ml.get("mlflow")
    if isinstance(mlflow, dict) and mlflow.get("enabled", True):
        wanted += [("mlflow.backend_db", mlflow.get("backend_db"), Kind.postgres),
                   ("mlflow.artifact_bucket", mlflow.get("artifact_bucket"), Kind.bucket)]
    for field, ref, kind in wanted:
        target = systems.get(ref)
        if target is None or target.get("kind") != kind.value:
            problems.append((f"{path}.{field}", f"'{ref}' is not a {kind.value} system of this stack"))
    for ref in ml.get("datasets") or []:
        target = systems.get(ref)
        if target is None or target.get("kind") not in {Kind.bucket.value, *(k.value for k in DATABASE_KINDS)}:
            problems.append((f"{path}.datasets", f"'{ref}' is not a bucket or database system of this stack"))
    placed = system.get("sites") if isinstance(system.get("sites"), list) else []
    site = ml.get("site")
    if site is not None and site not in placed:
        problems.append((f"{path}.site", f"'{site}' is not one of the system's sites {placed}"))
    cluster = systems.get(ml.get("cluster"))
    hub = ml.get("jupyterhub") if isinstance(ml.get("jupyterhub"), dict) else {}
    pools = ((cluster or {}).get("size") or {}).get("gpu_pools") if isinstance(cluster, dict) else None
    if cluster is not None and hub.get("enabled", True) and hub.get("gpu_profile", True) and not pools:
        problems.append((f"{path}.jupyterhub.gpu_profile",
                         f"a GPU notebook profile needs a GPU pool on cluster '{ml.get('cluster')}'; add "
                         "size.gpu_pools there, or set gpu_profile: false"))
    if cluster is not None and isinstance(cluster.get("sites"), list):
        missing = [s for s in placed if s not in cluster["sites"]]
        if missing:
            problems.append((f"{path}.cluster", f"cluster '{ml.get('cluster')}' has no presence in {missing}"))
    return problems

