"""Devices in the admin: each device's page has a button per transition this user may make
from its status (asking for what it needs), the partner's work queue has the bulk actions,
company admins register hardware bought outside Velory and export the fleet."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import dateformat, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from companies.models import User
from core.exports import csv_response
from core.forms import BoundedForm
from core.money import money
from core.tenant_admin import (
    ObjectAction,
    ObjectActionsAdmin,
    ReadOnlyInline,
    is_company_admin,
    is_partner,
)
from devices import lifecycle
from devices.display import status_badge
from devices.engine import Outcome, Result, TransitionRefused, available_transitions
from devices.models import (
    LABELS,
    TRANSITION_LABELS,
    Category,
    Device,
    DeviceEvent,
    DeviceStatus,
    Source,
    Transition,
)
from leasing.models import Lease
from orders.models import Order, order_number

from ..forms import ShipForm, apply_kwargs, form_for, offered, report

T = Transition
S = DeviceStatus


class DeviceEventInline(ReadOnlyInline):
    """The device's history as sentences: "Shipped by Nina Nordic (Nordic IT) — PostNord
    PN738104592SE"."""

    model = DeviceEvent
    fields = ("at", "what", "status", "source")
    readonly_fields = fields
    ordering = ("-at", "-id")
    verbose_name_plural = gettext_lazy("history")
    view_only = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("device__shipment")

    @admin.display(description=gettext_lazy("what happened"))
    def what(self, obj):
        return obj.sentence(shipment=obj.device.shipment)

    @admin.display(description=gettext_lazy("status"))
    def status(self, obj):
        return status_badge(obj.to_status)


class LeaseInline(ReadOnlyInline):
    """The device's lease, read-only: its end, the choice made, the return deadline and
    the settlement (recorded on the lease's own page)."""

    model = Lease
    fields = (
        "leasing_company",
        "ends_on",
        "monthly",
        "residual",
        "choice",
        "return_due_on",
        "settled_on",
        "status",
        "outcome",
    )
    readonly_fields = fields
    show_change_link = True
    view_only = True

    @admin.display(description=gettext_lazy("monthly price"))
    def monthly(self, obj):
        return money(obj.monthly_price, obj.currency)

    @admin.display(description=gettext_lazy("residual / buyout price"))
    def residual(self, obj):
        return money(obj.buyout_price, obj.currency) if obj.buyout_price is not None else "—"


def device_name(device) -> str:
    order = f"{order_number(device.order_id)} · " if device.order_id else ""
    return (
        f"{order}{device.name} ({device.owner})"
        if hasattr(device, "owner")
        else f"{order}{device.name}"
    )


class OrderOfEmployeeSelect(forms.Select):
    """Each order's option names its employee (``data-owner``), so the page offers only the
    chosen employee's orders (the service refuses another's anyway)."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        instance = getattr(value, "instance", None)
        if instance is not None:
            option["attrs"]["data-owner"] = str(instance.employee_id)
        return option


class RegisterHardwareForm(BoundedForm):
    owner = forms.ModelChoiceField(queryset=User.objects.none(), label=gettext_lazy("Employee"))
    name = forms.CharField(
        max_length=200,
        label=gettext_lazy("Name"),
        help_text=gettext_lazy("Make and model, e.g. “Lenovo ThinkPad T14”."),
    )
    category = forms.ChoiceField(choices=Category.choices, label=gettext_lazy("Category"))
    serial_number = forms.CharField(
        max_length=100, required=False, label=gettext_lazy("Serial number")
    )
    status = forms.ChoiceField(
        choices=[(s.value, s.label) for s in lifecycle.REGISTRABLE_STATUSES],
        initial=S.ACTIVE,
        label=gettext_lazy("Status"),
    )
    received_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        label=gettext_lazy("Received on"),
    )
    order = forms.ModelChoiceField(
        queryset=Order.objects.none(),
        required=False,
        widget=OrderOfEmployeeSelect,
        label=gettext_lazy("Order"),
        help_text=gettext_lazy(
            "Only for hardware the partner added to one of the employee's orders."
        ),
    )
    price = forms.DecimalField(
        max_digits=12, decimal_places=2, required=False, min_value=0, label=gettext_lazy("Price")
    )
    leased = forms.BooleanField(
        required=False,
        label=gettext_lazy("Leased"),
        help_text=gettext_lazy("Financed by the company's leasing company: a lease is opened."),
    )
    lease_starts_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        label=gettext_lazy("Lease starts on"),
    )
    lease_months = forms.IntegerField(
        required=False, min_value=1, max_value=120, label=gettext_lazy("Lease months")
    )
    monthly_price = forms.DecimalField(
        max_digits=12,
        decimal_places=2,
        required=False,
        min_value=0,
        label=gettext_lazy("Monthly lease price"),
    )
    note = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label=gettext_lazy("Note")
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = (
            User.objects.visible_to(user).filter(company__isnull=False).order_by("full_name")
        )
        self.fields["order"].queryset = (
            Order.objects.visible_to(user).select_related("employee").order_by("-pk")
        )
        self.fields["order"].label_from_instance = lambda o: (
            f"{o.number} — {o.employee.full_name}, "
            f"{dateformat.format(timezone.localtime(o.created_at), 'j M Y')}"
        )

    def clean(self):
        data = super().clean()
        if data.get("leased"):
            for name in ("lease_months", "monthly_price"):
                if data.get(name) is None:
                    self.add_error(name, _("Needed for a leased device."))
        order, owner = data.get("order"), data.get("owner")
        if order is not None and owner is not None and order.employee_id != owner.pk:
            self.add_error(
                "order",
                _("%(order)s is not one of %(employee)s's orders.")
                % {"order": order.number, "employee": owner.full_name},
            )
        return data


class TransitionActionsMixin:
    """Bulk actions, one per transition, for a changelist of devices or of orders (the work
    queues): each acts on the selected rows' devices (``bulk_devices``), asks only for what
    the rows that can take it need, and reports per row."""

    bulk_transitions: tuple[str, ...] = ()

    def bulk_devices(self, request, queryset):
        """The devices a bulk action on the selected rows acts on."""
        return queryset

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not is_partner(request):
            return {k: v for k, v in actions.items() if not k.startswith("transition_")}
        for name in self.bulk_transitions:
            key = f"transition_{name}"
            actions[key] = (self._bulk(name), key, self.bulk_label(name))
        return actions

    def bulk_label(self, transition: str) -> str:
        # Translators: a bulk action of the device list; %(action)s is a step's button label,
        # a verb ("Ship", "Put on hold").
        return _("%(action)s the selected devices") % {"action": TRANSITION_LABELS[transition]}

    def _bulk(self, transition):
        def action(modeladmin, request, queryset):
            return modeladmin.run_bulk(request, queryset, transition)

        action.__name__ = f"transition_{transition}"
        return action

    def run_bulk(self, request, queryset, transition):
        devices = list(
            self.bulk_devices(request, queryset)
            .select_related("owner", "company", "order")
            .order_by("order_id", "pk")
        )
        names = {d.pk: f"{device_name(d)}, {d.company}" for d in devices}
        # Rows that cannot take the action are reported and left out of the form.
        able = [d for d in devices if transition in available_transitions(d, request.user)]
        unable = [d for d in devices if d not in able]
        if not able:
            for d in unable[:50]:
                messages.warning(
                    request,
                    _("%(item)s: refused — %(reason)s")
                    % {"item": names[d.pk], "reason": cannot(transition, d)},
                )
            messages.error(
                request,
                _("None of the selected items can take “%(action)s”.")
                % {"action": label(transition)},
            )
            return None
        form_class = form_for(transition)
        if transition == T.SHIP:
            return self._bulk_ship(request, able, unable, names)
        if form_class is not None and "apply" not in request.POST:
            return self._intermediate(request, transition, able, unable, form_class())
        data = {}
        if form_class is not None:
            form = form_class(request.POST)
            if not form.is_valid():
                return self._intermediate(request, transition, able, unable, form)
            data = form.cleaned_data
        try:
            outcomes = lifecycle.devices_apply(
                transition=transition,
                device_ids=[d.pk for d in able],
                actor=request.user,
                source=Source.ADMIN,
                **apply_kwargs(transition, data),
            )
        except (ValidationError, TransitionRefused) as refusal:
            messages.error(request, " ".join(getattr(refusal, "messages", [str(refusal)])))
            return None
        report(request, transition, [*outcomes, *refusals(transition, unable)], names)
        return None

    def _intermediate(self, request, transition, devices, unable, form, parcels=None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": ngettext(
                # Translators: the title of a bulk step's page, e.g. "Ship: 3 items".
                "%(action)s: %(count)s item",
                "%(action)s: %(count)s items",
                len(devices),
            )
            % {"action": label(transition), "count": len(devices)},
            "transition": transition,
            "action": f"transition_{transition}",
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across") == "1",
            "devices": devices,
            "unable": [(d, cannot(transition, d)) for d in unable],
            "form": form,
            "parcels": parcels,
        }
        return TemplateResponse(request, "admin/orders/bulk_transition.html", context)

    def _bulk_ship(self, request, devices, unable, names):
        """One parcel per order: a carrier and tracking number for each order that has an
        item to ship, and nothing asked for the others."""
        by_order: dict[int, list] = {}
        for d in devices:
            by_order.setdefault(d.order_id, []).append(d)
        forms_ = {
            order_id: ShipForm(
                request.POST if "apply" in request.POST else None, prefix=f"o{order_id}"
            )
            for order_id in by_order
        }
        parcels = [(order_id, by_order[order_id], forms_[order_id]) for order_id in by_order]
        if "apply" not in request.POST or not all(f.is_valid() for f in forms_.values()):
            return self._intermediate(request, T.SHIP, devices, unable, None, parcels)
        shipments = {
            order_id: apply_kwargs(T.SHIP, form.cleaned_data) for order_id, form in forms_.items()
        }
        outcomes = lifecycle.devices_apply(
            transition=T.SHIP,
            device_ids=[d.pk for d in devices],
            actor=request.user,
            source=Source.ADMIN,
            shipments=shipments,
        )
        report(request, T.SHIP, [*outcomes, *refusals(T.SHIP, unable)], names)
        return None


def label(transition: str) -> str:
    return TRANSITION_LABELS[transition]


def cannot(transition: str, device) -> str:
    """Why this device cannot take the transition, in the user's words."""
    sources = getattr(Device, transition)._django_fsm.transitions
    allowed = [str(LABELS[s]) for s in DeviceStatus.values if s in sources]
    if device.status not in sources:
        # Translators: why an item cannot take a step, e.g. "it is Shipped; “Put on hold” is
        # for items Ordered, Not started or Preparing." The statuses are status labels.
        return _("it is %(status)s; “%(action)s” is for items %(statuses)s.") % {
            "status": LABELS[device.status],
            "action": label(transition),
            "statuses": _statuses_or(allowed),
        }
    # Translators: why an item cannot take a step; %(action)s is the step's button label.
    return _("you may not “%(action)s” this item.") % {"action": label(transition)}


def _statuses_or(statuses: list[str]) -> str:
    """ "A, B or C" in the active language."""
    if len(statuses) == 1:
        return statuses[0]
    # Translators: the last two of a list of statuses, "Ordered, Not started or Preparing".
    return _("%(first)s or %(last)s") % {"first": ", ".join(statuses[:-1]), "last": statuses[-1]}


def refusals(transition: str, devices) -> list[Outcome]:
    return [Outcome(d.pk, Result.REFUSED, cannot(transition, d)) for d in devices]


@admin.register(Device)
class DeviceAdmin(TransitionActionsMixin, ObjectActionsAdmin):
    list_display = (
        "name",
        "owner",
        "company",
        "status_label",
        "partner",
        "serial_number",
        "created_at",
    )
    list_filter = (
        "status",
        "category",
        "registered_manually",
        "is_leased",
        "company",
        "partner",
        ("created_at", admin.DateFieldListFilter),
    )
    list_select_related = ("owner", "company", "partner")
    search_fields = ("name", "serial_number", "owner__full_name", "owner__email")
    inlines = [LeaseInline, DeviceEventInline]
    readonly_fields = (
        "company",
        "owner",
        "partner",
        "order",
        "shipment",
        "status_label",
        "status_changed_at",
        "shipped_at",
        "delivered_at",
        "received_on",
        "registered_manually",
        "is_leased",
        "created_at",
    )
    fields = ("name", "category", "serial_number", "price", "currency", *readonly_fields)
    actions = ["export_csv"]
    company_admin_actions = ("export_csv",)  # money and people's data: theirs alone
    refusals = (TransitionRefused,)

    @admin.display(description=gettext_lazy("status"), ordering="status")
    def status_label(self, obj):
        return status_badge(obj.status)

    def has_add_permission(self, request):
        return False  # hardware is registered through the service (the "register" view)

    def has_change_permission(self, request, obj=None):
        # Details are corrected by company admins; partners act through the buttons.
        return super().has_change_permission(request, obj) and is_company_admin(request)

    def save_model(self, request, obj, form, change):
        lifecycle.device_update_details(
            device_id=obj.pk,
            actor=request.user,
            **{name: form.cleaned_data[name] for name in form.changed_data},
        )

    # -- transition buttons ------------------------------------------------------------------

    def get_object_actions(self, request, obj):
        return [
            self._transition_action(name)
            for name in available_transitions(obj, request.user)
            if offered(name, obj)
        ]

    def _transition_action(self, transition):
        def run(request, obj, data):
            [outcome] = lifecycle.devices_apply(
                transition=transition,
                device_ids=[obj.pk],
                actor=request.user,
                source=Source.ADMIN,
                **apply_kwargs(transition, data),
            )
            if outcome.result in (Result.REFUSED, Result.NOT_FOUND):
                raise TransitionRefused(outcome.message)
            if outcome.result is Result.UNCHANGED:
                return outcome.message
            # Translators: after a device's step, e.g. "MacBook Air: Ship done."
            return _("%(device)s: %(action)s done.") % {
                "device": obj.name,
                "action": TRANSITION_LABELS[transition],
            }

        return ObjectAction(
            transition,
            TRANSITION_LABELS[transition],
            run,
            form=form_for(transition),
            danger=transition in (T.CANCEL, T.REMOVE),
        )

    # -- registration ------------------------------------------------------------------------

    def can_register(self, request) -> bool:
        return is_company_admin(request) and request.user.has_perm("devices.view_device")

    def get_urls(self):
        return [
            path(
                "register/",
                self.admin_site.admin_view(self.register_view),
                name="devices_device_register",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_register": self.can_register(request)}
        return super().changelist_view(request, extra_context)

    def register_view(self, request):
        if not self.can_register(request):
            return TemplateResponse(request, "403.html", {}, status=403)
        form = RegisterHardwareForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                device = lifecycle.device_register_manually(
                    actor=request.user,
                    owner_id=data["owner"].pk,
                    name=data["name"],
                    category=data["category"],
                    serial_number=data["serial_number"],
                    status=data["status"],
                    received_on=data["received_on"],
                    order_id=data["order"].pk if data["order"] else None,
                    price=data["price"],
                    note=data["note"],
                    leased=data["leased"],
                    lease_starts_on=data["lease_starts_on"],
                    lease_months=data["lease_months"],
                    monthly_price=data["monthly_price"],
                )
            except ValidationError as error:
                form.add_error(None, error)
            except TransitionRefused as refusal:
                form.add_error(None, str(refusal))
            except Order.DoesNotExist:
                form.add_error("order", _("That order is not one of this employee's."))
            except User.DoesNotExist:
                form.add_error("owner", _("No such employee."))
            else:
                messages.success(
                    request,
                    _("%(device)s is registered and shows in %(employee)s's profile.")
                    % {"device": device.name, "employee": device.owner},
                )
                return redirect(reverse("admin:devices_device_change", args=[device.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": _("Register hardware bought outside Velory"),
        }
        return TemplateResponse(request, "admin/devices/device/register.html", context)

    # -- export ------------------------------------------------------------------------------

    @admin.action(description=gettext_lazy("Export the selected devices to CSV"))
    def export_csv(self, request, queryset):
        rows = (
            [
                d.pk,
                d.name,
                d.get_category_display(),
                LABELS[d.status],
                d.owner.full_name,
                d.owner.email,
                d.company.name,
                d.partner.name if d.partner else "",
                order_number(d.order_id) if d.order_id else "",
                d.serial_number,
                "yes" if d.is_leased else "no",
                "yes" if d.registered_manually else "no",
                d.price,
                d.currency,
                d.received_on,
                timezone.localtime(d.created_at).date(),
            ]
            for d in queryset.select_related("owner", "company", "partner")
            .order_by("pk")
            .iterator(2000)
        )
        header = [
            "id", "name", "type", "status", "employee", "e-mail", "company", "partner", "order",
            "serial number", "leased", "registered manually", "price", "currency", "received",
            "created",
        ]  # fmt: skip
        return csv_response("devices", header, rows)
