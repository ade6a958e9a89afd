"""Talking to partners: one adapter interface (``base.Distributor``) and its
implementations: the HTTP adapter for the Velory distributor API v1 (``docs/
distributor-api.md``) and the e-mail adapter for partners without an API. The fake
distributor (``fake.py``) implements the API for the demo and the tests."""

from __future__ import annotations

from ..models import Adapter, DistributorConnection
from .base import (
    AdapterError,
    Distributor,
    FetchResult,
    OrderUpdate,
    Placement,
    ShipmentInfo,
    order_pk,
)
from .email import EmailDistributor
from .http import HttpDistributor


def adapter_for(partner) -> Distributor:
    """The adapter configured for ``partner`` (e-mail when none is)."""
    connection = DistributorConnection.objects.filter(partner=partner).first()
    if connection is not None and connection.adapter == Adapter.HTTP:
        if not connection.enabled:
            # Paused, not switched to e-mail: orders wait (and retry) until it is enabled.
            return PausedDistributor(partner.name)
        return HttpDistributor.for_connection(connection)
    return EmailDistributor(partner)


class PausedDistributor:
    """A partner whose API connection an admin has paused: every call is refused for now."""

    tracks = True

    def __init__(self, name: str):
        self.name = name

    def _paused(self):
        return AdapterError(f"{self.name}'s API connection is paused in Velory.", retry_after=300)

    def place_order(self, order) -> Placement:
        raise self._paused()

    def fetch_updates(self, order_pks) -> FetchResult:
        raise self._paused()


__all__ = [
    "AdapterError",
    "Distributor",
    "FetchResult",
    "OrderUpdate",
    "Placement",
    "ShipmentInfo",
    "adapter_for",
    "order_pk",
]
