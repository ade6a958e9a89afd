"""Orders: the catalogue, orders with their lines, shipments with tracking, and the order's
own history. An order's status as people see it is derived from its devices."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy
from django_fsm import FSMField, FSMModelMixin, transition
from django_fsm_log.decorators import fsm_log_by, fsm_log_description

from core.tenancy import TenantQuerySet, TenantScope, by_company, by_partner, by_user
from devices.models import Category, Device


class Acquisition(models.TextChoices):
    PURCHASE = "purchase", gettext_lazy("Purchase")
    LEASE = "lease", gettext_lazy("Lease")


class ProductQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("company"),
        employee=by_company("company"),
        partner_staff=by_partner("partner"),
    )

    def active(self):
        return self.filter(active=True)


class Product(models.Model):
    """An item of a company's catalogue, supplied by one partner."""

    company = models.ForeignKey(
        "companies.Company", on_delete=models.CASCADE, related_name="products"
    )
    partner = models.ForeignKey(
        "companies.Partner", on_delete=models.PROTECT, related_name="products"
    )
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=20, choices=Category.choices)
    description = models.TextField(blank=True)
    price = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(0)],
        help_text=gettext_lazy("Purchase price, or the lease's total cost against the budget."),
    )
    currency = models.CharField(max_length=3)
    acquisition = models.CharField(
        max_length=10, choices=Acquisition.choices, default=Acquisition.PURCHASE
    )
    monthly_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    lease_months = models.PositiveSmallIntegerField(null=True, blank=True)
    picture = models.ImageField(upload_to="products/", blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["category", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(acquisition="purchase")
                | models.Q(monthly_price__isnull=False, lease_months__isnull=False),
                name="product_lease_has_terms",
            ),
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="product_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_leased(self) -> bool:
        return self.acquisition == Acquisition.LEASE

    @property
    def picture_url(self) -> str:
        """The uploaded picture, else the category's illustration."""
        if self.picture:
            return self.picture.url
        return f"{settings.STATIC_URL}img/products/{self.category}.svg"


class RequestStatus(models.TextChoices):
    # Translators: this and the following are the product's request status names: translate
    # them as docs/glossary.md says, the same everywhere.
    PENDING = "pending", gettext_lazy("Waiting for approval")
    AWAITING_PAYMENT = "awaiting_payment", gettext_lazy("Waiting for card authentication")
    APPROVED = "approved", gettext_lazy("Approved")
    REJECTED = "rejected", gettext_lazy("Rejected")
    WITHDRAWN = "withdrawn", gettext_lazy("Withdrawn")
    FAILED = "failed", gettext_lazy("Not sent — card payment failed")


class ProductRequestQuerySet(TenantQuerySet):
    # Partners see orders, never requests.
    scope = TenantScope(company_admin=by_company("company"), employee=by_user("employee"))


class ProductRequest(FSMModelMixin, models.Model):
    """An employee asks for a product. The budget is reserved at once (the part over it,
    where the company allows, is paid by card: held on the processor's page first, the
    request waits for card authentication until then); a company admin approves it, which
    makes the order and captures the hold, or rejects it with a reason, which releases it.
    The employee may withdraw it until it is decided.

    Its status changes are logged by django-fsm-log (who, when, from, to, reason)."""

    company = models.ForeignKey(
        "companies.Company", on_delete=models.PROTECT, related_name="requests"
    )
    employee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="requests"
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="requests")
    partner = models.ForeignKey("companies.Partner", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=20, choices=Category.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    budget_amount = models.DecimalField(
        max_digits=12, decimal_places=2, help_text=gettext_lazy("The part paid from the budget.")
    )
    card_amount = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        help_text=gettext_lazy("The part paid by the employee's card."),
    )
    is_leased = models.BooleanField(default=False)
    delivery_address = models.TextField()
    # A leased product replacing a leased device the employee holds: what happens to it.
    replaces_device = models.ForeignKey(
        "devices.Device",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="replaced_by_requests",
    )
    replacement_choice = models.CharField(
        gettext_lazy("the replaced device is"),
        max_length=10,
        # Translators: what happens to the device a leased replacement takes the place of
        # ("the replaced device is returned / bought out").
        choices=[("return", gettext_lazy("Returned")), ("buyout", gettext_lazy("Bought out"))],
        blank=True,
    )
    note = models.TextField(blank=True)
    status = FSMField(
        max_length=20, choices=RequestStatus.choices, default=RequestStatus.PENDING, protected=True
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    order = models.OneToOneField(
        "Order", on_delete=models.PROTECT, null=True, blank=True, related_name="request"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = ProductRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount=models.F("budget_amount") + models.F("card_amount")),
                name="request_amount_is_budget_plus_card",
            ),
            models.CheckConstraint(
                condition=models.Q(budget_amount__gte=0, card_amount__gte=0),
                name="request_parts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        # Translators: a product request as the console names it; %(name)s is the product.
        return _("Request %(number)s: %(name)s") % {"number": self.number, "name": self.name}

    @property
    def number(self) -> str:
        return f"VR-{self.pk:06d}" if self.pk else "VR-new"

    # Transitions: guards only; the services do the money and the mail.

    @fsm_log_by
    @fsm_log_description
    @transition(field=status, source=RequestStatus.PENDING, target=RequestStatus.APPROVED)
    def approve(self, *, by=None, description=None):
        self.decided_by, self.decided_at = by, timezone.now()
        self.decision_reason = description or ""

    @fsm_log_by
    @fsm_log_description
    @transition(field=status, source=RequestStatus.PENDING, target=RequestStatus.REJECTED)
    def reject(self, *, by=None, description=None):
        self.decided_by, self.decided_at = by, timezone.now()
        self.decision_reason = description or ""

    @fsm_log_by
    @fsm_log_description
    @transition(
        field=status,
        source=[RequestStatus.PENDING, RequestStatus.AWAITING_PAYMENT],
        target=RequestStatus.WITHDRAWN,
    )
    def withdraw(self, *, by=None, description=None):
        self.decided_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(
        field=status,
        source=[RequestStatus.PENDING, RequestStatus.AWAITING_PAYMENT],
        target=RequestStatus.FAILED,
    )
    def fail_payment(self, *, by=None, description=None):
        self.decided_at = timezone.now()
        self.decision_reason = description or ""

    @fsm_log_by
    @fsm_log_description
    @transition(field=status, source=RequestStatus.AWAITING_PAYMENT, target=RequestStatus.PENDING)
    def card_authorized(self, *, by=None, description=None):
        """The card part is held: the request goes to the company admin."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=status, source=RequestStatus.PENDING, target=RequestStatus.AWAITING_PAYMENT)
    def hold_expired(self, *, by=None, description=None):
        """The card hold ran out before a decision: the employee authorizes again."""


# --- Order numbers: the one place their format is written -------------------------------------

ORDER_PREFIX = "VO-"


def order_number(pk: int) -> str:
    """Order 123 is "VO-000123" everywhere: pages, mail, CSV, and at the partner."""
    return f"{ORDER_PREFIX}{pk:06d}"


def order_pk(number: str) -> int | None:
    """VO-000123 → 123 (also "vo-123", "000123"); None for anything else."""
    if not isinstance(number, str):
        return None
    digits = number.strip().upper().removeprefix(ORDER_PREFIX)
    return int(digits) if digits.isdigit() else None


class OrderQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("company"),
        employee=by_user("employee"),
        partner_staff=by_partner("partner"),
    )


class DispatchStatus(models.TextChoices):
    # Translators: this and the following say where placing an order with its partner stands.
    PENDING = "pending", gettext_lazy("Waiting to be placed")
    PLACED = "placed", gettext_lazy("Placed with the partner")
    FAILED = "failed", gettext_lazy("Could not be placed")
    MANUAL = "manual", gettext_lazy("Handled outside Velory's partner API")


class Order(models.Model):
    """Hardware ordered for one employee from one partner. Each unit of each line is a
    Device; the order's status is theirs, summarised.

    The dispatch fields record placing the order with the partner (through its adapter),
    the polling fields when its tracking is next asked for."""

    company = models.ForeignKey(
        "companies.Company", on_delete=models.PROTECT, related_name="orders"
    )
    employee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    partner = models.ForeignKey(
        "companies.Partner", on_delete=models.PROTECT, related_name="orders"
    )
    delivery_address = models.TextField()
    note = models.TextField(
        blank=True, help_text=gettext_lazy("For the partner: delivery hours, a door code…")
    )
    expected_delivery = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Placing the order with the partner.
    dispatch_status = models.CharField(
        max_length=10, choices=DispatchStatus.choices, default=DispatchStatus.PENDING
    )
    partner_ref = models.CharField(gettext_lazy("partner's reference"), max_length=80, blank=True)
    placed_at = models.DateTimeField(null=True, blank=True)
    dispatch_attempts = models.PositiveSmallIntegerField(default=0)
    dispatch_error = models.CharField(max_length=300, blank=True)
    dispatch_next_at = models.DateTimeField(null=True, blank=True)
    dispatch_claimed_until = models.DateTimeField(null=True, blank=True)
    # Following the partner's tracking.
    tracking_open = models.BooleanField(default=False)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    poll_interval = models.PositiveIntegerField(
        default=0, help_text=gettext_lazy("Seconds until the next poll.")
    )
    last_polled_at = models.DateTimeField(null=True, blank=True)
    partner_version = models.PositiveIntegerField(default=0)
    partner_status = models.CharField(max_length=40, blank=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["employee", "-created_at"], name="order_employee_recent_idx"),
            models.Index(
                fields=["partner", "next_poll_at"],
                name="order_poll_due_idx",
                condition=models.Q(tracking_open=True),
            ),
            models.Index(
                fields=["dispatch_next_at"],
                name="order_dispatch_due_idx",
                condition=models.Q(dispatch_status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def number(self) -> str:
        return order_number(self.pk) if self.pk else f"{ORDER_PREFIX}new"


class OrderLineQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("order__company"),
        employee=by_user("order__employee"),
        partner_staff=by_partner("order__partner"),
    )


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=20, choices=Category.choices)
    quantity = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    is_leased = models.BooleanField(default=False)
    monthly_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    lease_months = models.PositiveSmallIntegerField(null=True, blank=True)

    objects = OrderLineQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="orderline_quantity_positive"
            )
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.name}"


class ShipmentQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("order__company"),
        employee=by_user("order__employee"),
        partner_staff=by_partner("order__partner"),
    )


class Shipment(models.Model):
    """A parcel on its way: the carrier, the tracking number and what the carrier says."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="shipments")
    carrier = models.CharField(max_length=80)
    tracking_number = models.CharField(max_length=80, blank=True)
    tracking_url = models.URLField(max_length=500, blank=True)
    status_text = models.CharField(
        gettext_lazy("delivery status"),
        max_length=200,
        blank=True,
        help_text=gettext_lazy("As the carrier words it."),
    )
    expected_delivery = models.DateField(null=True, blank=True)
    # A delivery exception the carrier reports (a failed attempt, a damaged parcel, an
    # unknown address): what it said, and since when; empty once the carrier moves on.
    exception = models.CharField(
        gettext_lazy("delivery exception"),
        max_length=200,
        blank=True,
        help_text=gettext_lazy("As the carrier words it."),
    )
    exception_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShipmentQuerySet.as_manager()

    class Meta:
        ordering = ["shipped_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "carrier", "tracking_number"], name="shipment_unique_per_order"
            )
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}".strip()


class ShipmentEventQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("shipment__order__company"),
        employee=by_user("shipment__order__employee"),
        partner_staff=by_partner("shipment__order__partner"),
    )


class ShipmentEvent(models.Model):
    """One scan in the carrier's timeline ("Arrived at sorting centre, Malmö")."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    description = models.CharField(max_length=300)
    location = models.CharField(max_length=120, blank=True)

    objects = ShipmentEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "at", "description"], name="shipment_event_unique"
            )
        ]

    def __str__(self) -> str:
        return self.description


class OrderEventQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("company"),
        employee=by_user("order__employee"),
        partner_staff=by_partner("order__partner"),
    )


class OrderEvent(models.Model):
    """The order's own history: created, details changed, partner told, cancelled."""

    class Kind(models.TextChoices):
        # Translators: this and the following are the kinds of lines in an order's history.
        CREATED = "created", gettext_lazy("Order created")
        UPDATED = "updated", gettext_lazy("Details changed")
        PARTNER_NOTIFIED = "partner_notified", gettext_lazy("Partner notified")
        CANCELLED = "cancelled", pgettext_lazy("order history event", "Cancelled")
        NOTE = "note", gettext_lazy("Note")

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    company = models.ForeignKey("companies.Company", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    objects = OrderEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return self.message


class WorkQueueDevice(Device):
    """The partner's work queue: the devices waiting on them, as a list of its own in the
    admin (same rows as Device, another view of them)."""

    class Meta:
        proxy = True
        verbose_name = gettext_lazy("work queue item")
        verbose_name_plural = gettext_lazy("work queue items")


class WorkQueueOrder(Order):
    """The partner's work queue by order: the orders with an item waiting on the partner,
    grouped by company, oldest first (same rows as Order, another view of them)."""

    class Meta:
        proxy = True
        verbose_name = gettext_lazy("order in the work queue")
        verbose_name_plural = gettext_lazy("work queue")


# What a partner agrees to: a device Preparing longer than this is late (the dashboards'
# service figures and the stuck-order alerts use the same days).
AGREED_SHIP_DAYS = 5
# A parcel without a carrier event (or its shipping) for this long has stalled.
STALLED_AFTER_DAYS = 4


def _preparing_too_long() -> str:
    # Translators: why an order is flagged as stuck (%(days)d is the partner's agreed days).
    return ngettext(
        "Preparing longer than %(days)d day",
        "Preparing longer than %(days)d days",
        AGREED_SHIP_DAYS,
    ) % {"days": AGREED_SHIP_DAYS}


def _no_movement() -> str:
    # Translators: why an order is flagged as stuck: its parcel has not moved.
    return ngettext(
        "No carrier movement for %(days)d day",
        "No carrier movement for %(days)d days",
        STALLED_AFTER_DAYS,
    ) % {"days": STALLED_AFTER_DAYS}


class OrderAlertQuerySet(TenantQuerySet):
    scope = TenantScope(company_admin=by_company("company"), partner_staff=by_partner("partner"))

    def open(self):
        return self.filter(closed_at__isnull=True)


class OrderAlert(models.Model):
    """An order that is stuck: raised to the company admin and the partner, shown on both
    dashboards, and closed by itself once the order moves."""

    class Kind(models.TextChoices):
        # The labels of the alerts, in the reader's language (the days are the constants).
        PREPARING_TOO_LONG = "preparing", lazy(_preparing_too_long, str)()
        NO_MOVEMENT = "stalled", lazy(_no_movement, str)()
        # Translators: why an order is flagged as stuck.
        DELIVERY_EXCEPTION = "exception", gettext_lazy("Delivery exception reported by the carrier")

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="alerts")
    company = models.ForeignKey("companies.Company", on_delete=models.CASCADE, related_name="+")
    partner = models.ForeignKey("companies.Partner", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = OrderAlertQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "kind"],
                condition=models.Q(closed_at__isnull=True),
                name="one_open_alert_per_order_and_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{order_number(self.order_id)}: {self.get_kind_display()}"
