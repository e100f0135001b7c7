"""Data residency: personal data stays in the countries the law allows.

Kazakhstan's law 94-V "On personal data and their protection" requires the personal data
of citizens to be stored in Kazakhstan. A replica, a backup or a bucket copy is a store of
that data as much as the primary is.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs

from mdc.common import schema, setting
from mdc.facts import StackFacts
from mdc.waivers import stack_policy

PERSONAL = "personal"

RESIDENCY_SCHEMA = schema(allowed_countries={
    "type": "array", "items": {"type": "string", "pattern": "^[A-Z]{2}$"}, "minItems": 1, "default": ["KZ"],
    "description": "ISO 3166-1 alpha-2 codes of the countries where personal data may be stored.",
})


def validate_personal_data_residency(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    facts = StackFacts.of(args.resources)
    allowed = list(setting(args.get_config(), RESIDENCY_SCHEMA, "allowed_countries"))
    for placement in facts.primaries():
        if PERSONAL not in placement.data_classes:
            continue
        stores = {site: "placement" for site in placement.sites}
        for target in facts.backups_of(placement.system):
            stores.setdefault(target.site, "backups")
        for copy in facts.copies_of(placement.system):
            stores.setdefault(copy.destination_site, "bucket copy")
        if placement.backup:
            stores.setdefault(placement.backup["offsite_site"], "backups")
        for site_name, what in stores.items():
            site = facts.sites.get(site_name)
            if site is None:
                report_violation(f"'{placement.system}' holds personal data and keeps its {what} in '{site_name}', "
                                 "but the stack declares no site of that name, so its country is unknown.",
                                 placement.urn)
            elif site.country not in allowed:
                report_violation(
                    f"'{placement.system}' holds personal data and keeps its {what} in '{site_name}' "
                    f"({site.country}); personal data may be stored only in {', '.join(allowed)} (for Kazakhstan, "
                    "law 94-V). Move that copy to a site in an allowed country, or drop 'personal' from the "
                    "system's data_classes if it holds none.", placement.urn)


personal_data_residency = stack_policy(
    name="mdc-res-001-personal-data-residency",
    description="Requires every copy of personal data (placements, backups, bucket copies) to be in an "
                "allowed country.",
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=RESIDENCY_SCHEMA,
    validate=validate_personal_data_residency,
)
