from django.contrib import admin, messages

from core.tenant_admin import RecordAdmin

from . import services
from .models import Notification


@admin.register(Notification)
class NotificationAdmin(RecordAdmin):
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
    actions = ["send_again"]

    @admin.action(description="Send the selected failed mail again")
    def send_again(self, request, queryset):
        count = services.notifications_resend(
            actor=request.user, notification_ids=queryset.values_list("pk", flat=True)
        )
        if count:
            self.message_user(request, f"{count} e-mail(s) queued to be sent again.")
        else:
            self.message_user(
                request, "Only mail that failed for good can be sent again.", messages.WARNING
            )
