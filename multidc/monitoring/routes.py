"""Alertmanager's routing tree by tier: critical pages at once, important pages after a short
grouping, standard opens a ticket. Every generated alert carries ``tier`` (multidc.monitoring.rules).

Receivers are declared by name only: where a page or a ticket goes (a webhook, an e-mail, a
chat) holds credentials, so the operators add its configuration to the receiver of that name
through the chart's ``alertmanager.config`` secret, not the spec.
"""

from __future__ import annotations

from typing import Any

from multidc.spec import Tier

RECEIVERS = {Tier.critical: "multidc-page-critical", Tier.important: "multidc-page", Tier.standard: "multidc-ticket"}
# How often an alert still firing is sent again, per tier.
REPEAT = {Tier.critical: "1h", Tier.important: "4h", Tier.standard: "24h"}
GROUP_WAIT = {Tier.critical: "10s", Tier.important: "1m", Tier.standard: "5m"}


def receiver_for(labels: dict[str, str]) -> str:
    """Where an alert with these labels goes (what the tree below routes it to)."""
    tier = next((t for t in Tier if t.value == labels.get("tier")), Tier.standard)
    return RECEIVERS[tier]


def alertmanager_config() -> dict[str, Any]:
    """Alertmanager's configuration: one route per tier, grouped by system and alert."""
    return {
        "route": {
            "receiver": RECEIVERS[Tier.standard],
            "group_by": ["system", "alertname"],
            "routes": [{"receiver": RECEIVERS[tier], "matchers": [f'tier="{tier.value}"'],
                        "group_wait": GROUP_WAIT[tier], "repeat_interval": REPEAT[tier]} for tier in Tier],
        },
        "receivers": [{"name": name} for name in RECEIVERS.values()],
    }
