from django.urls import path

from . import leaving, payments, views

urlpatterns = [
    path("", views.home, name="home"),
    path("me/", views.me, name="me"),
    path("me/live/", views.me_live, name="me-live"),
    path("me/devices/<int:device_id>/", views.device_detail, name="device-detail"),
    path("me/devices/<int:device_id>/receive/", views.device_receive, name="device-receive"),
    path("me/devices/<int:device_id>/lease/", views.device_lease, name="device-lease"),
    path("me/devices/<int:device_id>/buyout/", views.device_buyout, name="device-buyout"),
    path(
        "me/devices/<int:device_id>/buyout/withdraw/",
        views.device_buyout_withdraw,
        name="device-buyout-withdraw",
    ),
    path("me/orders/<int:order_id>/", views.order_detail, name="order-detail"),
    path("me/orders/<int:order_id>/live/", views.order_live, name="order-live"),
    path("me/orders/<int:order_id>/track/", views.order_track, name="order-track"),
    path("me/orders/<int:order_id>/track/live/", views.order_track_live, name="order-track-live"),
    path("me/budget/", views.budget, name="budget"),
    path("me/leaving/", leaving.leaving, name="leaving"),
    path("me/attest/", leaving.attest, name="attest"),
    path("me/leaving/<int:item_id>/choose/", leaving.leaving_choose, name="leaving-choose"),
    path("me/leaving/<int:item_id>/pay/", leaving.leaving_pay, name="leaving-pay"),
    path("me/requests/<int:request_id>/withdraw/", views.request_withdraw, name="request-withdraw"),
    path("payments/<int:payment_id>/return/", payments.payment_return, name="payment-return"),
    path("payments/<int:payment_id>/cancel/", payments.payment_cancel, name="payment-cancel"),
    path("payments/<int:payment_id>/pay/", payments.payment_continue, name="payment-continue"),
    path("payments/<int:payment_id>/dismiss/", payments.payment_dismiss, name="payment-dismiss"),
    path("payments/webhooks/stripe/", payments.processor_webhook, name="processor-webhook"),
    path("catalogue/", views.catalogue, name="catalogue"),
    path("catalogue/<int:product_id>/", views.product_detail, name="product-detail"),
    path("support/", views.support, name="support"),
    path("healthz", views.health, name="health"),
]
