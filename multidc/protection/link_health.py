"""The health of one replication link, whatever its engine: what `pulumi refresh` reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

# States a link can be found in. Only REPLICATING is what a deployed link should be; every other
# state is drift that the next `pulumi up` repairs (ReplicationLinkProvider.diff).
REPLICATING = "replicating"  # the replica is connected and applying the primary's changes
DISCONNECTED = "disconnected"  # configured and enabled, but not connected to the primary now
DISABLED = "disabled"  # configured but switched off by hand (a disabled subscription)
PROMOTED = "promoted"  # the replica takes writes of its own: it is no replica any more
ABSENT = "absent"  # nothing is configured on the replica


@dataclass(frozen=True)
class LinkHealth:
    """State, lag in bytes (or the engine's offset unit) and seconds, and the last error seen."""

    state: str
    lag_bytes: Optional[int] = None
    lag_seconds: Optional[float] = None
    last_error: Optional[str] = None
    mode: Optional[str] = None  # 'sync' or 'async' as the primary is configured now

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
