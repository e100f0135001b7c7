"""The Pulumi program: read the stack's platform spec, validate it, declare the platform."""

from __future__ import annotations

import pulumi

from multidc.components.platform import Platform, PlatformArgs
from multidc.spec import CONFIG_KEY, SpecError, parse_platform
from multidc.spec import Platform as PlatformSpec
from multidc.spec.cloud import cloud_problems


def build(platform: PlatformSpec) -> Platform:
    """Declare every resource of a validated platform (what `pulumi up` and the offline plan run)."""
    return Platform(platform.name, PlatformArgs(platform=platform))


def main() -> None:
    """Entry point of `pulumi up`: the spec comes from the stack config key `multidc:platform`."""
    namespace, key = CONFIG_KEY.split(":", 1)
    data = pulumi.Config(namespace).require_object(key)
    source = f"stack {pulumi.get_stack()} ({CONFIG_KEY})"
    try:
        platform = parse_platform(data, source=source)
        if pulumi.runtime.is_dry_run():  # preview: ask each site's cloud, where clouds.yaml has an entry
            problems = cloud_problems(platform, warn=pulumi.log.warn)
            if problems:
                raise SpecError(source, problems)
    except SpecError as error:
        # RunError prints the message alone: the user sees every problem, not a traceback.
        raise pulumi.RunError(str(error)) from None
    build(platform)
