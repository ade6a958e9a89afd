"""Row locks, from one place and in one order (after Saleor's ``lock_objects.py``).

Every service that locks rows calls one of these functions, and a service that needs more
than one kind of row takes them in this order, always:

    user → budget → request → order → shipment → devices (by pk) → lease → buyout → payment
    → refund → partner connection

so two use cases running at once (an employee withdrawing a request while an admin approves
it, a partner shipping while an admin cancels, two pollers) queue up instead of
deadlocking. Rows of one kind are locked in primary-key order. ``select_for_update(of=
("self",))`` locks only the named table even when related rows are read along.

The kernel imports no app: models are named by their app label (the same string references
foreign keys use). See docs/architecture.md, "Locks"."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import Q

# The one lock order: a use case never locks a kind after a kind that comes later here.
LOCK_ORDER = (
    "companies.User",
    "budgets.Budget",
    "orders.ProductRequest",
    "orders.Order",
    "orders.Shipment",
    "devices.Device",
    "leasing.Lease",
    "leasing.Buyout",
    "budgets.CardPayment",
    "budgets.Refund",
    "partners.DistributorConnection",
)


def _query(
    label: str,
    *,
    actor: Any = None,
    within: models.QuerySet | None = None,
    related: Iterable[str] = (),
    filters: Q | None = None,
    skip_locked: bool = False,
) -> models.QuerySet:
    """The rows to lock: of ``within`` (a queryset of the model, e.g. ``Lease.objects.open()``)
    or all, as ``actor`` may see them when named, narrowed by ``filters``. Only the model's
    own rows are locked, however many related rows are read along."""
    model = apps.get_model(label)
    if within is not None and within.model is not model:
        raise TypeError(f"{label} lock given a queryset of {within.model._meta.label}")
    qs = within if within is not None else model._default_manager.all()
    if actor is not None:
        qs = qs & model._default_manager.visible_to(actor)
    related = tuple(related)
    if related:
        qs = qs.select_related(*related)
    if filters is not None:
        qs = qs.filter(filters)
    return qs.select_for_update(of=("self",), skip_locked=skip_locked)


def _one(label: str, pk: int | None = None, **options):
    """One row, locked: by ``pk``, or the first matching ``filters`` (None when there is
    none). ``DoesNotExist`` (a 404) for a ``pk`` the actor, if named, may not see."""
    qs = _query(label, **options)
    if pk is None:
        return qs.order_by("pk").first()
    return qs.get(pk=pk)


def _many(
    label: str,
    pks: Iterable[int] | None = None,
    *,
    order_by: Iterable[str] = ("pk",),
    limit: int | None = None,
    only: Iterable[str] = (),
    **options,
) -> list:
    """Rows locked in ``order_by`` (the primary key unless a claim wants the oldest first)."""
    qs = _query(label, **options)
    if pks is not None:
        qs = qs.filter(pk__in=list(pks))
    if only:
        qs = qs.only(*only)
    qs = qs.order_by(*order_by)
    return list(qs[:limit] if limit is not None else qs)


# Each function takes the row's id (or ``filters`` for the first match), and ``actor``,
# ``within``, ``related``, ``skip_locked`` as above; the plural ones take ids or ``filters``.


def user_lock(user_id: int | None = None, **options):
    return _one("companies.User", user_id, **options)


def budget_lock(budget_id: int | None = None, **options):
    return _one("budgets.Budget", budget_id, **options)


def request_lock(request_id: int | None = None, **options):
    return _one("orders.ProductRequest", request_id, **options)


def order_lock(order_id: int | None = None, **options):
    return _one("orders.Order", order_id, **options)


def orders_lock(order_ids: Iterable[int] | None = None, **options) -> list:
    """Orders by pk; ``filters`` (a Q) narrows them, ``skip_locked`` passes over rows another
    transaction holds (the pollers' claim)."""
    return _many("orders.Order", order_ids, **options)


def shipment_lock(shipment_id: int | None = None, **options):
    return _one("orders.Shipment", shipment_id, **options)


def device_lock(device_id: int | None = None, **options):
    return _one("devices.Device", device_id, **options)


def devices_lock(device_ids: Iterable[int] | None = None, **options) -> list:
    """Devices by pk (the engine and every use case that reads statuses to decide)."""
    return _many("devices.Device", device_ids, **options)


def lease_lock(lease_id: int | None = None, **options):
    return _one("leasing.Lease", lease_id, **options)


def leases_lock(lease_ids: Iterable[int] | None = None, **options) -> list:
    return _many("leasing.Lease", lease_ids, **options)


def buyouts_lock(buyout_ids: Iterable[int] | None = None, **options) -> list:
    return _many("leasing.Buyout", buyout_ids, **options)


def buyout_lock(buyout_id: int | None = None, **options):
    return _one("leasing.Buyout", buyout_id, **options)


def payment_lock(payment_id: int | None = None, **options):
    return _one("budgets.CardPayment", payment_id, **options)


def refund_lock(refund_id: int | None = None, **options):
    return _one("budgets.Refund", refund_id, **options)


def connections_lock(connection_ids: Iterable[int] | None = None, **options) -> list:
    return _many("partners.DistributorConnection", connection_ids, **options)
