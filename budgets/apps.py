from django.apps import AppConfig


class BudgetsConfig(AppConfig):
    name = "budgets"
    verbose_name = "Budgets and payments"

    def ready(self):
        from . import checks  # noqa: F401  (registers the deployment checks)
