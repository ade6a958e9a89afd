"""The partner API's endpoints: thin. Each parses the request, lets the authentication
class find the partner by its key, and calls ``partners.services.pushing`` (writes, once
per Idempotency-Key) or ``partners.selectors`` (reads). Errors answer
``{"error": {"code", "message"}}`` (docs/partner-api.md)."""

from __future__ import annotations

import hashlib
import json
import re

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from devices.engine import TransitionRefused, refusal_message
from devices.models import DeviceStatus
from orders.models import order_pk

from .. import selectors
from ..services import pushing
from . import serializers as s
from .authentication import ApiKeyAuthentication
from .throttling import ApiKeyRateThrottle

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces

CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "refused",
    413: "batch_too_large",
    415: "unsupported_media_type",
    422: "idempotency_key_reused",
    429: "rate_limited",
}


def _error(status: int, message: str, *, code: str = "", headers=None, fields=None) -> Response:
    error = {"code": code or CODES.get(status, "error"), "message": message}
    if fields:
        error["fields"] = fields
    return Response({"error": error}, status=status, headers=headers)


def api_exception_handler(exc, context):
    """Every refusal in one shape; the services' own refusals mapped to their status."""
    if isinstance(exc, (ObjectDoesNotExist, Http404)):
        return _error(404, "Not found (or not one of your partner's).")
    if isinstance(exc, pushing.KeyReused):
        return _error(422, str(exc))
    if isinstance(exc, pushing.BatchTooLarge):
        return _error(413, str(exc))
    if isinstance(exc, TransitionRefused):
        return _error(409, refusal_message(exc))
    if isinstance(exc, DjangoValidationError):
        return _error(400, refusal_message(exc))
    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = getattr(exc, "detail", None)
    fields = None
    if isinstance(exc, exceptions.ValidationError):
        message = "The request is not valid: see fields."
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
    else:
        message = str(detail) if detail is not None else str(exc)
    headers = {k: v for k, v in response.items() if k in ("Retry-After", "WWW-Authenticate")}
    if isinstance(exc, exceptions.NotFound) and "cursor" in message.lower():
        message = "This cursor is not valid: use a next or previous link as given."
    code = exc.default_code if response.status_code == 401 else ""
    return _error(response.status_code, message, code=code, headers=headers, fields=fields)


ERRORS = {
    400: OpenApiResponse(s.ErrorSerializer, description="Invalid request (nothing changed)."),
    401: OpenApiResponse(s.ErrorSerializer, description="No valid API key."),
    404: OpenApiResponse(s.ErrorSerializer, description="Not found, or not your partner's."),
    429: OpenApiResponse(s.ErrorSerializer, description="Rate limited: see Retry-After."),
}
WRITE_ERRORS = {
    **ERRORS,
    409: OpenApiResponse(s.ErrorSerializer, description="Refused: nothing changed."),
    413: OpenApiResponse(s.ErrorSerializer, description="More than 500 items in a batch."),
    422: OpenApiResponse(
        s.ErrorSerializer, description="Idempotency-Key used for another request."
    ),
}
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    required=True,
    pattern=r"^[\x21-\x7e]{1,255}$",
    description="A key the partner chooses for this write (a UUID): a retry with the same "
    "key and body gets the first answer again and changes nothing.",
)
ORDER_ID = OpenApiParameter(
    "order_id",
    str,
    location=OpenApiParameter.PATH,
    pattern=r"^VO-[0-9]{1,18}$",
    description="Velory's order id, VO-000123.",
)


class PartnerAPIView(APIView):
    """Token-authenticated: no session, no CSRF (the key is in a header, never sent by a
    browser by itself), no login redirect (LoginRequiredMiddleware)."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [ApiKeyRateThrottle]

    @classmethod
    def as_view(cls, **initkwargs):
        return login_not_required(super().as_view(**initkwargs))

    def get_exception_handler(self):
        return api_exception_handler

    def order_id(self) -> int:
        pk = order_pk(self.kwargs["order_id"]) if "order_id" in self.kwargs else None
        if pk is None or not self.kwargs["order_id"].upper().startswith("VO-") or pk > s.MAX_ID:
            raise Http404
        return pk


class WriteView(PartnerAPIView):
    def once(self, request, work) -> Response:
        """Run ``work`` once per Idempotency-Key (``pushing.push_once``)."""
        key = request.headers.get("Idempotency-Key", "")
        if not IDEMPOTENCY_KEY.fullmatch(key):
            raise exceptions.ValidationError(
                {"Idempotency-Key": ["Send an Idempotency-Key header: 1-255 printable characters."]}
            )
        body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
        fingerprint = hashlib.sha256(
            f"{request.method} {request.path}\n{body}".encode()
        ).hexdigest()
        answer = pushing.push_once(actor=request.user, key=key, fingerprint=fingerprint, work=work)
        response = Response(answer.body, status=answer.status)
        if answer.replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    def valid(self, serializer_class, request):
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


# --- Reads ---------------------------------------------------------------------------------------


class OrderCursor(CursorPagination):
    """Oldest first, by a cursor (stable while orders change); a wrong page size is a 400,
    not quietly the default."""

    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"
    ordering = "pk"

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError(
                {"page_size": [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": 200}
        return parameters


class OrderFilters(serializers.Serializer):
    company = serializers.IntegerField(
        required=False, min_value=1, max_value=s.MAX_ID, help_text="One company's orders."
    )
    status = serializers.ChoiceField(
        choices=DeviceStatus.values,
        required=False,
        help_text="Orders with an item in this status (instead of those waiting for you).",
    )
    changed_since = serializers.DateTimeField(
        required=False, help_text="Only orders changed since then (ISO 8601 with offset)."
    )


class OrdersView(PartnerAPIView, GenericAPIView):
    pagination_class = OrderCursor
    serializer_class = s.OrderSerializer

    @extend_schema(
        operation_id="orders_list",
        summary="Orders waiting for you",
        description="Your orders with an item waiting on you (to prepare, on its way, or a "
        "return to confirm), oldest first, with their items; a page at a time (cursor).",
        parameters=[OrderFilters],
        responses={200: s.OrderSerializer(many=True), **ERRORS},
    )
    def get(self, request):
        # A plain dict: an empty value is then invalid, not "not given".
        filters = OrderFilters(
            data={k: v for k, v in request.query_params.items() if k in OrderFilters().fields}
        )
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        orders = selectors.orders_waiting_for(
            request.user,
            company_id=data.get("company"),
            status=data.get("status", ""),
            changed_since=data.get("changed_since"),
        )
        page = self.paginate_queryset(orders)
        return self.get_paginated_response(s.OrderSerializer(page, many=True).data)


class OrderView(PartnerAPIView):
    @extend_schema(
        operation_id="orders_retrieve",
        summary="One order",
        parameters=[ORDER_ID],
        responses={200: s.OrderSerializer, **ERRORS},
    )
    def get(self, request, order_id):
        order = selectors.order_for(request.user, self.order_id())
        return Response(s.OrderSerializer(order).data)


# --- Writes --------------------------------------------------------------------------------------


class OrderAcceptView(WriteView):
    @extend_schema(
        operation_id="orders_accept",
        summary="Accept an order",
        description="Its Ordered items become Not started. Accepting again changes nothing.",
        parameters=[ORDER_ID, IDEMPOTENCY_HEADER],
        request=None,
        responses={200: s.OrderResultSerializer, **WRITE_ERRORS},
    )
    def post(self, request, order_id):
        pk = self.order_id()
        return self.once(request, lambda: pushing.order_accept(order_id=pk, actor=request.user))


class OrderRejectView(WriteView):
    @extend_schema(
        operation_id="orders_reject",
        summary="Reject an order",
        description="Cancels the order's items still with you, as a company admin's "
        "cancellation does (the budget is released, a card payment refunded). Items already "
        "shipped are refused; 409 when every item is.",
        parameters=[ORDER_ID, IDEMPOTENCY_HEADER],
        request=s.RejectSerializer,
        responses={
            200: s.OrderResultSerializer,
            **WRITE_ERRORS,
            409: OpenApiResponse(s.OrderResultSerializer, description="Every item refused."),
        },
    )
    def post(self, request, order_id):
        pk = self.order_id()
        data = self.valid(s.RejectSerializer, request)
        return self.once(
            request,
            lambda: pushing.order_reject(order_id=pk, actor=request.user, reason=data["reason"]),
        )


def _batch_size(request, name: str) -> None:
    data = request.data
    batch = data.get(name) if isinstance(data, dict) else None
    if isinstance(batch, list) and len(batch) > pushing.MAX_BATCH:
        raise pushing.BatchTooLarge(len(batch))


class UpdatesView(WriteView):
    @extend_schema(
        operation_id="updates_create",
        summary="Push item statuses, shipments and serial numbers",
        description="Up to 500 items. Each item is applied or refused on its own (200 with "
        "a result per item); 409 when every item is refused (nothing is applied).",
        parameters=[IDEMPOTENCY_HEADER],
        request=s.UpdatesSerializer,
        responses={
            200: s.UpdatesResultSerializer,
            **WRITE_ERRORS,
            409: OpenApiResponse(s.UpdatesResultSerializer, description="Every item refused."),
        },
    )
    def post(self, request):
        _batch_size(request, "items")
        _batch_size(request, "shipments")
        data = self.valid(s.UpdatesSerializer, request)
        items = [
            pushing.ItemPush(
                item_id=i["item_id"],
                status=i.get("status", ""),
                serial_number=i["serial_number"].strip() if "serial_number" in i else None,
            )
            for i in data["items"]
        ]
        shipments = [
            pushing.ShipmentPush(
                order_id=p["order_id"],
                carrier=p["carrier"],
                tracking_number=p["tracking_number"],
                tracking_url=p["tracking_url"],
                status_text=p["status_text"],
                expected_delivery=p["expected_delivery"],
                events=tuple((e["at"], e["description"], e["location"]) for e in p["events"]),
                exception=p["exception"],
            )
            for p in data["shipments"]
        ]
        return self.once(
            request,
            lambda: pushing.items_report(actor=request.user, items=items, shipments=shipments),
        )


class ReturnsView(WriteView):
    @extend_schema(
        operation_id="returns_confirm",
        summary="Confirm returns",
        description="The items are back with you (trade-ins, returns at lease end): they "
        "become Traded in and their leases close. 409 when every item is refused.",
        parameters=[IDEMPOTENCY_HEADER],
        request=s.ReturnsSerializer,
        responses={
            200: s.ItemsResultSerializer,
            **WRITE_ERRORS,
            409: OpenApiResponse(s.ItemsResultSerializer, description="Every item refused."),
        },
    )
    def post(self, request):
        _batch_size(request, "items")
        data = self.valid(s.ReturnsSerializer, request)
        return self.once(
            request,
            lambda: pushing.returns_confirm(
                item_ids=data["items"], actor=request.user, note=data["note"]
            ),
        )
