from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = gettext_lazy("Devices")
