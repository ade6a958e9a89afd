"""Who is who in a lease (the party that sends the return instructions), prices, and the
look-ups and locks every leasing use case shares."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from companies.models import LeasingCompany, Partner
from core.locks import lease_lock
from devices.engine import (
    TransitionRefused,
)
from devices.models import Device, DeviceStatus

from ..models import (
    Lease,
    LeasingArrangement,
    ReturnSender,
)

logger = logging.getLogger(__name__)
S = DeviceStatus


class BuyoutRefused(Exception):
    """A buyout that cannot be made or paid: the message says why, for the user."""


# --- Who is who ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    """Whoever sends the return instructions: the reseller or the leasing company."""

    kind: str
    name: str
    email: str
    phone: str = ""
    website: str = ""

    @property
    def from_email(self) -> str:
        """From the party's name, through Velory's own address (so it is delivered), with
        replies going to the party."""
        _name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
        # Translators: the sender's name of an e-mail sent for a reseller or leasing company.
        return formataddr((_("%(name)s via Velory") % {"name": self.name}, address))


def arrangement_for(company_id: int, leasing_company_id: int) -> LeasingArrangement | None:
    return (
        LeasingArrangement.objects.select_related("partner", "leasing_company")
        .filter(company_id=company_id, leasing_company_id=leasing_company_id)
        .first()
    )


_LOOK_UP = object()


def return_party(lease: Lease, arrangement=_LOOK_UP) -> Party:
    """Who sends this lease's return instructions, by the company's arrangement with the
    leasing company (the reseller when there is no arrangement and a reseller is known).
    Pass the arrangement when it is known (None: there is none) to save the lookup."""
    if arrangement is _LOOK_UP:
        arrangement = arrangement_for(lease.device.company_id, lease.leasing_company_id)
    partner: Partner | None = (arrangement.partner if arrangement else None) or lease.partner
    from_partner = partner is not None and (
        arrangement is None or arrangement.return_instructions_from == ReturnSender.PARTNER
    )
    if from_partner:
        return Party(
            ReturnSender.PARTNER,
            partner.name,
            partner.support_email,
            partner.support_phone,
            partner.website,
        )
    financier: LeasingCompany = lease.leasing_company
    return Party(
        ReturnSender.LEASING_COMPANY,
        financier.name,
        financier.contact_email,
        financier.contact_phone,
        financier.website,
    )


def residual(price: Decimal | None, arrangement: LeasingArrangement | None) -> Decimal | None:
    """The buyout (residual) price of a device bought for ``price``, by the arrangement's
    share (15% without one)."""
    if price is None:
        return None
    share = arrangement.residual_percent if arrangement else Decimal("15")
    return (price * share / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def buyout_price(lease: Lease, arrangement: LeasingArrangement | None = None) -> Decimal:
    """The lease's own buyout (residual) price, else the arrangement's share of the price
    the device was bought for."""
    if lease.buyout_price is not None:
        return lease.buyout_price
    device = lease.device
    return residual(
        device.price if device.price is not None else lease.monthly_price * 12, arrangement
    )


def lease_lock_for(device: Device) -> Lease:
    lease = lease_lock(filters=Q(device=device), related=["leasing_company", "partner"])
    if lease is None or not device.is_leased:
        raise TransitionRefused(
            _("%(device)s is not leased: there is no lease to return it to or buy it out of.")
            % {"device": device.name}
        )
    lease.device = device
    return lease


def device_visible(device_id: int, actor) -> Device:
    """The device as this actor may see it (a 404 otherwise)."""
    return (
        Device.objects.visible_to(actor)
        .select_related("company", "owner", "partner")
        .get(pk=device_id)
    )


def leases_close_now(device_ids, outcome: str, now) -> None:
    """Close the active leases of these devices with this outcome."""
    Lease.objects.filter(device_id__in=device_ids, status=Lease.Status.ACTIVE).update(
        status=Lease.Status.CLOSED, outcome=outcome, closed_at=now
    )


def leases_close(*, device_ids, outcome: str, at=None) -> None:
    """Close the active leases of these devices (returned, bought out, removed)."""
    leases_close_now(device_ids, outcome, at or timezone.now())
