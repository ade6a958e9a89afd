"""Budgets: each employee's allowance per category (or overall) per period, an append-only
ledger of every change, and card payments with their refunds.

A Budget row caches its totals; each BudgetEntry carries the deltas it applied, so the
ledger always adds up to the balance shown (``Budget.ledger_totals`` checks it). Money is
Decimal with two places, never float."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from companies.models import Currency
from core.money import money
from core.tenancy import TenantQuerySet, TenantScope, by_company, by_user
from devices.models import Category

ZERO = Decimal("0.00")


def money_field(**kwargs):
    return models.DecimalField(max_digits=12, decimal_places=2, default=ZERO, **kwargs)


class BudgetQuerySet(TenantQuerySet):
    # Partner staff see no budgets: not their business.
    scope = TenantScope(company_admin=by_company("company"), employee=by_user("employee"))


class Budget(models.Model):
    """What one employee may spend on hardware of one category (or any, when the category is
    empty) in each renewal period, e.g. 2,000 EUR every 36 months."""

    company = models.ForeignKey(
        "companies.Company", on_delete=models.PROTECT, related_name="budgets"
    )
    employee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="budgets"
    )
    category = models.CharField(
        max_length=20,
        choices=Category.choices,
        blank=True,
        help_text=gettext_lazy(
            "Empty: the budget covers every category without a budget of its own."
        ),
    )
    allowance = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        help_text=gettext_lazy("Available each period, before adjustments."),
    )
    currency = models.CharField(max_length=3)
    period_months = models.PositiveSmallIntegerField(default=36)
    period_start = models.DateField()
    period_end = models.DateField(
        db_index=True, help_text=gettext_lazy("The day the next period starts.")
    )
    # Totals of the current period, kept in step with the ledger under the row lock.
    adjustments = money_field()
    reserved = money_field()
    committed = money_field()
    spent = money_field()
    created_at = models.DateTimeField(default=timezone.now)

    objects = BudgetQuerySet.as_manager()

    class Meta:
        ordering = ["employee__full_name", "category"]
        constraints = [
            models.UniqueConstraint(
                fields=["employee", "category"], name="budget_one_per_category"
            ),
            models.CheckConstraint(
                condition=Q(allowance__gte=0), name="budget_allowance_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(reserved__gte=0) & Q(committed__gte=0) & Q(spent__gte=0),
                name="budget_totals_not_negative",
            ),
        ]

    def __str__(self) -> str:
        # Translators: a budget as the console names it: "Nina Nordic · Laptop budget".
        return _("%(employee)s · %(category)s budget") % {
            "employee": self.employee,
            "category": self.category_label,
        }

    @property
    def category_label(self) -> str:
        # Translators: the kind of a budget that covers every category of hardware.
        return self.get_category_display() if self.category else _("Hardware")

    @property
    def total_allowance(self) -> Decimal:
        return self.allowance + self.adjustments

    @property
    def available(self) -> Decimal:
        """Allowance − reserved − committed − spent, in this period."""
        return self.total_allowance - self.reserved - self.committed - self.spent

    def ledger_totals(self) -> dict[str, Decimal]:
        """The sums of every entry's deltas: always equal to the cached totals."""
        sums = self.entries.aggregate(
            adjustments=Sum("allowance_delta"),
            reserved=Sum("reserved_delta"),
            committed=Sum("committed_delta"),
            spent=Sum("spent_delta"),
        )
        return {k: (v or ZERO).quantize(Decimal("0.01")) for k, v in sums.items()}


class BudgetPolicyQuerySet(TenantQuerySet):
    scope = TenantScope(company_admin=by_company("company"))


class BudgetPolicy(models.Model):
    """What a joiner gets: a budget of this allowance and period, for everyone of a group or
    cost centre (or everyone of the company, when both are empty). Applied when a person is
    created by any path (by hand, SCIM, CSV, SSO); the most specific policy of each category
    wins: a group's over a cost centre's over the company-wide one."""

    company = models.ForeignKey(
        "companies.Company", on_delete=models.CASCADE, related_name="budget_policies"
    )
    group = models.ForeignKey(
        "companies.EmployeeGroup",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="budget_policies",
        help_text=gettext_lazy("Only for members of this group."),
    )
    cost_centre = models.CharField(
        max_length=60, blank=True, help_text=gettext_lazy("Only for people of this cost centre.")
    )
    category = models.CharField(
        max_length=20,
        choices=Category.choices,
        blank=True,
        help_text=gettext_lazy(
            "Empty: the budget covers every category without a budget of its own."
        ),
    )
    allowance = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(
        max_length=3,
        choices=Currency.choices,
        blank=True,
        help_text=gettext_lazy(
            "Empty: the company's currency. An office that budgets in its own currency "
            "(a Stockholm office in SEK) gets its budgets in it."
        ),
    )
    period_months = models.PositiveSmallIntegerField(
        gettext_lazy("renewal period (months)"), default=36, validators=[MinValueValidator(1)]
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = BudgetPolicyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = gettext_lazy("budget policies")
        ordering = ["category", "cost_centre"]
        constraints = [
            models.CheckConstraint(
                condition=Q(allowance__gte=0), name="budget_policy_allowance_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(group__isnull=True) | Q(cost_centre=""),
                name="budget_policy_group_or_cost_centre",
            ),
        ]

    def __str__(self) -> str:
        # Translators: whom a budget policy is for when it names no group or cost centre.
        who = self.group.name if self.group_id else (self.cost_centre or _("everyone"))
        label = self.get_category_display() if self.category else _("Hardware")
        # Translators: a budget policy as the console names it: "Laptop for Engineering",
        # "Hardware for everyone".
        return _("%(category)s for %(who)s") % {"category": label, "who": who}

    @property
    def specificity(self) -> int:
        return 2 if self.group_id else (1 if self.cost_centre else 0)


class BudgetEntryQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("budget__company"), employee=by_user("budget__employee")
    )


class BudgetEntry(models.Model):
    """One change to a budget, never edited or deleted."""

    class Kind(models.TextChoices):
        # Translators: this and the following are the kinds of lines in a budget's ledger.
        RESERVE = "reserve", gettext_lazy("Reserved for a request")
        COMMIT = "commit", gettext_lazy("Committed on approval")
        RELEASE = "release", gettext_lazy("Released")
        SPEND = "spend", gettext_lazy("Spent on receipt")
        RESET = "reset", gettext_lazy("Reset at renewal")
        ADJUST = "adjust", gettext_lazy("Adjusted")

    budget = models.ForeignKey(Budget, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, help_text=gettext_lazy("As shown to people.")
    )
    allowance_delta = money_field()
    reserved_delta = money_field()
    committed_delta = money_field()
    spent_delta = money_field()
    request = models.ForeignKey(
        "orders.ProductRequest", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    period_start = models.DateField()
    reason = models.CharField(max_length=300, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=200)
    key = models.CharField(
        max_length=120,
        unique=True,
        help_text=gettext_lazy("One entry per event: a retry writes nothing."),
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = BudgetEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = gettext_lazy("budget entries")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount}"


# --- Card payments ---------------------------------------------------------------------------


class PaymentQuerySet(TenantQuerySet):
    scope = TenantScope(company_admin=by_company("company"), employee=by_user("employee"))


class CardPayment(models.Model):
    """Money from the employee's own card: the part of a request over their budget (held
    when the request is sent, captured when it is approved, released when it is not) or a
    buyout (captured at once). The card itself is entered on the processor's hosted page:
    Velory holds the processor's ids and the card's brand and last four digits, never the
    card number.

    ``status`` moves forward only (pending → authorized → succeeded; pending or authorized
    → voided, expired or failed), whoever reports it first: the employee's return from the
    hosted page, the processor's webhook, or the sweeper asking the processor. ``decision``
    is what Velory has decided to do with a hold (capture or void); the gateway call that
    carries it out runs after commit, claimed like any job, and is retried until done."""

    class Status(models.TextChoices):
        # Translators: this and the following are the product's card payment status names:
        # translate them as docs/glossary.md says.
        PENDING = "pending", gettext_lazy("Waiting for card authentication")
        AUTHORIZED = "authorized", gettext_lazy("Authorized (held)")
        SUCCEEDED = "succeeded", gettext_lazy("Charged")
        VOIDED = "voided", gettext_lazy("Released")
        EXPIRED = "expired", gettext_lazy("Hold expired")
        FAILED = "failed", gettext_lazy("Failed")

    class Decision(models.TextChoices):
        # Translators: this and the following are what Velory decided to do with a card hold.
        NONE = "", gettext_lazy("None")
        CAPTURE = "capture", gettext_lazy("Capture")
        VOID = "void", gettext_lazy("Void")

    class Capture(models.TextChoices):
        # Translators: this and the following are how a card payment is taken.
        MANUAL = "manual", gettext_lazy("Held, captured on approval")
        AUTOMATIC = "automatic", gettext_lazy("Captured at once")

    company = models.ForeignKey("companies.Company", on_delete=models.PROTECT, related_name="+")
    employee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="card_payments"
    )
    request = models.OneToOneField(
        "orders.ProductRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="card_payment",
    )
    purpose = models.CharField(max_length=200)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    gateway = models.CharField(max_length=20)
    payment_method = models.CharField(
        max_length=100,
        blank=True,
        help_text=gettext_lazy(
            "Payments before hosted checkout: the old sandbox's token for the card."
        ),
    )
    card_brand = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    charge_id = models.CharField(
        max_length=100,
        blank=True,
        help_text=gettext_lazy("The processor's payment (PaymentIntent) id."),
    )
    checkout_session_id = models.CharField(max_length=120, blank=True, db_index=True)
    checkout_url = models.URLField(max_length=500, blank=True)
    capture_method = models.CharField(
        max_length=10, choices=Capture.choices, default=Capture.AUTOMATIC
    )
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.CharField(max_length=300, blank=True)
    refunded = money_field()
    key = models.CharField(max_length=120, unique=True)
    decision = models.CharField(max_length=10, choices=Decision.choices, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    authorized_at = models.DateTimeField(null=True, blank=True)
    capture_before = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    disputed_at = models.DateTimeField(null=True, blank=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)

    objects = PaymentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded__lte=models.F("amount")), name="payment_refund_within_amount"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="payment_decision_due_idx",
                condition=~Q(decision=""),
            )
        ]

    def __str__(self) -> str:
        card = f" · {self.card_brand} •••• {self.card_last4}" if self.card_last4 else ""
        return f"{self.amount} {self.currency}{card}"

    @property
    def refundable(self) -> Decimal:
        return self.amount - self.refunded

    @property
    def open(self) -> bool:
        """Waiting for the employee on the processor's page."""
        return self.status == self.Status.PENDING

    def badge(self) -> tuple[str, str]:
        """(label, tone) for the employee's list: a refund shows as done only once the
        processor has done it (reads the prefetched refunds)."""
        if self.status == self.Status.SUCCEEDED:
            if any(r.status != "succeeded" for r in self.refunds.all()):
                return _("Refund under way"), "warn"
            if self.refunded >= self.amount:
                return _("Refunded"), "final"
            if self.refunded:
                return _("Partly refunded"), "ok"
            return self.get_status_display(), "ok"
        tone = {
            self.Status.FAILED: "bad",
            self.Status.EXPIRED: "bad",
            self.Status.VOIDED: "final",
            self.Status.AUTHORIZED: "ok",
        }.get(self.status, "warn")
        return self.get_status_display(), tone


class ProcessorEventQuerySet(TenantQuerySet):
    # An event may name any company's payment: superusers only (no scope for anyone else).
    scope = TenantScope()


class ProcessorEvent(models.Model):
    """A webhook event from the card processor, stored by its id before it is processed:
    a retry or a replay of the same event finds the row and changes nothing."""

    class Outcome(models.TextChoices):
        # Translators: this and the following are what became of a card processor's event.
        WAITING = "", gettext_lazy("Not processed yet")
        APPLIED = "applied", gettext_lazy("Applied")
        NOTHING = "nothing", gettext_lazy("Nothing to change")
        IGNORED = "ignored", gettext_lazy("Ignored")

    event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=80)
    created = models.DateTimeField(help_text=gettext_lazy("When the processor made the event."))
    received_at = models.DateTimeField(default=timezone.now)
    payload = models.JSONField()
    payment = models.ForeignKey(
        CardPayment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    note = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)

    objects = ProcessorEventQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(
                fields=["received_at"],
                name="event_unprocessed_idx",
                condition=Q(processed_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class PaymentMismatchQuerySet(TenantQuerySet):
    scope = TenantScope(company_admin=by_company("company"))


class PaymentMismatch(models.Model):
    """A difference the daily reconciliation found between Velory's payments and refunds
    and the processor's list, shown to the superuser and the company admin until resolved."""

    class Kind(models.TextChoices):
        # Translators: this and the following are the kinds of differences between Velory's
        # payments and the card processor's.
        MISSING_AT_PROCESSOR = "missing_processor", gettext_lazy("Missing at the processor")
        MISSING_IN_VELORY = "missing_velory", gettext_lazy("Missing in Velory")
        AMOUNT = "amount", gettext_lazy("Amount differs")
        STATUS = "status", gettext_lazy("Status differs")
        DISPUTE = "dispute", gettext_lazy("Dispute opened")

    company = models.ForeignKey(
        "companies.Company", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    payment = models.ForeignKey(
        CardPayment, on_delete=models.PROTECT, null=True, blank=True, related_name="mismatches"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reference = models.CharField(max_length=120, help_text=gettext_lazy("The processor's id."))
    detail = models.CharField(max_length=300)
    key = models.CharField(max_length=200, unique=True)
    found_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = PaymentMismatchQuerySet.as_manager()

    class Meta:
        ordering = ["-found_at", "-id"]
        verbose_name_plural = gettext_lazy("payment mismatches")

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.reference}"


class RefundQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("payment__company"), employee=by_user("payment__employee")
    )


class Refund(models.Model):
    """Money going back to the card it came from. Created in the same transaction as the
    cancellation that causes it (its key makes that exactly once), sent to the gateway
    after commit, retried with backoff until the gateway confirms."""

    class Status(models.TextChoices):
        # Translators: this and the following are the product's refund status names: translate
        # them as docs/glossary.md says.
        PENDING = "pending", gettext_lazy("Pending")
        SUCCEEDED = "succeeded", gettext_lazy("Refunded")
        FAILED = "failed", gettext_lazy("Failed — retrying")
        REFUSED = "refused", gettext_lazy("Refused by the card processor")

    payment = models.ForeignKey(CardPayment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    reason = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    refund_id = models.CharField(max_length=100, blank=True)
    key = models.CharField(max_length=120, unique=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = RefundQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")
        ]

    def __str__(self) -> str:
        # Translators: a refund as the console names it: "Refund 120.00 EUR".
        return _("Refund %(amount)s") % {"amount": money(self.amount, self.payment.currency)}


class SandboxTransaction(models.Model):
    """What the sandbox gateway "did": its record of charges and refunds, as a real gateway
    would keep one. Used by the demo and the tests."""

    class Kind(models.TextChoices):
        CHARGE = "charge", gettext_lazy("Charge")
        REFUND = "refund", gettext_lazy("Refund")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    idempotency_key = models.CharField(max_length=120, unique=True)
    reference = models.CharField(max_length=40, unique=True)
    charge_reference = models.CharField(max_length=40, blank=True)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    payment_method = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=20)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.reference}"
