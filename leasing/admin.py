from django.contrib import admin

from velory.tenant_admin import TenantAdmin

from .models import Lease


@admin.register(Lease)
class LeaseAdmin(TenantAdmin):
    list_display = ("device", "leasing_company", "starts_on", "ends_on", "monthly_price", "status")
    list_filter = ("status", "leasing_company")
    list_select_related = ("device", "leasing_company")
    date_hierarchy = "ends_on"
    readonly_fields = ("device",)
