from django.contrib import admin, messages

from core.tenant_admin import RecordAdmin

from . import services
from .models import Notification


def kind_title(kind: str) -> str:
    """A mail kind as a title: "password_reset" is "Password reset"."""
    return kind.replace("_", " ").capitalize()


class KindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind__exact"

    def lookups(self, request, model_admin):
        kinds = model_admin.get_queryset(request).order_by("kind").values_list("kind", flat=True)
        return [(k, kind_title(k)) for k in kinds.distinct()]

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


@admin.register(Notification)
class NotificationAdmin(RecordAdmin):
    """Read-only: what was (or will be) mailed to the people the user may see."""

    list_display = (
        "created_at",
        "to_email",
        "subject",
        "kind_title",
        "status",
        "attempts",
        "sent_at",
    )
    list_filter = ("status", KindFilter)
    search_fields = ("to_email", "subject")
    date_hierarchy = "created_at"
    readonly_fields = (
        "recipient",
        "to_email",
        "from_email",
        "reply_to",
        "kind_title",
        "subject",
        "body_text",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "next_attempt_at",
        "sent_at",
    )
    fields = readonly_fields
    actions = ["send_again"]

    @admin.display(description="kind", ordering="kind")
    def kind_title(self, obj):
        return kind_title(obj.kind)

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
