from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class PortalConfig(AppConfig):
    """The employee's pages (Your Details, devices, orders, Support) and the demo data.

    The other apps each own their data and services; Your Details shows devices, orders,
    budgets and leases together, so the pages live above them all here, which keeps the
    apps free of import cycles (see README, "Layout")."""

    name = "portal"
    verbose_name = gettext_lazy("Employee portal")
