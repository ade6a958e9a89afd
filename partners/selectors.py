"""Reads for the partner push API: each a constant number of queries."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch, Q

from devices.models import PARTNER_QUEUE_STATUSES, Device
from orders.models import Order


def partner_orders(actor):
    """The orders the actor's partner may see through the API: its own, of the companies
    it still serves (another partner's order, or one of a company it no longer serves, is
    "not found")."""
    return Order.objects.visible_to(actor).filter(company__partners=actor.partner_id)


def partner_devices(actor):
    """The devices the actor's partner may report on, under the same rule."""
    return Device.objects.visible_to(actor).filter(company__partners=actor.partner_id)


def _items():
    return Prefetch(
        "devices",
        queryset=Device.objects.only("pk", "order_id", "name", "status", "serial_number").order_by(
            "pk"
        ),
    )


def orders_waiting_for(actor, *, company_id=None, status: str = "", changed_since=None):
    """The partner's orders with work waiting on it (an item with it, on its way, or a
    return to confirm), with their items: two queries for a page, however long.

    ``status`` lists instead the orders with an item in that status; ``changed_since``
    only those changed since then (the order, or an item's status)."""
    devices = Device.objects.filter(order=OuterRef("pk"))
    orders = partner_orders(actor)
    if status:
        orders = orders.filter(Exists(devices.filter(status=status)))
    else:
        orders = orders.filter(Exists(devices.filter(status__in=PARTNER_QUEUE_STATUSES)))
    if company_id is not None:
        orders = orders.filter(company_id=company_id)
    if changed_since is not None:
        orders = orders.filter(
            Q(updated_at__gte=changed_since)
            | Exists(devices.filter(status_changed_at__gte=changed_since))
        )
    return orders.select_related("company", "employee").prefetch_related(_items())


def order_for(actor, order_id: int) -> Order:
    """One of the partner's orders with its items (``Order.DoesNotExist`` for any other)."""
    return (
        partner_orders(actor)
        .select_related("company", "employee")
        .prefetch_related(_items())
        .get(pk=order_id)
    )
