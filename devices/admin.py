"""Devices in the admin. Status is read-only here: it changes through the services (the
transition buttons and bulk actions come with the admin console)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from companies.models import User
from devices.services import TransitionRefused, device_update_details
from orders import services as order_services
from orders.models import Order
from velory.tenancy import Role
from velory.tenant_admin import TenantAdmin, TenantInline

from .models import Category, Device, DeviceEvent, DeviceStatus


class DeviceEventInline(TenantInline):
    model = DeviceEvent
    fields = ("at", "from_status", "to_status", "actor_name", "source", "note")
    readonly_fields = fields
    ordering = ("-at", "-id")
    can_delete = False
    verbose_name_plural = "history"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RegisterHardwareForm(forms.Form):
    owner = forms.ModelChoiceField(queryset=User.objects.none(), label="Employee")
    name = forms.CharField(max_length=200, help_text="Make and model, e.g. “Lenovo ThinkPad T14”.")
    category = forms.ChoiceField(choices=Category.choices)
    serial_number = forms.CharField(max_length=100, required=False)
    status = forms.ChoiceField(
        choices=[(s.value, s.label) for s in order_services.REGISTRABLE_STATUSES],
        initial=DeviceStatus.ACTIVE,
    )
    received_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    order = forms.ModelChoiceField(
        queryset=Order.objects.none(),
        required=False,
        help_text="Only for hardware the partner added to one of the employee's orders.",
    )
    price = forms.DecimalField(max_digits=12, decimal_places=2, required=False, min_value=0)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = (
            User.objects.visible_to(user).filter(company__isnull=False).order_by("full_name")
        )
        self.fields["order"].queryset = Order.objects.visible_to(user).select_related("employee")


@admin.register(Device)
class DeviceAdmin(TenantAdmin):
    list_display = (
        "name",
        "owner",
        "company",
        "status",
        "partner",
        "registered_manually",
        "created_at",
    )
    list_filter = ("status", "category", "registered_manually", "company", "partner")
    list_select_related = ("owner", "company", "partner")
    search_fields = ("name", "serial_number", "owner__full_name", "owner__email")
    date_hierarchy = "created_at"
    inlines = [DeviceEventInline]
    readonly_fields = (
        "company",
        "owner",
        "partner",
        "order",
        "shipment",
        "status",
        "status_changed_at",
        "shipped_at",
        "delivered_at",
        "received_on",
        "registered_manually",
        "created_at",
        "is_leased",
    )
    fields = ("name", "category", "serial_number", "price", "currency", *readonly_fields)

    def has_add_permission(self, request):
        return False  # hardware is registered through the service (the "register" view)

    def save_model(self, request, obj, form, change):
        device_update_details(
            device=obj,
            actor=request.user,
            **{name: form.cleaned_data[name] for name in form.changed_data},
        )

    def can_register(self, request) -> bool:
        user = request.user
        return user.is_superuser or (
            user.role == Role.COMPANY_ADMIN and user.has_perm("devices.view_device")
        )

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
                device = order_services.device_register_manually(
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
                )
            except ValidationError as error:
                form.add_error(None, error)
            except TransitionRefused as refusal:
                form.add_error(None, str(refusal))
            except Order.DoesNotExist:
                form.add_error("order", "That order is not one of this employee's.")
            except User.DoesNotExist:
                form.add_error("owner", "No such employee.")
            else:
                messages.success(
                    request, f"{device.name} is registered and shows in {device.owner}'s profile."
                )
                return redirect(reverse("admin:devices_device_change", args=[device.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Register hardware bought outside Velory",
        }
        return TemplateResponse(request, "admin/devices/device/register.html", context)
