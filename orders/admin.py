from django.contrib import admin

from velory.tenant_admin import TenantAdmin, TenantInline

from .models import Order, OrderEvent, OrderLine, Product, Shipment


class OrderLineInline(TenantInline):
    model = OrderLine
    fields = ("name", "category", "quantity", "unit_price", "currency", "is_leased")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class ShipmentInline(TenantInline):
    model = Shipment
    fields = ("carrier", "tracking_number", "status_text", "shipped_at", "delivered_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class OrderEventInline(TenantInline):
    model = OrderEvent
    fields = ("at", "message", "actor_name")
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "history"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(TenantAdmin):
    list_display = ("__str__", "employee", "company", "partner", "created_at")
    list_filter = ("company", "partner")
    list_select_related = ("employee", "company", "partner")
    search_fields = ("employee__full_name", "employee__email")
    date_hierarchy = "created_at"
    inlines = [OrderLineInline, ShipmentInline, OrderEventInline]
    readonly_fields = (
        "company",
        "employee",
        "partner",
        "delivery_address",
        "note",
        "expected_delivery",
        "created_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request):
        return False


@admin.register(Product)
class ProductAdmin(TenantAdmin):
    list_display = (
        "name",
        "category",
        "price",
        "currency",
        "acquisition",
        "partner",
        "company",
        "active",
    )
    list_filter = ("category", "acquisition", "active", "company", "partner")
    list_select_related = ("partner", "company")
    search_fields = ("name",)
