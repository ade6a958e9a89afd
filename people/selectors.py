"""Reads of the people lifecycle for pages: the leaver's own case (the employee's page and
Your Details' action inbox) and the company admin's open cases (the dashboard)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Case, Count, Min, Q, When
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core import fastread
from core.money import money
from devices.models import DeviceStatus

from .models import Attestation, OffboardingCase, OffboardingItem
from .services.offboarding import return_by

S = DeviceStatus


@dataclass
class LeavingItem:
    item: OffboardingItem
    state: str  # in words: what happens to it now
    tone: str  # the badge: "ok", "warn", "bad", "neutral"
    price_text: str
    can_choose: bool
    can_buy: bool
    pay: str  # "", "card", "salary", "lease" (the leased device's own buyout page)

    @property
    def device(self):
        return self.item.device


@dataclass
class Leaving:
    case: OffboardingCase
    items: list[LeavingItem]
    return_by: date
    buyout_allowed: bool
    by_salary: bool

    @property
    def days_left(self) -> int:
        return (self.case.exit_date - timezone.localdate()).days

    @property
    def days_late(self) -> int:
        return -self.days_left

    @property
    def to_do(self) -> int:
        return sum(1 for i in self.items if i.can_choose or i.pay)

    @property
    def overdue(self) -> bool:
        return self.days_left < 0 and any(not i.item.settled for i in self.items)


def _state(item: OffboardingItem, due: date) -> tuple[str, str]:
    device = item.device
    if item.outcome == OffboardingItem.Outcome.RETURNED:
        return _("Returned: the partner confirmed it"), "ok"
    if item.outcome == OffboardingItem.Outcome.BOUGHT_OUT:
        return _("Bought: it is yours"), "ok"
    if item.outcome == OffboardingItem.Outcome.WRITTEN_OFF:
        if item.note:
            # Translators: %(note)s is the reason the company admin gave for the write-off.
            return _("Written off by your IT admin: %(note)s") % {"note": item.note}, "neutral"
        return _("Written off by your IT admin"), "neutral"
    if device.status == S.PROCESSING_TRADE_IN:
        lease = getattr(device, "lease", None) if device.is_leased else None
        deadline = (lease.return_due_on if lease and lease.return_due_on else None) or due
        return _("Send it back by %(date)s") % {"date": date_format(deadline, "j F Y")}, "warn"
    if device.status == S.PENDING_BUYOUT:
        return _("Waiting for your payment"), "warn"
    if device.status in (S.SHIPPED, S.DELIVERED):
        # Translators: %(status)s is the device's status (Shipped or Delivered).
        return _("%(status)s: mark it received, then choose") % {
            "status": device.status_label
        }, "neutral"
    return _("Choose: return it or buy it"), "bad"


def leaving_for(user) -> Leaving | None:
    """The user's open offboarding case, or their last one (closed or cancelled) when none
    is open; None when they never had one. Two queries."""
    case = (
        OffboardingCase.objects.visible_to(user)
        .filter(employee=user)
        .select_related("company")
        # the open case first, else the newest
        .order_by(Case(When(status=OffboardingCase.Status.OPEN, then=0), default=1), "-opened_at")
        .first()
    )
    if case is None:
        return None
    items = list(
        case.items.select_related("device", "device__lease", "device__partner", "payment").order_by(
            "pk"
        )
    )
    company = case.company
    due = return_by(case, company)
    rows = []
    for item in items:
        device = item.device
        state, tone = _state(item, due)
        choosable = case.is_open and not item.settled and not item.choice
        choosable = choosable and device.status in (S.RECEIVED, S.ACTIVE)
        pay = ""
        if item.choice == "buyout" and not item.settled and device.status == S.PENDING_BUYOUT:
            pay = "lease" if device.is_leased else company.buyout_payment
        price = item.price if item.price is not None else None
        rows.append(
            LeavingItem(
                item=item,
                state=state,
                tone=tone,
                price_text=money(price, item.currency) if price is not None else "",
                can_choose=choosable,
                can_buy=choosable and company.buyout_allowed and price is not None,
                pay=pay,
            )
        )
    return Leaving(
        case=case,
        items=rows,
        return_by=due,
        buyout_allowed=company.buyout_allowed,
        by_salary=company.buyout_payment == "salary",
    )


@dataclass
class OpenCase:
    case: OffboardingCase
    open_items: int
    unchosen: int
    blocker: str


def open_cases_for(user, *, limit: int = 10) -> tuple[int, list[OpenCase]]:
    """The company admin's open offboarding cases, soonest exit first, each with what
    blocks it: two queries."""
    cases = OffboardingCase.objects.visible_to(user).open()
    total = cases.count()
    rows = (
        cases.select_related("employee")
        .annotate(
            open_items=Count("items", filter=Q(items__outcome="")),
            unchosen=Count("items", filter=Q(items__outcome="", items__choice="")),
            first_choice=Min("items__chosen_at"),
        )
        .order_by("exit_date", "pk")[:limit]
    )
    today = timezone.localdate()
    result = []
    for case in rows:
        # Translators: what holds up a leaver's offboarding case, on the console's dashboard.
        if case.unchosen:
            blocker = ngettext(
                "%(count)s device without a choice",
                "%(count)s devices without a choice",
                case.unchosen,
            ) % {"count": case.unchosen}
        elif case.open_items:
            blocker = ngettext(
                "%(count)s return or payments not confirmed",
                "%(count)s returns or payments not confirmed",
                case.open_items,
            ) % {"count": case.open_items}
        else:
            blocker = _("Settled: closes on the exit date")
        if case.exit_date < today and case.open_items:
            late = (today - case.exit_date).days
            # Translators: %(blocker)s is one of the texts above (what holds up the case);
            # %(days)s is how many days past the leaver's exit date it is.
            blocker = ngettext(
                "%(blocker)s, %(days)s days late", "%(blocker)s, %(days)s days late", late
            ) % {"blocker": blocker, "days": late}
        result.append(OpenCase(case, case.open_items, case.unchosen, blocker))
    return total, result


@dataclass
class LeavingNote:
    """Your Details' inbox item for a leaver."""

    exit_date: date
    to_choose: int
    to_settle: int

    @property
    def days_left(self) -> int:
        return (self.exit_date - timezone.localdate()).days


def _open_case(actor):
    """The actor's open offboarding case, with how many devices wait for a choice or to be
    settled."""
    return fastread.first_of(
        OffboardingCase.objects.visible_to(actor)
        .open()
        .filter(employee_id=actor.pk)
        .annotate(
            to_choose=Count("items", filter=Q(items__outcome="", items__choice="")),
            to_settle=Count("items", filter=Q(items__outcome="")),
        )
    )


def _open_attestation(actor):
    return fastread.first_of(
        Attestation.objects.visible_to(actor).open().filter(employee_id=actor.pk)
    )


OPEN_CASE = fastread.Statement(OffboardingCase, _open_case)
OPEN_ATTESTATION = fastread.Statement(Attestation, _open_attestation)


def _note(cases: list[OffboardingCase]) -> LeavingNote | None:
    return (
        LeavingNote(cases[0].exit_date, cases[0].to_choose, cases[0].to_settle) if cases else None
    )


def _first(rows: list):
    return rows[0] if rows else None


def inbox_reads(user) -> tuple[fastread.Read, fastread.Read]:
    """``inbox_for``'s two reads, for a page that sends them with its own (core.fastread.run):
    their results are the note and the question."""
    return OPEN_CASE.bind(user, then=_note), OPEN_ATTESTATION.bind(user, then=_first)


def inbox_for(user) -> tuple[LeavingNote | None, object | None]:
    """What Your Details' action inbox needs of the people lifecycle: the open offboarding
    case (with how many devices wait for a choice or to be settled) and the open
    "Do you still have these devices?" question. Two queries, compiled once
    (core.fastread), in one round trip."""
    note, attestation = fastread.run(*inbox_reads(user))
    return note, attestation
