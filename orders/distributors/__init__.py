"""Talking to partners: one adapter interface (``base.Distributor``) and its
implementations: the HTTP adapter for the Velory distributor API v1 (``docs/
distributor-api.md``) and the e-mail adapter for partners without an API. The fake
distributor (``fake.py``) implements the API for the demo and the tests."""

from __future__ import annotations

from .base import (
    AdapterError,
    Distributor,
    FetchResult,
    OrderUpdate,
    Placement,
    ShipmentInfo,
    order_number,
    order_pk,
)


def adapter_for(partner) -> Distributor:
    """The adapter configured for ``partner`` (e-mail when none is)."""
    from orders.models import Adapter, DistributorConnection

    from .email import EmailDistributor
    from .http import HttpDistributor

    connection = DistributorConnection.objects.filter(partner=partner).first()
    if connection is not None and connection.enabled and connection.adapter == Adapter.HTTP:
        return HttpDistributor.for_connection(connection)
    return EmailDistributor(partner)


__all__ = [
    "AdapterError",
    "Distributor",
    "FetchResult",
    "OrderUpdate",
    "Placement",
    "ShipmentInfo",
    "adapter_for",
    "order_number",
    "order_pk",
]
