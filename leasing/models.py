"""Leasing: a lease per leased device, with its financier, dates and prices; who sends the
return instructions (the company's leasing arrangement); buyouts and the notices sent about
a lease's end, each recorded once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop, ngettext, pgettext_lazy

from core.money import money
from core.tenancy import TenantQuerySet, TenantScope, by_company, by_partner, by_user
from devices.models import DeviceStatus

# A lease's end is announced this many days before it, once each.
END_THRESHOLDS = (90, 60, 30)
# A return is reminded this many days before its deadline (and once the day after it).
RETURN_REMINDER_DAYS = 7

# A leased device in one of these may still be returned or bought out.
CHOOSABLE = frozenset({DeviceStatus.RECEIVED, DeviceStatus.ACTIVE})

# What the employee does to return a device, where the arrangement says nothing else: the
# field's default (stored with each arrangement as written), and the fallback mailed when a
# company has no arrangement (translated then, for the employee).
DEFAULT_RETURN_STEPS = gettext_noop(
    "1. Back up your files and sign out of every account.\n"
    "2. Pack the device with its charger in the box it came in, or a padded one.\n"
    "3. Print the prepaid return label from the link in this e-mail and drop the parcel "
    "at any service point."
)


class ReturnSender(models.TextChoices):
    # Translators: this and the following are who sends the return instructions of a lease.
    PARTNER = "partner", gettext_lazy("The reseller (partner)")
    LEASING_COMPANY = "leasing_company", gettext_lazy("The leasing company")


class LeasingArrangementQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("company"),
        employee=by_company("company"),
        partner_staff=by_partner("partner"),
    )


class LeasingArrangement(models.Model):
    """How a company's leased hardware from one leasing company is handled: who sends the
    employee the return instructions (the reseller or the leasing company), the steps, how
    long a return may take, and the residual share a buyout costs."""

    company = models.ForeignKey(
        "companies.Company", on_delete=models.CASCADE, related_name="leasing_arrangements"
    )
    leasing_company = models.ForeignKey(
        "companies.LeasingCompany", on_delete=models.PROTECT, related_name="arrangements"
    )
    partner = models.ForeignKey(
        "companies.Partner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="leasing_arrangements",
        help_text=gettext_lazy(
            "The reseller that takes leased devices back (if it sends the instructions)."
        ),
    )
    return_instructions_from = models.CharField(
        gettext_lazy("return instructions come from"),
        max_length=20,
        choices=ReturnSender.choices,
        default=ReturnSender.PARTNER,
    )
    return_steps = models.TextField(
        help_text=gettext_lazy(
            "What the employee does to return a device: packing, label, drop-off."
        ),
        default=DEFAULT_RETURN_STEPS,
    )
    # Retired as the deadline's rule: a return is now due the company's return grace days
    # after its reason (the lease's end, a replacement's delivery, a leaver's exit; see
    # return_due). Kept, and still validated, because the demo data and the arrangement's
    # admin page write it; drop it with a migration once they no longer do.
    return_days = models.PositiveSmallIntegerField(
        default=21,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text=gettext_lazy(
            "No longer used: a return is due the company's “days to return a device” "
            "after the lease ends (or a replacement is delivered, or the employee leaves)."
        ),
    )
    residual_percent = models.DecimalField(
        # xgettext:no-python-format
        gettext_lazy("buyout price (% of the purchase price)"),
        max_digits=5,
        decimal_places=2,
        default=15,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=gettext_lazy("Used when a lease has no buyout price of its own."),
    )

    objects = LeasingArrangementQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["company", "leasing_company"], name="one_arrangement_per_financier"
            )
        ]

    def __str__(self) -> str:
        # Translators: a leasing arrangement as the console names it: "Acme with Nordic Lease".
        return _("%(company)s with %(leasing_company)s") % {
            "company": self.company,
            "leasing_company": self.leasing_company,
        }


class ReturnReason(models.TextChoices):
    """Why a leased device goes back, which decides the day its grace days count from."""

    # Translators: this and the following are why a leased device goes back.
    LEASE_END = "lease_end", gettext_lazy("The lease ends")
    REPLACEMENT = "replacement", gettext_lazy("Replaced by a new leased device")
    LEAVER = "leaver", gettext_lazy("The employee leaves the company")


def _day(value: date, today: date) -> str:
    """The day as "16 January" (with the year when it is not this one), in the reader's
    language."""
    text = date_format(value, "MONTH_DAY_FORMAT")
    return text if value.year == today.year else f"{text} {value.year}"


def _days(n: int) -> str:
    # Translators: a number of days, used in the explanations of a return's deadline.
    return ngettext("%(count)d day", "%(count)d days", n) % {"count": n}


@dataclass(frozen=True)
class ReturnDue:
    """A return's deadline and why it falls there, so a page can say it in words before the
    employee confirms ("Send it back by 30 January: 14 days after your lease ends on
    16 January")."""

    on: date
    reason: str
    # the reason's day: the lease's end, the replacement's delivery, the exit date (None
    # for a replacement not delivered yet, whose deadline is the lease end's for now)
    since: date | None
    days: int
    chosen_on: date
    lease_ends_on: date
    # the day the grace days count from was so long ago that they count from the choice
    from_choice: bool = False

    @property
    def provisional(self) -> bool:
        """A replacement not delivered yet: the deadline moves once it is."""
        return self.reason == ReturnReason.REPLACEMENT and self.since is None

    @property
    def explanation(self) -> str:
        """Why it is due then, as said on the day of the choice (in the reader's language; the
        pages put it after the deadline: "Send it back by 30 January: …")."""
        today, days = self.chosen_on, _days(self.days)
        if self.provisional:
            # Translators: why a return is due when it is (after "send it back by <date>");
            # %(lease_end)s is one of the lease-end explanations below, %(days)s "14 days".
            return _(
                "for now %(lease_end)s; once your new device is delivered, %(days)s after its "
                "delivery"
            ) % {"lease_end": self._lease_end_words(today, days), "days": days}
        if self.reason == ReturnReason.LEAVER:
            day = _day(self.since, today)
            if self.from_choice:
                # Translators: why a return is due when it is; %(days)s is "14 days",
                # %(day)s a date ("3 March").
                return _("%(days)s from today, as your last day at the company was %(day)s") % {
                    "days": days,
                    "day": day,
                }
            # Translators: why a return is due when it is; %(days)s is "14 days", %(day)s a
            # date ("3 March").
            return _("%(days)s after your last day at the company, %(day)s") % {
                "days": days,
                "day": day,
            }
        if self.reason == ReturnReason.REPLACEMENT:
            day = _day(self.since, today)
            if self.from_choice:
                # Translators: why a return is due when it is; %(days)s is "14 days",
                # %(day)s a date ("3 March").
                return _("%(days)s from today, as your new device was delivered on %(day)s") % {
                    "days": days,
                    "day": day,
                }
            # Translators: why a return is due when it is; %(days)s is "14 days", %(day)s a
            # date ("3 March").
            return _("%(days)s after your new device was delivered on %(day)s") % {
                "days": days,
                "day": day,
            }
        return self._lease_end_words(today, days)

    def _lease_end_words(self, today: date, days: str) -> str:
        ends = _day(self.lease_ends_on, today)
        values = {"days": days, "day": ends}
        if self.from_choice:
            # Translators: why a return is due when it is; %(days)s is "14 days", %(day)s a
            # date ("16 January").
            return _("%(days)s from today, as your lease ended on %(day)s") % values
        if self.lease_ends_on >= today:
            # Translators: why a return is due when it is; %(days)s is "14 days", %(day)s a
            # date ("16 January").
            return _("%(days)s after your lease ends on %(day)s") % values
        # Translators: why a return is due when it is; %(days)s is "14 days", %(day)s a date
        # ("16 January").
        return _("%(days)s after your lease ended on %(day)s") % values


def return_due(
    lease: Lease,
    company,
    *,
    reason: str = ReturnReason.LEASE_END,
    on: date | None = None,
    chosen_on: date | None = None,
) -> ReturnDue:
    """When a leased device that goes back for ``reason`` is due, and why. The one rule,
    used by the choice (``lease_choose``), its confirmation page, a leased replacement's
    delivery and the offboarding of a leaver:

    - ``lease_end`` (the employee's Return, the lease-end jobs): the lease's end date plus
      the company's ``return_grace_days``; the employee keeps the device the company pays
      for until its lease is over;
    - ``replacement``: the replacement's delivery date (``on``) plus the grace days. Not
      delivered yet (``on`` is None): the lease-end deadline for now, moved to the
      delivery's once the replacement arrives (``leasing.services.replacements_delivered``),
      so the employee is never without a device, and a cancelled replacement leaves the
      old one due at its lease's end;
    - ``leaver``: the exit date (``on``, required) plus the grace days.

    A deadline always falls after the day the return is decided (``chosen_on``, today by
    default): where the day the grace days count from is so long past that it would not
    (a lease that ended months ago), they count from the choice day instead (at least one
    day)."""
    chosen_on = chosen_on or timezone.localdate()
    days = company.return_grace_days
    if reason == ReturnReason.LEAVER:
        if on is None:
            raise ValueError("A leaver's return needs the exit date.")
    elif reason == ReturnReason.LEASE_END:
        on = lease.ends_on
    elif reason != ReturnReason.REPLACEMENT:
        raise ValueError(f"Unknown return reason {reason!r}")
    due = (on or lease.ends_on) + timedelta(days=days)
    from_choice = due <= chosen_on
    if from_choice:
        due = chosen_on + timedelta(days=max(days, 1))
    return ReturnDue(due, reason, on, days, chosen_on, lease.ends_on, from_choice)


def return_deadline(
    lease: Lease,
    company,
    *,
    reason: str = ReturnReason.LEASE_END,
    on: date | None = None,
    chosen_on: date | None = None,
) -> date:
    """The date of ``return_due``: for the offboarding of a leaver,
    ``return_deadline(lease, company, reason="leaver", on=exit_date)``."""
    return return_due(lease, company, reason=reason, on=on, chosen_on=chosen_on).on


class LeaseQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("device__company"),
        employee=by_user("device__owner"),
        partner_staff=by_partner("partner"),
    )

    def open(self):
        return self.filter(status=Lease.Status.ACTIVE)

    def returns_overdue(self, today: date | None = None):
        return self.open().filter(
            choice=Lease.Choice.RETURN, return_due_on__lt=today or timezone.localdate()
        )


class Lease(models.Model):
    class Status(models.TextChoices):
        # Translators: this and the following are the product's lease status names: translate
        # them as docs/glossary.md says.
        ACTIVE = "active", pgettext_lazy("lease status", "Active")
        CLOSED = "closed", gettext_lazy("Closed")

    class Choice(models.TextChoices):
        # Translators: this and the following are what the employee chose for a lease's end.
        NONE = "", gettext_lazy("Not chosen yet")
        RETURN = "return", pgettext_lazy("lease end choice", "Return")
        BUYOUT = "buyout", gettext_lazy("Buyout")

    class Outcome(models.TextChoices):
        NONE = "", "—"
        # Translators: this and the following are how a lease ended.
        RETURNED = "returned", gettext_lazy("Returned (traded in)")
        BOUGHT_OUT = "bought_out", gettext_lazy("Bought out by the employee")
        REMOVED = "removed", gettext_lazy("Removed from the fleet")

    device = models.OneToOneField("devices.Device", on_delete=models.PROTECT, related_name="lease")
    leasing_company = models.ForeignKey(
        "companies.LeasingCompany", on_delete=models.PROTECT, related_name="leases"
    )
    partner = models.ForeignKey(
        "companies.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="leases"
    )
    starts_on = models.DateField()
    ends_on = models.DateField(db_index=True)
    monthly_price = models.DecimalField(max_digits=12, decimal_places=2)
    buyout_price = models.DecimalField(
        gettext_lazy("residual / buyout price"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
    )
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    # What happens at the end: chosen by the employee (or on a leased replacement).
    choice = models.CharField(max_length=10, choices=Choice.choices, default="", blank=True)
    chosen_at = models.DateTimeField(null=True, blank=True)
    return_due_on = models.DateField(
        gettext_lazy("return by"), null=True, blank=True, db_index=True
    )
    # Why it goes back (the day its deadline counts from: see return_due).
    return_reason = models.CharField(
        max_length=12, choices=ReturnReason.choices, default="", blank=True
    )
    last_notice_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text=gettext_lazy("The last lease-end notice sent (days before the end)."),
    )
    escalated_at = models.DateTimeField(null=True, blank=True)
    # The leasing company's settlement (needed before a leased device is removed).
    settlement_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    settlement_reference = models.CharField(max_length=100, blank=True)
    settled_on = models.DateField(null=True, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default="", blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = LeaseQuerySet.as_manager()

    class Meta:
        ordering = ["ends_on"]
        indexes = [
            # the partner's lease list: theirs, by end date (the admin adds -id to the order)
            models.Index(fields=["partner", "ends_on", "-id"], name="lease_partner_ends_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__gt=models.F("starts_on")), name="lease_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        # Translators: a lease as the console names it: "Lease of MacBook Air until 16 Jan 2027".
        return _("Lease of %(device)s until %(date)s") % {
            "device": self.device,
            "date": date_format(self.ends_on, "d M Y"),
        }

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def days_left(self) -> int:
        return (self.ends_on - timezone.localdate()).days

    @property
    def return_overdue(self) -> bool:
        return bool(
            self.is_open
            and self.choice == self.Choice.RETURN
            and self.return_due_on
            and self.return_due_on < timezone.localdate()
        )

    @property
    def settled(self) -> bool:
        return self.settled_on is not None


class LeaseNotice(models.Model):
    """A notice about a lease sent once: a lease-end threshold, an escalation, a return
    reminder. The unique pair is what keeps a daily job that runs twice from sending twice."""

    lease = models.ForeignKey(Lease, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=30)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(fields=["lease", "kind"], name="one_notice_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.kind} for lease {self.lease_id}"


class BuyoutQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("company"),
        employee=by_user("employee"),
        partner_staff=by_partner("lease__partner"),
    )


class Buyout(models.Model):
    """An employee buying out their leased device: the price, how it is paid (card, or a
    salary deduction the company's payroll takes), and where it stands."""

    class Status(models.TextChoices):
        # Translators: this and the following are the product's buyout status names: translate
        # them as docs/glossary.md says.
        PENDING = "pending", gettext_lazy("Waiting for payment")
        PAID = "paid", gettext_lazy("Paid")
        WITHDRAWN = "withdrawn", pgettext_lazy("buyout status", "Withdrawn")

    class Method(models.TextChoices):
        # Translators: this and the following are how an employee pays a buyout.
        CARD = "card", gettext_lazy("Card")
        SALARY = "salary", gettext_lazy("Salary deduction")

    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="buyouts")
    company = models.ForeignKey("companies.Company", on_delete=models.PROTECT, related_name="+")
    employee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="buyouts"
    )
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    method = models.CharField(max_length=10, choices=Method.choices, blank=True)
    payment = models.OneToOneField(
        "budgets.CardPayment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="buyout",
    )
    payroll_exported_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)

    objects = BuyoutQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["lease"],
                condition=models.Q(status="pending"),
                name="one_pending_buyout_per_lease",
            )
        ]

    def __str__(self) -> str:
        # Translators: a buyout as the console names it: "Buyout of MacBook Air for 180.00 EUR".
        return _("Buyout of %(device)s for %(price)s") % {
            "device": self.lease.device,
            "price": money(self.price, self.currency),
        }
