"""The fake distributor: an in-memory HTTP server that speaks the Velory distributor API v1
(docs/distributor-api.md) for the demo, the tests and the benchmark.

Every order it is given moves through received → processing → shipped → delivered, one step
every ``step_seconds`` of its clock (a fake clock in tests). Switches make it misbehave on
purpose: latency, 503s, hangs, broken JSON, unknown status names, orders nobody asked for,
and 429s (a per-key rate limit or at random). Standard library only, so it runs without
Django settings.

``simulation`` holds the partner's orders and how they progress, ``faults`` the
configuration and the misbehaviour switches, ``server`` the HTTP side and FakeDistributor,
which ties them together. Import from here: ``from partners.fake import FakeConfig,
FakeDistributor``.
"""

from .faults import STRANGER_ID, UNKNOWN_STATUS, FakeConfig
from .server import (
    DEFAULT_CHANGES_LIMIT,
    JSON_TYPE,
    MAX_CHANGES_LIMIT,
    MAX_REQUEST_BYTES,
    MAX_STATUS_IDS,
    FakeDistributor,
)
from .simulation import (
    CARRIER,
    FIRST_REF,
    MAX_ORDER_ID_LENGTH,
    PROGRESSION,
    STATE_FORMAT,
    STATUSES,
    InvalidOrder,
)

__all__ = [
    "CARRIER",
    "DEFAULT_CHANGES_LIMIT",
    "FIRST_REF",
    "JSON_TYPE",
    "MAX_CHANGES_LIMIT",
    "MAX_ORDER_ID_LENGTH",
    "MAX_REQUEST_BYTES",
    "MAX_STATUS_IDS",
    "PROGRESSION",
    "STATE_FORMAT",
    "STATUSES",
    "STRANGER_ID",
    "UNKNOWN_STATUS",
    "FakeConfig",
    "FakeDistributor",
    "InvalidOrder",
]
