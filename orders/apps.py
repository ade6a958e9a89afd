from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = gettext_lazy("Orders")
