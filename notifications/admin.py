from django.contrib import admin

from velory.tenant_admin import TenantAdmin

from .models import Notification


@admin.register(Notification)
class NotificationAdmin(TenantAdmin):
    """Read-only: what was (or will be) mailed to the people the user may see."""

    list_display = ("created_at", "to_email", "subject", "kind", "status", "attempts", "sent_at")
    list_filter = ("status", "kind")
    search_fields = ("to_email", "subject")
    date_hierarchy = "created_at"
    readonly_fields = (
        "recipient",
        "to_email",
        "from_email",
        "reply_to",
        "kind",
        "subject",
        "body_text",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "next_attempt_at",
        "sent_at",
        "dedup_key",
    )
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
