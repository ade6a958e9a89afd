"""The one admin base class: every queryset, foreign-key and many-to-many choice, list
filter, search, autocomplete and object page goes through the tenant scope of
``velory.tenancy``. A foreign object's page is a 404, not the admin's "perhaps it was
deleted" redirect."""

from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.http import Http404

from .tenancy import visible


class TenantScopedMixin:
    """Scopes the rows and every choice offered in forms (model admins and inlines)."""

    def get_queryset(self, request):
        return visible(super().get_queryset(request), request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return self._scope_choices(
            super().formfield_for_foreignkey(db_field, request, **kwargs), request
        )

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        return self._scope_choices(
            super().formfield_for_manytomany(db_field, request, **kwargs), request
        )

    @staticmethod
    def _scope_choices(field, request):
        if field is not None and getattr(field, "queryset", None) is not None:
            field.queryset = visible(field.queryset, request.user)
        return field


class TenantAdmin(TenantScopedMixin, admin.ModelAdmin):
    list_per_page = 50
    show_full_result_count = False  # one COUNT(*) less per changelist

    def get_list_filter(self, request):
        """Relation filters only offer values found in the user's own rows."""
        scoped = []
        for item in super().get_list_filter(request):
            if isinstance(item, str) and self._is_relation(item):
                scoped.append((item, admin.RelatedOnlyFieldListFilter))
            else:
                scoped.append(item)
        return scoped

    def _is_relation(self, path: str) -> bool:
        model = self.model
        for part in path.split("__"):
            try:
                field = model._meta.get_field(part)
            except FieldDoesNotExist:
                return False
            if not field.is_relation:
                return False
            model = field.related_model
        return True

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404(f"No {opts.verbose_name} matches the given query.")


class TenantInline(TenantScopedMixin, admin.TabularInline):
    extra = 0
