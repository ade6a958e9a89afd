"""Devices: one physical product in an employee's profile, and its status machine.

The 15 statuses and their labels are the help article's words. ``status`` is a protected
FSM field: nothing assigns it; it changes only through the transition methods below, called
by ``devices.engine.devices_transition`` (which locks, checks, writes history). Each
transition declares who may make it, in the words of the lifecycle table in
docs/architecture.md."""

from __future__ import annotations

import enum

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django_fsm import FSMField, FSMModelMixin, transition

from core.tenancy import Role, TenantQuerySet, TenantScope, by_company, by_partner, by_user


class DeviceStatus(models.TextChoices):
    # Translators: the product's device status names (the help article's words):
    # translate this and the 14 below as docs/glossary.md says, the same everywhere.
    ORDERED = "ordered", gettext_lazy("Ordered")
    # Translators: a device status name (docs/glossary.md).
    NOT_STARTED = "not_started", gettext_lazy("Not started")
    # Translators: a device status name (docs/glossary.md).
    ON_HOLD = "on_hold", gettext_lazy("On hold")
    # Translators: a device status name (docs/glossary.md).
    PREPARING = "preparing", gettext_lazy("Preparing")
    # Translators: a device status name (docs/glossary.md).
    BACKORDERED = "backordered", gettext_lazy("Backordered")
    # Translators: a device status name (docs/glossary.md).
    SHIPPED = "shipped", gettext_lazy("Shipped")
    # Translators: a device status name (docs/glossary.md).
    DELIVERED = "delivered", gettext_lazy("Delivered")
    # Translators: a device status name (docs/glossary.md).
    RECEIVED = "received", gettext_lazy("Received")
    # Translators: a device status name (docs/glossary.md).
    CANCELLED = "cancelled", gettext_lazy("Cancelled")
    # Translators: a device status name (docs/glossary.md).
    ACTIVE = "active", gettext_lazy("Active")
    # Translators: a device status name (docs/glossary.md).
    PENDING_BUYOUT = "pending_buyout", gettext_lazy("Pending employee buyout")
    # Translators: a device status name (docs/glossary.md).
    BOUGHT_OUT = "bought_out", gettext_lazy("Bought out by employee")
    # Translators: a device status name (docs/glossary.md).
    PROCESSING_TRADE_IN = "processing_trade_in", gettext_lazy("Processed for trade in")
    # Translators: a device status name (docs/glossary.md).
    TRADED_IN = "traded_in", gettext_lazy("Traded in")
    # Translators: a device status name (docs/glossary.md).
    REMOVED = "removed", gettext_lazy("Removed")


S = DeviceStatus

FINAL_STATUSES = frozenset({S.CANCELLED, S.BOUGHT_OUT, S.TRADED_IN, S.REMOVED})
# The order can still change in Velory only while every device is in one of these.
UPDATABLE_STATUSES = frozenset({S.ORDERED, S.NOT_STARTED})
WITH_PARTNER_STATUSES = frozenset({S.ORDERED, S.NOT_STARTED, S.ON_HOLD, S.PREPARING, S.BACKORDERED})
IN_TRANSIT_STATUSES = frozenset({S.SHIPPED, S.DELIVERED})
# What waits on the partner, in the order of the road: work to do before shipping, parcels
# to mark delivered, returns to confirm (the partner's work queue).
PARTNER_QUEUE_STATUSES = (
    S.ORDERED,
    S.NOT_STARTED,
    S.ON_HOLD,
    S.PREPARING,
    S.BACKORDERED,
    S.SHIPPED,
    S.PROCESSING_TRADE_IN,
)
# In the employee's hands (the fleet).
IN_USE_STATUSES = frozenset({S.RECEIVED, S.ACTIVE, S.PENDING_BUYOUT, S.PROCESSING_TRADE_IN})

# How far along the road from order to use a status is: an order's summary names the
# furthest stage its devices reached ("Shipped — 2 of 3 items").
PROGRESS = {
    S.ORDERED: 0,
    S.NOT_STARTED: 1,
    S.ON_HOLD: 2,
    S.BACKORDERED: 2,
    S.PREPARING: 3,
    S.SHIPPED: 4,
    S.DELIVERED: 5,
    S.RECEIVED: 6,
    S.ACTIVE: 7,
    S.PENDING_BUYOUT: 8,
    S.PROCESSING_TRADE_IN: 8,
    S.BOUGHT_OUT: 9,
    S.TRADED_IN: 9,
    S.REMOVED: 9,
    S.CANCELLED: -1,
}

# The colour family of each status badge (CSS class badge-<tone>).
TONE = {
    S.ORDERED: "neutral",
    S.NOT_STARTED: "neutral",
    S.ON_HOLD: "warn",
    S.PREPARING: "progress",
    S.BACKORDERED: "warn",
    S.SHIPPED: "info",
    S.DELIVERED: "info",
    S.RECEIVED: "ok",
    S.CANCELLED: "bad",
    S.ACTIVE: "ok",
    S.PENDING_BUYOUT: "warn",
    S.BOUGHT_OUT: "final",
    S.PROCESSING_TRADE_IN: "warn",
    S.TRADED_IN: "final",
    S.REMOVED: "final",
}

LABELS = dict(DeviceStatus.choices)


class Category(models.TextChoices):
    LAPTOP = "laptop", gettext_lazy("Laptop")
    PHONE = "phone", gettext_lazy("Phone")
    HEADSET = "headset", gettext_lazy("Headset")
    TABLET = "tablet", gettext_lazy("Tablet")
    MONITOR = "monitor", gettext_lazy("Monitor")
    ACCESSORY = "accessory", gettext_lazy("Accessory")


class Source(models.TextChoices):
    """Where a change came from, shown in the history."""

    # Translators: where a device's status change came from, shown in its history.
    WEB = "web", gettext_lazy("Portal")
    ADMIN = "admin", gettext_lazy("Admin")
    API = "api", gettext_lazy("Partner API")
    POLL = "poll", gettext_lazy("Tracking update")
    SYSTEM = "system", gettext_lazy("Automatic")


# --- Who may make a transition ----------------------------------------------------------------

OWNER = "owner"
COMPANY_ADMIN = "company_admin"
PARTNER = "partner"
SYSTEM = "system"


def actor_roles(device: Device, actor) -> frozenset[str]:
    """The roles ``actor`` holds towards ``device`` (the lifecycle table's "who may")."""
    if getattr(actor, "is_system", False):
        return frozenset({SYSTEM})
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return frozenset()
    roles = set()
    if actor.pk == device.owner_id:
        roles.add(OWNER)
    if actor.is_superuser:
        roles |= {COMPANY_ADMIN, PARTNER}
    elif actor.role == Role.COMPANY_ADMIN and actor.company_id == device.company_id:
        roles.add(COMPANY_ADMIN)
    elif (
        actor.role == Role.PARTNER_STAFF
        and device.partner_id is not None
        and actor.partner_id == device.partner_id
    ):
        roles.add(PARTNER)
    return frozenset(roles)


def may(*allowed: str, when=None):
    """A django-fsm ``permission``: the actor holds one of ``allowed`` roles; ``when`` maps
    a role to an extra condition on the device (a company policy)."""
    allowed_set = frozenset(allowed)
    conditions = when or {}

    def check(device: Device, actor) -> bool:
        for role in actor_roles(device, actor) & allowed_set:
            condition = conditions.get(role)
            if condition is None or condition(device):
                return True
        return False

    check.roles = allowed_set
    return check


# --- The auto-receive rule ---------------------------------------------------------------------
# One rule, used by the FSM guard below, by delivery in the admin and by the tracking poller:
# where the company's policy says so, a device that is delivered is received at once by the
# system, with this note in its history (stored as written: history notes are not
# translated).

AUTO_RECEIVE_NOTE = "Received automatically on delivery (company policy)."


def delivery_steps(*, auto_receive: bool) -> list:
    """The steps of a delivery: "deliver", and where ``auto_receive`` (the company's policy)
    the system's "mark_received" right after it."""
    return ["deliver", ("mark_received", AUTO_RECEIVE_NOTE)] if auto_receive else ["deliver"]


def _auto_receive(device: Device) -> bool:
    """The system receives a device only once it is delivered, and only by policy: at once
    on delivery, or (the daily receipt job decides when) some days after it."""
    company = device.company
    return device.status == S.DELIVERED and (
        company.auto_receive_on_delivery or company.auto_receive_after_days is not None
    )


def _buyout_allowed(device: Device) -> bool:
    return device.company.buyout_allowed


class DeviceQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("company"),
        employee=by_user("owner"),
        partner_staff=by_partner("partner"),
    )


class Device(FSMModelMixin, models.Model):
    company = models.ForeignKey(
        "companies.Company", on_delete=models.PROTECT, related_name="devices"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="devices"
    )
    partner = models.ForeignKey(
        "companies.Partner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="devices",
        help_text=gettext_lazy(
            "The partner who supplies it; empty for hardware bought outside Velory."
        ),
    )
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="devices"
    )
    order_line = models.ForeignKey(
        "orders.OrderLine",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="devices",
    )
    shipment = models.ForeignKey(
        "orders.Shipment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="devices",
    )
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.LAPTOP)
    serial_number = models.CharField(max_length=100, blank=True)
    is_leased = models.BooleanField(default=False)
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    status = FSMField(
        max_length=24,
        choices=DeviceStatus.choices,
        default=S.ORDERED,
        protected=True,
        db_index=True,
    )
    status_changed_at = models.DateTimeField(default=timezone.now)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    received_on = models.DateField(null=True, blank=True)
    registered_manually = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = DeviceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="device_owner_recent_idx"),
            models.Index(fields=["partner", "status"], name="device_partner_status_idx"),
            models.Index(fields=["company", "status"], name="device_company_status_idx"),
            # the admin's lists: newest first per tenant, and the partner's queue by age
            models.Index(
                fields=["partner", "-created_at", "-id"], name="device_partner_recent_idx"
            ),
            models.Index(
                fields=["company", "-created_at", "-id"], name="device_company_recent_idx"
            ),
            models.Index(
                fields=["partner", "status_changed_at"], name="device_partner_waiting_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(registered_manually=True) | models.Q(order__isnull=False),
                name="device_from_order_or_registered",
            )
        ]

    def __str__(self) -> str:
        return self.name

    # -- presentation helpers (no queries) --

    @property
    def status_label(self) -> str:
        return LABELS[self.status]

    @property
    def status_tone(self) -> str:
        return TONE[self.status]

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    # -- transitions: each only checks its guard and sets fields on this row --

    @transition(
        field=status, source=S.ORDERED, target=S.NOT_STARTED, permission=may(PARTNER, SYSTEM)
    )
    def acknowledge(self):
        """The partner has the order in its queue."""

    @transition(
        field=status,
        source=[S.ORDERED, S.NOT_STARTED, S.ON_HOLD, S.BACKORDERED],
        target=S.PREPARING,
        permission=may(PARTNER, SYSTEM),
    )
    def start_preparing(self):
        """The partner is preparing the device (from here on the order is locked)."""

    @transition(
        field=status,
        source=[S.ORDERED, S.NOT_STARTED, S.PREPARING, S.BACKORDERED],
        target=S.ON_HOLD,
        permission=may(PARTNER, SYSTEM),
    )
    def put_on_hold(self):
        """The partner paused the order (waiting for an answer, a payment, ...)."""

    @transition(
        field=status,
        source=[S.NOT_STARTED, S.PREPARING],
        target=S.BACKORDERED,
        permission=may(PARTNER, SYSTEM),
    )
    def backorder(self):
        """Out of stock at the partner."""

    @transition(
        field=status,
        source=[S.PREPARING, S.BACKORDERED],
        target=S.SHIPPED,
        permission=may(PARTNER, SYSTEM),
    )
    def ship(self, *, shipment_id=None, at=None):
        self.shipment_id = shipment_id
        self.shipped_at = at or timezone.now()

    @transition(field=status, source=S.SHIPPED, target=S.DELIVERED, permission=may(PARTNER, SYSTEM))
    def deliver(self, *, at=None):
        self.delivered_at = at or timezone.now()

    @transition(
        field=status,
        source=[S.SHIPPED, S.DELIVERED],
        target=S.RECEIVED,
        permission=may(OWNER, SYSTEM, when={SYSTEM: _auto_receive}),
    )
    def mark_received(self, *, serial_number: str = "", received_on=None):
        """The employee has the device in hand (or the company's auto-receive policy says so
        once it is delivered, or some days after)."""
        if serial_number:
            self.serial_number = serial_number
        self.received_on = received_on or timezone.localdate()
        if self.delivered_at is None:
            self.delivered_at = timezone.now()

    @transition(
        field=status, source=S.RECEIVED, target=S.ACTIVE, permission=may(COMPANY_ADMIN, SYSTEM)
    )
    def activate(self):
        """In use: enrolled, set up, handed over."""

    @transition(
        field=status,
        source=[S.ORDERED, S.NOT_STARTED, S.ON_HOLD, S.PREPARING, S.BACKORDERED],
        target=S.CANCELLED,
        permission=may(PARTNER, COMPANY_ADMIN, SYSTEM),
    )
    def cancel(self):
        """Cancelled before it left the partner."""

    @transition(
        field=status,
        source=[S.RECEIVED, S.ACTIVE],
        target=S.PENDING_BUYOUT,
        permission=may(OWNER, COMPANY_ADMIN, SYSTEM, when={OWNER: _buyout_allowed}),
    )
    def request_buyout(self):
        """The employee chose to buy the device (where the company allows buyouts)."""

    @transition(
        field=status,
        source=S.PENDING_BUYOUT,
        target=S.ACTIVE,
        permission=may(OWNER, COMPANY_ADMIN),
    )
    def withdraw_buyout(self):
        """The employee changed their mind before paying."""

    @transition(
        field=status,
        source=S.PENDING_BUYOUT,
        target=S.BOUGHT_OUT,
        permission=may(COMPANY_ADMIN, PARTNER, SYSTEM),
    )
    def complete_buyout(self):
        """Paid: the device is the employee's and leaves the fleet."""

    @transition(
        field=status,
        source=[S.RECEIVED, S.ACTIVE],
        target=S.PROCESSING_TRADE_IN,
        permission=may(OWNER, COMPANY_ADMIN, SYSTEM),
    )
    def start_trade_in(self):
        """To be returned (lease end, a leased replacement, a trade-in)."""

    @transition(
        field=status,
        source=S.PROCESSING_TRADE_IN,
        target=S.TRADED_IN,
        permission=may(PARTNER),
    )
    def confirm_trade_in(self):
        """The partner has the device back."""

    @transition(
        field=status,
        source=[S.DELIVERED, S.RECEIVED, S.ACTIVE],
        target=S.REMOVED,
        permission=may(COMPANY_ADMIN),
    )
    def remove(self):
        """Out of the fleet: lost, stolen, scrapped or sold."""


# The transitions by name, with the label an action button shows.
class Transition(enum.StrEnum):
    """The transitions by name (the @transition methods above): use these, not strings."""

    ACKNOWLEDGE = "acknowledge"
    START_PREPARING = "start_preparing"
    PUT_ON_HOLD = "put_on_hold"
    BACKORDER = "backorder"
    SHIP = "ship"
    DELIVER = "deliver"
    MARK_RECEIVED = "mark_received"
    ACTIVATE = "activate"
    CANCEL = "cancel"
    REQUEST_BUYOUT = "request_buyout"
    WITHDRAW_BUYOUT = "withdraw_buyout"
    COMPLETE_BUYOUT = "complete_buyout"
    START_TRADE_IN = "start_trade_in"
    CONFIRM_TRADE_IN = "confirm_trade_in"
    REMOVE = "remove"


TRANSITION_LABELS = {
    # Translators: this and the following are the action buttons that change a device's
    # status (in the console and the portal).
    "acknowledge": gettext_lazy("Acknowledge"),
    "start_preparing": gettext_lazy("Start preparing"),
    "put_on_hold": gettext_lazy("Put on hold"),
    "backorder": gettext_lazy("Backorder"),
    "ship": gettext_lazy("Ship"),
    "deliver": gettext_lazy("Mark delivered"),
    "mark_received": gettext_lazy("Mark as received"),
    "activate": gettext_lazy("Activate"),
    "cancel": pgettext_lazy("device action", "Cancel"),
    "request_buyout": gettext_lazy("Request buyout"),
    "withdraw_buyout": gettext_lazy("Withdraw buyout"),
    "complete_buyout": gettext_lazy("Complete buyout"),
    "start_trade_in": gettext_lazy("Start trade-in / return"),
    "confirm_trade_in": gettext_lazy("Confirm trade-in"),
    "remove": pgettext_lazy("device action", "Remove"),
}


# History rows as sentences: the step and who took it ("Shipped by …"); "%(status)s" is the
# new status. Built when the history is read, in the reader's language.
EVENT_SENTENCES = {
    # Translators: this and the following are lines of a device's history; %(actor)s is who
    # made the change (a person's name with their company, "Velory" for the system),
    # %(status)s a device status.
    "order": gettext_lazy("Ordered by %(actor)s"),
    "register": gettext_lazy("Registered as %(status)s by %(actor)s"),
    "acknowledge": gettext_lazy("Acknowledged by %(actor)s"),
    "start_preparing": gettext_lazy("Preparing started by %(actor)s"),
    "put_on_hold": gettext_lazy("Put on hold by %(actor)s"),
    "backorder": gettext_lazy("Backordered by %(actor)s"),
    "ship": gettext_lazy("Shipped by %(actor)s"),
    "deliver": gettext_lazy("Delivered by %(actor)s"),
    "mark_received": gettext_lazy("Marked as received by %(actor)s"),
    "activate": gettext_lazy("Activated by %(actor)s"),
    "cancel": gettext_lazy("Cancelled by %(actor)s"),
    "request_buyout": gettext_lazy("Buyout requested by %(actor)s"),
    "withdraw_buyout": gettext_lazy("Buyout withdrawn by %(actor)s"),
    "complete_buyout": gettext_lazy("Bought out by %(actor)s"),
    "start_trade_in": gettext_lazy("Return started by %(actor)s"),
    "confirm_trade_in": gettext_lazy("Trade-in confirmed by %(actor)s"),
    "remove": gettext_lazy("Removed by %(actor)s"),
    "correct": gettext_lazy("Corrected to %(status)s by %(actor)s"),
}


class DeviceEventQuerySet(TenantQuerySet):
    scope = TenantScope(
        company_admin=by_company("company"),
        employee=by_user("device__owner"),
        partner_staff=by_partner("device__partner"),
    )


class DeviceEvent(models.Model):
    """One line of a device's history: a status change (or its registration), who made it,
    from where, and why. Written in the same transaction as the change."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="events")
    company = models.ForeignKey("companies.Company", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_name = models.CharField(
        max_length=200, help_text=gettext_lazy("Who, as shown in the timeline.")
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    transition = models.CharField(max_length=40, blank=True)
    from_status = models.CharField(max_length=24, choices=DeviceStatus.choices, blank=True)
    to_status = models.CharField(max_length=24, choices=DeviceStatus.choices)
    note = models.TextField(blank=True)

    objects = DeviceEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["device", "-at"], name="device_event_timeline_idx")]

    def __str__(self) -> str:
        return self.sentence()

    def sentence(self, shipment=None) -> str:
        """The history row as people say it: "Shipped by Nina Nordic (Nordic IT) — PostNord
        PN738104592SE" (the parcel where the step shipped it), else the note."""
        status = LABELS.get(self.to_status, self.to_status)
        who = self.actor_name or "Velory"
        if self.source == Source.POLL:
            # Translators: who made a change, when it came in with the partner's tracking.
            who = _("%(actor)s (from the partner's tracking)") % {"actor": who}
        template = EVENT_SENTENCES.get(self.transition)
        if template is None:
            # Translators: a line of a device's history for a change without a name of its
            # own: the new status and who made it.
            template = _("Now %(status)s by %(actor)s")
        text = template % {"actor": who, "status": status}
        detail = self.note
        if not detail and self.transition == "ship" and shipment is not None:
            detail = " ".join(p for p in (shipment.carrier, shipment.tracking_number) if p)
        return f"{text} — {detail}" if detail else text

    @property
    def to_label(self) -> str:
        return LABELS.get(self.to_status, self.to_status)

    @property
    def from_label(self) -> str:
        return LABELS.get(self.from_status, "")


class DeviceNotice(models.Model):
    """Something told or done about a device once by a daily job: a receipt reminder (2 and
    5 days after delivery), the receipt the system made by the company's policy. The unique
    pair is what keeps a job that runs twice, or is retried, from sending anything twice."""

    class Kind(models.TextChoices):
        RECEIPT_REMINDER_2 = (
            "receipt_reminder_2",
            gettext_lazy("Receipt reminder (2 days after delivery)"),
        )
        RECEIPT_REMINDER_5 = (
            "receipt_reminder_5",
            gettext_lazy("Receipt reminder (5 days after delivery)"),
        )
        AUTO_RECEIVED = "auto_received", gettext_lazy("Received automatically (company policy)")

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(fields=["device", "kind"], name="one_device_notice_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.kind} for device {self.device_id}"
