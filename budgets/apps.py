from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class BudgetsConfig(AppConfig):
    name = "budgets"
    verbose_name = gettext_lazy("Budgets and payments")

    def ready(self):
        from . import checks  # noqa: F401  (registers the deployment checks)
