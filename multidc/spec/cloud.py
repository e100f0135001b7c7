"""The flavors and images each site's cloud really offers, checked at `pulumi preview`.

The spec's own catalogue (`sites[].catalogue`) is checked at load, everywhere. This check
asks the cloud itself, through openstacksdk, and so runs only where credentials are: for
each site whose clouds.yaml entry (`cloud.profile`, default the site's name) exists. The
offline plan and the tests have no cloud; there it never runs (a site without an entry is
skipped), and a fake connection stands in for one in tests/spec/test_cloud.py.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from multidc.spec.platform import Platform, unoffered


def configured_clouds() -> list[str]:
    """The entries of the operator's clouds.yaml (and OS_* variables), as openstacksdk finds them."""
    from openstack import exceptions
    from openstack.config import loader

    try:
        config = loader.OpenStackConfig()
    except exceptions.ConfigException:
        return []
    # With neither a file nor OS_* variables, openstacksdk invents a cloud named 'defaults'.
    return [] if config.default_cloud == "defaults" else config.get_cloud_names()


def _connect(profile: str, region: str) -> Any:
    import openstack

    return openstack.connect(cloud=profile, region_name=region)


def cloud_problems(platform: Platform, warn: Callable[[str], None],
                   clouds: Optional[list[str]] = None,
                   connect: Callable[[str, str], Any] = _connect) -> list[tuple[str, str]]:
    """Flavors and images a system uses that its site's cloud does not offer, as spec problems.

    A site whose cloud cannot be asked (no clouds.yaml entry: skipped silently; an API
    error: `warn`ed and skipped) is left to `pulumi up` to judge.
    """
    clouds = configured_clouds() if clouds is None else clouds
    problems = []
    for site in platform.sites:
        profile = site.cloud.profile or site.name
        if profile not in clouds:
            continue
        try:
            connection = connect(profile, site.cloud.region)
            offered = {"flavor": sorted({flavor.name for flavor in connection.compute.flavors()}),
                       "image": sorted({image.name for image in connection.image.images()})}
        except Exception as error:  # noqa: BLE001 - any SDK or network failure: the check cannot run here
            warn(f"sites.{site.name}: could not list the flavors and images of clouds.yaml entry '{profile}' "
                 f"({type(error).__name__}: {error}); they are not checked against the cloud")
            continue
        for system in platform.systems:
            if site.name not in system.sites:
                continue
            for what, used in (("flavor", system.flavors()), ("image", system.images())):
                for field, name in used:
                    if name not in offered[what]:
                        problems.append((f"systems.{system.name}.{field}",
                                         unoffered(what, name, site.name, offered[what]) + " (as the cloud reports)"))
    return problems
