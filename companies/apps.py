from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class CompaniesConfig(AppConfig):
    name = "companies"
    verbose_name = gettext_lazy("Companies and people")
