"""What the partner API reads and answers (the OpenAPI schema is built from these)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orders.models import order_pk

from ..services.pushing import MAX_BATCH, PUSH_STATUSES

RESULTS = ("changed", "unchanged", "refused", "not_found")
MAX_ID = 2**63 - 1


@extend_schema_field({"type": "string", "pattern": "^VO-[0-9]{1,18}$", "example": "VO-000123"})
class OrderIdField(serializers.CharField):
    """An order by Velory's order id ("VO-000123")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if len(value) > 21:
            raise serializers.ValidationError("An order id looks like VO-000123.")
        pk = order_pk(value) if value.upper().startswith("VO-") else None
        if pk is None or pk > MAX_ID:
            raise serializers.ValidationError("An order id looks like VO-000123.")
        return pk


# --- Answers -------------------------------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(required=False, help_text="Per field, what is wrong (400).")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class ItemSerializer(serializers.Serializer):
    item_id = serializers.IntegerField(source="pk", help_text="Velory's device id.")
    name = serializers.CharField()
    status = serializers.CharField(help_text="Velory's status value, e.g. not_started.")
    serial_number = serializers.CharField()


class CompanySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ShipToSerializer(serializers.Serializer):
    name = serializers.CharField(source="employee.full_name")
    address = serializers.CharField(source="delivery_address")
    email = serializers.EmailField(source="employee.email")


class OrderSerializer(serializers.Serializer):
    order_id = serializers.CharField(source="number")
    partner_ref = serializers.CharField()
    company = CompanySerializer()
    ship_to = ShipToSerializer(source="*")
    note = serializers.CharField()
    expected_delivery = serializers.DateField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    items = ItemSerializer(many=True, source="devices.all")


class ItemResultSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    result = serializers.ChoiceField(choices=RESULTS)
    status = serializers.CharField(allow_null=True, help_text="Where the item is now.")
    message = serializers.CharField(allow_blank=True, help_text="Why, when refused.")


class OrderResultSerializer(serializers.Serializer):
    order_id = serializers.CharField()
    items = ItemResultSerializer(many=True)


class ShipmentResultSerializer(serializers.Serializer):
    order_id = serializers.CharField()
    result = serializers.ChoiceField(choices=("recorded", "not_found"))


class UpdatesResultSerializer(serializers.Serializer):
    items = ItemResultSerializer(many=True)
    shipments = ShipmentResultSerializer(many=True)


class ItemsResultSerializer(serializers.Serializer):
    items = ItemResultSerializer(many=True)


# --- Requests ------------------------------------------------------------------------------------
# Strict JSON types: a number is not a text and a text is not a number (DRF would convert
# them), so a partner's mapping error is seen at once, not stored.


class Text(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class Whole(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class RejectSerializer(serializers.Serializer):
    reason = Text(
        max_length=500, help_text="Why the order cannot be fulfilled: the employee reads it."
    )


class ItemUpdateSerializer(serializers.Serializer):
    item_id = Whole(min_value=1, max_value=MAX_ID)
    status = serializers.ChoiceField(
        choices=PUSH_STATUSES,
        required=False,
        help_text="Where the item is now; every step between is taken.",
    )
    serial_number = Text(max_length=100, required=False, allow_blank=True)


class TrackingEventSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    description = Text(max_length=300)
    location = Text(max_length=120, required=False, allow_blank=True, default="")


class HttpsURLField(serializers.URLField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value and not value.startswith("https://"):
            raise serializers.ValidationError("A tracking link must be an https:// address.")
        return value


class ShipmentSerializer(serializers.Serializer):
    order_id = OrderIdField()
    carrier = Text(max_length=80)
    tracking_number = Text(max_length=80, required=False, allow_blank=True, default="")
    tracking_url = HttpsURLField(max_length=500, required=False, allow_blank=True, default="")
    status_text = Text(max_length=200, required=False, allow_blank=True, default="")
    expected_delivery = serializers.DateField(required=False, allow_null=True, default=None)
    events = TrackingEventSerializer(many=True, required=False, default=list, max_length=200)
    exception = Text(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="A delivery exception the carrier reports (a failed attempt, a damaged "
        "parcel); empty or left out: none. Raises an alert to the company and to you.",
    )


class UpdatesSerializer(serializers.Serializer):
    items = ItemUpdateSerializer(many=True, required=False, default=list, max_length=MAX_BATCH)
    shipments = ShipmentSerializer(many=True, required=False, default=list, max_length=MAX_BATCH)

    def validate_items(self, items):
        ids = [i["item_id"] for i in items]
        if len(set(ids)) != len(ids):
            raise serializers.ValidationError("Name each item once in a batch.")
        return items

    def validate_shipments(self, shipments):
        ids = [s["order_id"] for s in shipments]
        if len(set(ids)) != len(ids):
            raise serializers.ValidationError("Send one shipment per order in a batch.")
        return shipments


class ReturnsSerializer(serializers.Serializer):
    items = serializers.ListField(
        child=Whole(min_value=1, max_value=MAX_ID),
        min_length=1,
        max_length=MAX_BATCH,
        help_text="The item ids the partner has received back.",
    )
    note = Text(max_length=500, required=False, allow_blank=True, default="")
