"""/api/partner/v1/: the partner push API, its OpenAPI schema and its reference page."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from . import views
from .docs import docs_view

urlpatterns = [
    path("orders/", views.OrdersView.as_view(), name="partner-api-orders"),
    path("orders/<str:order_id>/", views.OrderView.as_view(), name="partner-api-order"),
    path(
        "orders/<str:order_id>/accept/",
        views.OrderAcceptView.as_view(),
        name="partner-api-order-accept",
    ),
    path(
        "orders/<str:order_id>/reject/",
        views.OrderRejectView.as_view(),
        name="partner-api-order-reject",
    ),
    path("updates/", views.UpdatesView.as_view(), name="partner-api-updates"),
    path("returns/", views.ReturnsView.as_view(), name="partner-api-returns"),
    # Public: the schema and its page describe the API, and hold no one's data.
    path(
        "schema/",
        login_not_required(
            SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[])
        ),
        name="partner-api-schema",
    ),
    path("docs/", docs_view, name="partner-api-docs"),
]
