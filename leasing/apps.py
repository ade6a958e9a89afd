from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class LeasingConfig(AppConfig):
    name = "leasing"
    verbose_name = gettext_lazy("Leasing")
