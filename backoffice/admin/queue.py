"""The partner's work queue, by order and by item: what waits on the partner (work before
shipping, parcels to mark delivered, returns to confirm), oldest first, with the bulk
actions of the device console."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.db.models import Exists, OuterRef, Prefetch, Subquery
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.tenant_admin import ObjectActionsAdmin, ViewOnlyMixin
from devices.engine import TransitionRefused
from devices.models import (
    LABELS,
    PARTNER_QUEUE_STATUSES,
    TRANSITION_LABELS,
    Device,
    DeviceStatus,
    Transition,
)
from orders.models import WorkQueueDevice, WorkQueueOrder, order_number, order_pk

from .devices import TransitionActionsMixin

T = Transition
S = DeviceStatus

BULK_TRANSITIONS = (
    T.ACKNOWLEDGE,
    T.START_PREPARING,
    T.PUT_ON_HOLD,
    T.BACKORDER,
    T.SHIP,
    T.DELIVER,
    T.CONFIRM_TRADE_IN,
)
AGES = [
    ("2", gettext_lazy("over 2 days")),
    ("7", gettext_lazy("over a week")),
    ("14", gettext_lazy("over two weeks")),
]


def age(since) -> str:
    days = (timezone.now() - since).days
    if days <= 0:
        # Translators: how long an item has waited (a column of the work queue).
        return _("today")
    # Translators: how long an item has waited (a column of the work queue).
    return ngettext("%(count)s day", "%(count)s days", days) % {"count": days}


def waiting_devices():
    return Device.objects.filter(status__in=PARTNER_QUEUE_STATUSES)


def oldest_waiting() -> Subquery:
    """When the order's longest-waiting item started waiting."""
    return Subquery(
        waiting_devices()
        .filter(order=OuterRef("pk"))
        .order_by("status_changed_at")
        .values("status_changed_at")[:1]
    )


class QueueStatusFilter(admin.SimpleListFilter):
    """Only the statuses that need the partner (the dashboard links here by status)."""

    title = gettext_lazy("status")
    parameter_name = "status__exact"

    def lookups(self, request, model_admin):
        return [(s.value, s.label) for s in PARTNER_QUEUE_STATUSES]

    def queryset(self, request, queryset):
        if self.value() in PARTNER_QUEUE_STATUSES:
            return queryset.filter(status=self.value())
        return queryset


class ItemAgeFilter(admin.SimpleListFilter):
    title = gettext_lazy("waiting since")
    parameter_name = "age"

    def lookups(self, request, model_admin):
        return AGES

    def queryset(self, request, queryset):
        if self.value() in dict(AGES):
            since = timezone.now() - timedelta(days=int(self.value()))
            return queryset.filter(status_changed_at__lte=since)
        return queryset


class WaitingForFilter(admin.SimpleListFilter):
    """Orders with an item in this status."""

    title = gettext_lazy("waiting for")
    parameter_name = "waiting"

    def lookups(self, request, model_admin):
        return [(s.value, s.label) for s in PARTNER_QUEUE_STATUSES]

    def queryset(self, request, queryset):
        if self.value() in PARTNER_QUEUE_STATUSES:
            return queryset.filter(
                Exists(Device.objects.filter(order=OuterRef("pk"), status=self.value()))
            )
        return queryset


class OrderAgeFilter(ItemAgeFilter):
    def queryset(self, request, queryset):
        if self.value() in dict(AGES):
            since = timezone.now() - timedelta(days=int(self.value()))
            return queryset.filter(waiting_since__lte=since)
        return queryset


class QueueAdmin(ViewOnlyMixin, TransitionActionsMixin, ObjectActionsAdmin):
    """What both queues share: read-only rows, the bulk transitions, no delete."""

    bulk_transitions = BULK_TRANSITIONS
    actions = []
    list_display_links = None
    refusals = (TransitionRefused,)

    def get_actions(self, request):
        # Django's delete action is never offered here; the bulk transitions are.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(WorkQueueOrder)
class WorkQueueOrderAdmin(QueueAdmin):
    """The partner's queue by order, grouped by company and oldest first: each row says
    where it goes, how long it has waited and which of its items wait for what. A bulk
    action acts on the selected orders' waiting items."""

    list_display = ("order", "company", "employee", "address", "waiting_for", "waiting")
    list_filter = (WaitingForFilter, OrderAgeFilter, "company")
    list_select_related = ("company", "employee")
    search_fields = ("employee__full_name", "employee__email", "=id")

    search_walks = False  # ordered by company and the oldest waiting item: no index gives it

    def get_ordering(self, request):
        # By company, the oldest first (an expression: the admin orders before annotating).
        return ("company__name", oldest_waiting().asc(), "pk")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            # the user's own waiting devices' orders: an index range, not a probe per order
            .filter(
                pk__in=waiting_devices().visible_to(request.user).values("order_id"),
            )
            .annotate(waiting_since=oldest_waiting())
            .prefetch_related(
                Prefetch(
                    "devices",
                    queryset=waiting_devices()
                    .only("pk", "order_id", "name", "status", "status_changed_at")
                    .order_by("pk"),
                    to_attr="waiting_items",
                )
            )
        )

    def get_search_results(self, request, queryset, search_term):
        pk = order_pk(search_term)  # "VO-000123" finds order 123
        return super().get_search_results(
            request, queryset, str(pk) if pk is not None else search_term
        )

    def bulk_devices(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        return Device.objects.visible_to(request.user).filter(
            order_id__in=ids, status__in=PARTNER_QUEUE_STATUSES
        )

    def bulk_label(self, transition):
        # Translators: a bulk action of the partner's work queue, e.g. "Ship: the waiting
        # items of the selected orders".
        return _("%(action)s: the waiting items of the selected orders") % {
            "action": TRANSITION_LABELS[transition]
        }

    @admin.display(description=gettext_lazy("order"), ordering="pk")
    def order(self, obj):
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:orders_order_change", args=[obj.pk]),
            order_number(obj.pk),
        )

    @admin.display(description=gettext_lazy("delivery address"))
    def address(self, obj):
        return ", ".join(line.strip() for line in obj.delivery_address.splitlines() if line.strip())

    @admin.display(description=gettext_lazy("waiting for"))
    def waiting_for(self, obj):
        by_status: dict[str, list[str]] = {}
        for device in obj.waiting_items:
            by_status.setdefault(device.status, []).append(device.name)
        return format_html_join(
            "",
            '<div><span class="badge badge-{}">{}</span> {}</div>',
            (
                (status, LABELS[status], _count_names(by_status[status]))
                for status in PARTNER_QUEUE_STATUSES
                if status in by_status
            ),
        )

    @admin.display(description=gettext_lazy("waiting"), ordering="waiting_since")
    def waiting(self, obj):
        return format_html(
            '<span title="{}">{}</span>',
            _("since %(when)s")
            % {"when": dateformat.format(timezone.localtime(obj.waiting_since), "j M Y H:i")},
            age(obj.waiting_since),
        )


def _count_names(names: list[str]) -> str:
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{n} × {name}" if n > 1 else name for name, n in counts.items())


@admin.register(WorkQueueDevice)
class WorkQueueAdmin(QueueAdmin):
    """The partner's queue item by item, for acting on single devices of an order."""

    list_display = (
        "order_number",
        "name",
        "owner",
        "company",
        "status_label",
        "waiting",
        "status_changed_at",
    )
    list_filter = (QueueStatusFilter, ItemAgeFilter, "company")
    list_select_related = ("owner", "company")
    search_fields = ("name", "serial_number", "owner__full_name", "owner__email")
    ordering = ("status_changed_at", "pk")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status__in=PARTNER_QUEUE_STATUSES)

    @admin.display(description=gettext_lazy("order"), ordering="order_id")
    def order_number(self, obj):
        return order_number(obj.order_id) if obj.order_id else "—"

    @admin.display(description=gettext_lazy("status"), ordering="status")
    def status_label(self, obj):
        return format_html('<span class="badge badge-{}">{}</span>', obj.status, LABELS[obj.status])

    @admin.display(description=gettext_lazy("waiting"))
    def waiting(self, obj):
        return age(obj.status_changed_at)
