"""Hardware that did not come through a Velory order, and corrections to a device's details:
a company admin registers hardware bought outside Velory (or added to an order by the
partner) so that it appears in the employee's profile, and corrects its name, type, serial
number or price."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from companies.models import User
from core.locks import device_lock
from core.tenancy import acts_as_company_admin
from core.transactions import use_case
from devices.engine import TransitionRefused, device_save_details, devices_create
from devices.models import Device, DeviceStatus, Source
from leasing.services import arrangement_for, lease_create
from orders.models import Order

S = DeviceStatus


REGISTRABLE_STATUSES = (S.RECEIVED, S.ACTIVE)


@use_case
@transaction.atomic
def device_register_manually(
    *,
    actor,
    owner_id: int,
    name: str,
    category: str,
    serial_number: str = "",
    status: str = S.ACTIVE,
    received_on: date | None = None,
    order_id: int | None = None,
    price: Decimal | None = None,
    note: str = "",
    leased: bool = False,
    lease_starts_on: date | None = None,
    lease_months: int | None = None,
    monthly_price: Decimal | None = None,
) -> Device:
    """A company admin registers hardware bought outside Velory, or added to an order by
    the partner, so it appears in the employee's profile (marked as registered manually)."""
    if not acts_as_company_admin(actor):
        raise TransitionRefused(_("Only a company admin can register hardware."))
    owner = User.objects.visible_to(actor).filter(company__isnull=False).get(pk=owner_id)
    if status not in REGISTRABLE_STATUSES:
        raise ValidationError(
            # Translators: Received and Active are device statuses (docs/glossary.md).
            _("Registered hardware is Received or Active.")
        )
    if not name.strip():
        raise ValidationError(_("Name the device."))
    order = None
    if order_id is not None:
        order = Order.objects.visible_to(actor).get(pk=order_id, employee=owner)
    company = owner.company
    if leased and company.leasing_company_id is None:
        raise ValidationError(
            _("%(company)s has no leasing company to lease from.") % {"company": company.name}
        )
    # Leased hardware bought outside Velory goes back through the reseller of the company's
    # leasing arrangement: it is that partner's to see and to confirm when returned.
    arrangement = (
        arrangement_for(company.pk, company.leasing_company_id) if leased and not order else None
    )
    partner = order.partner if order else (arrangement.partner if arrangement else None)
    [device] = devices_create(
        devices=[
            Device(
                company=company,
                owner=owner,
                partner=partner,
                order=order,
                name=name.strip(),
                category=category,
                serial_number=serial_number.strip(),
                status=status,
                received_on=received_on or timezone.localdate(),
                registered_manually=True,
                is_leased=leased,
                price=price,
                currency=company.currency if price is not None else "",
            )
        ],
        actor=actor,
        source=Source.ADMIN,
        # (stored in the history as written: history notes are not translated)
        note=note or ("Added to the order by the partner." if order else "Bought outside Velory."),
    )
    if leased:
        lease_create(
            device=device,
            leasing_company=company.leasing_company,
            partner=partner,
            starts_on=lease_starts_on or device.received_on,
            months=lease_months or 36,
            monthly_price=monthly_price or Decimal("0"),
            currency=company.currency,
        )
    return device


@use_case
@transaction.atomic
def device_update_details(*, device_id: int, actor, **fields) -> Device:
    """Correct a device's descriptive details (name, type, serial number, price) from the
    admin. The status is not among them: it changes only through transitions."""
    if not acts_as_company_admin(actor):
        raise TransitionRefused(_("Only a company admin can correct a device's details."))
    return device_save_details(device=device_lock(device_id, actor=actor), **fields)
