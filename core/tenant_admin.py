"""The one admin base class: every queryset, foreign-key and many-to-many choice, list
filter, search, autocomplete and object page goes through the tenant scope of
``core.tenancy``. A foreign object's page is a 404, not the admin's "perhaps it was
deleted" redirect."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import PAGE_VAR, SEARCH_VAR
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import admin_search
from .forms import BoundedForm, bound_field, bound_form
from .tenancy import Role, acts_as_company_admin, visible


class TenantScopedMixin:
    """Scopes the rows and every choice offered in forms (model admins and inlines)."""

    def get_queryset(self, request):
        return visible(super().get_queryset(request), request.user)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        return bound_field(field) if field is not None else None

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


# Fields that hold a secret: never filterable, never shown, whatever an admin declares.
SECRET_FIELDS = frozenset({"password", "api_key_encrypted"})
SECRET_SUFFIXES = ("_encrypted", "_token", "_secret", "_hash")


def is_secret_field(name: str) -> bool:
    return name in SECRET_FIELDS or name.endswith(SECRET_SUFFIXES)


def is_system_field(field) -> bool:
    """Fields only Velory writes: audit times, who did it, versions, claims and attempts,
    statuses (they move through transitions). No admin page edits them."""
    name = field.name
    return bool(
        getattr(field, "auto_now", False)
        or getattr(field, "auto_now_add", False)
        or type(field).__name__ == "FSMField"
        or name in {"created_at", "updated_at", "status", "actor", "actor_name", "attempts"}
        or name.endswith(("_version", "version", "_claimed_until", "_attempts", "_status"))
    )


class KeysFirstPaginator(Paginator):
    """The changelists' paginator. A page far down a long list reads the keys of the rows
    it skips, not the rows: ``pk IN (the page's keys, in the list's order, OFFSET …)`` in the
    same one query, so the skipped rows cost an index walk, never their columns and their
    joined relations (``list_select_related``) row by row.

    The count stays exact. A list is its tenant's rows (a partner's, a company's), counted
    over the tenant's own index; the table's size in pg_class counts every tenant's rows,
    and the planner's estimate of a filtered list can be far off, which would link pages
    that are not there."""

    deep = 500  # from this many rows skipped, a page is read by its keys
    # Set for a search (TenantAdmin.get_paginator): the count stops one past this. A word
    # found in a quarter of a million rows costs the whole match set to count exactly, and
    # nobody pages through a thousand results: they narrow the search.
    cap: int | None = None

    @cached_property
    def count(self):
        if self.cap is None or not isinstance(self.object_list, QuerySet):
            return super().count
        return self.object_list[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        """More rows match than were counted (the pages say "more than …")."""
        return self.cap is not None and self.count > self.cap

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        rows = self.object_list
        if bottom < self.deep or not isinstance(rows, QuerySet):
            return super().page(number)
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        keys = rows.values("pk")[bottom:top]
        return self._get_page(rows.filter(pk__in=keys), number, self)


def search_lookup(field_name: str) -> str:
    """A search field as Django's admin reads it: ^ starts with, = is exactly, @ full
    text, else contains (any case)."""
    if field_name.startswith("^"):
        return f"{field_name[1:]}__istartswith"
    if field_name.startswith("="):
        return f"{field_name[1:]}__iexact"
    if field_name.startswith("@"):
        return f"{field_name[1:]}__search"
    return f"{field_name}__icontains"


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A relation's filter offering the related rows this user may see, in their admin
    order."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        rows = visible(field.related_model, request.user)
        if ordering:
            rows = rows.order_by(*ordering)
        return [(row.pk, str(row)) for row in rows]


class TenantAdmin(TenantScopedMixin, admin.ModelAdmin):
    list_per_page = 50
    show_full_result_count = False  # one COUNT(*) less per changelist
    paginator = KeysFirstPaginator
    # Lookups our own pages link to beyond the list filters (e.g. the lease forecast's).
    extra_lookups: tuple[str, ...] = ()
    # Actions only company admins (and superusers) get: exports, money, approvals.
    company_admin_actions: tuple[str, ...] = ()

    search_count_cap = 1000
    # A list whose order no index gives (a computed column) sorts every match whichever way
    # they are found: its searches always unite (core.admin_search).
    search_walks = True

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        paginator = super().get_paginator(
            request, queryset, per_page, orphans, allow_empty_first_page
        )
        if request.GET.get(SEARCH_VAR) and isinstance(paginator, KeysFirstPaginator):
            paginator.cap = self.search_count_cap
            counted = getattr(request, "_velory_search_count", None)
            if counted is not None:  # counted already, by the search that chose its way
                paginator.__dict__["count"] = counted
        return paginator

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.company_admin_actions and not is_company_admin(request):
            for name in self.company_admin_actions:
                actions.pop(name, None)
        return actions

    def get_readonly_fields(self, request, obj=None):
        """Whatever an admin declares, audit and system fields are shown, never edited."""
        declared = list(super().get_readonly_fields(request, obj))
        system = [
            f.name
            for f in self.model._meta.concrete_fields
            if is_system_field(f) and f.editable and f.name not in declared
        ]
        return [*declared, *system]

    def get_form(self, request, obj=None, change=False, **kwargs):
        """The page's form with every field bounded, its own declared fields included."""
        form = super().get_form(request, obj, change=change, **kwargs)

        class Bounded(form):
            def __init__(self, *args, **kw):
                super().__init__(*args, **kw)
                bound_form(self)

        Bounded.__name__ = form.__name__
        return Bounded

    def lookup_allowed(self, lookup, value, request=None):
        """Only the lookups the page's own list filters and date hierarchy make: anything
        else in the query string (``?password__startswith=…``, which would tell a row's
        secret one character at a time) is refused with a 400. Secret fields never."""
        parts = lookup.split(LOOKUP_SEP)
        if parts[0] == "pk":
            parts[0] = self.model._meta.pk.name
            lookup = LOOKUP_SEP.join(parts)
        try:
            self.model._meta.get_field(parts[0])
        except FieldDoesNotExist:
            # Not a field: a SimpleListFilter's own parameter, which that filter reads.
            return super().lookup_allowed(lookup, value, request)
        if any(is_secret_field(part) for part in parts):
            return False
        paths = self._filterable_paths(request)
        if not any(lookup == path or lookup.startswith(path + LOOKUP_SEP) for path in paths):
            return False
        return super().lookup_allowed(lookup, value, request)

    def _filterable_paths(self, request) -> set[str]:
        paths = set(self.extra_lookups)
        if self.date_hierarchy:
            paths.add(self.date_hierarchy)
        for item in self.get_list_filter(request):
            name = item[0] if isinstance(item, (tuple, list)) else item
            if isinstance(name, str):
                paths.add(name)
            elif isinstance(name, type) and issubclass(name, admin.SimpleListFilter):
                paths.add(name.parameter_name)  # read by the filter itself, not a lookup
        return paths

    def get_list_filter(self, request):
        """Relation filters only offer the related rows the user may see (the companies a
        partner serves: one small query, not a DISTINCT over every row of the list), and a
        filter on the user's own tenant (a company admin's company, a partner's partner),
        which could only ever show one value, is left out."""
        own = {"company_admin": "company", "partner_staff": "partner"}.get(
            "" if request.user.is_superuser else getattr(request.user, "role", "")
        )
        scoped = []
        for item in super().get_list_filter(request):
            if isinstance(item, str) and self._is_relation(item):
                if item == own:
                    continue
                scoped.append((item, ScopedRelatedFieldListFilter))
            else:
                scoped.append(item)
        return scoped

    def get_search_results(self, request, queryset, search_term):
        """Each word in some field, found the cheaper of two ways (core.admin_search): the
        rows in scope walked in the list's order with one OR over the fields, when the
        capped count finds enough of them within its time budget (a common word); else
        each field matched on its own, with its trigram index, and the matches' keys
        united (a rare word). The count made on the way is the paginator's. A word a field
        cannot hold ("=id" and a name) matches nothing in that field."""
        fields = self.get_search_fields(request)
        if not (fields and search_term):
            return queryset, False
        lookups = [search_lookup(str(name)) for name in fields]
        try:
            page = max(int(request.GET.get(PAGE_VAR, 1)), 1)
        except ValueError:
            page = 1
        if not self.search_walks:
            words = admin_search.search_words(search_term)
            return admin_search.uniting(queryset, lookups, words), False
        found, counted = admin_search.search(
            queryset,
            lookups,
            admin_search.search_words(search_term),
            cap=self.search_count_cap,
            offset=(page - 1) * self.list_per_page,
            per_page=self.list_per_page,
        )
        if counted is not None:
            request._velory_search_count = counted
        return found, False

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


class ViewOnlyMixin:
    """Rows listed and viewed, never added, edited or deleted on this admin page: they
    change only through the services (its actions and buttons call them)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RecordAdmin(ViewOnlyMixin, TenantAdmin):
    """An admin of records that change only through the services (payments, refunds,
    mail, buyouts, the processor's events). Actions (retry, resolve, export) still call
    the services."""


class TenantInline(TenantScopedMixin, admin.TabularInline):
    extra = 0


class ReadOnlyInline(TenantInline):
    """An inline that shows related rows (history, ledger, lines) and never edits them:
    they change only through the services. ``view_only = True`` also refuses the change
    permission (a history that nobody edits, even where the parent is editable)."""

    can_delete = False
    view_only = False
    template = "admin/edit_inline/readonly_tabular.html"

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False if self.view_only else super().has_change_permission(request, obj)


# --- Buttons on an object's page that run a use case -------------------------------------------


class ObjectAction:
    """A button on an object's admin page that asks for what it needs (a form) and calls a
    service. ``run(request, obj, data)`` returns the success message; the service's refusal
    (any exception listed in ``ObjectActionsAdmin.refusals``) is shown on the form and
    changes nothing."""

    def __init__(self, name, label, run, *, form=None, allowed=None, danger=False, help_text=""):
        self.name, self.label, self.run = name, label, run
        self.form = form
        self.allowed = allowed or (lambda request, obj: True)
        self.danger = danger
        self.help_text = help_text


class ObjectActionsAdmin(TenantAdmin):
    change_form_template = "admin/object_actions_change_form.html"
    refusals: tuple = ()

    def get_object_actions(self, request, obj) -> list[ObjectAction]:
        return []

    def _allowed_actions(self, request, obj):
        return [a for a in self.get_object_actions(request, obj) if a.allowed(request, obj)]

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/act/<str:action>/",
                self.admin_site.admin_view(self.object_action_view),
                name="{}_{}_act".format(*info),
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra = {"object_actions": self._allowed_actions(request, obj) if obj else []}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def object_action_view(self, request, object_id, action):
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404("Not found")
        if not self.has_view_or_change_permission(request, obj):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        chosen = next((a for a in self._allowed_actions(request, obj) if a.name == action), None)
        change_url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk]
        )
        if chosen is None:
            messages.error(request, _("That action is not available for this object now."))
            return redirect(change_url)
        form_class = chosen.form or forms.Form
        form = bound_form(form_class(request.POST if request.method == "POST" else None))
        if request.method == "POST" and form.is_valid():
            try:
                message = chosen.run(request, obj, form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, error)
            except self.refusals as refusal:
                form.add_error(None, str(refusal))
            else:
                messages.success(request, message)
                return redirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "action": chosen,
            "form": form,
            "title": f"{chosen.label}: {obj}",
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/object_action.html", context)


def is_company_admin(request, obj=None) -> bool:
    """The request is a company admin's (or a superuser's). Takes ``obj`` so that it can
    be an object button's ``allowed``."""
    return acts_as_company_admin(request.user)


def is_partner(request) -> bool:
    """The request is partner staff's (or a superuser's)."""
    return request.user.is_superuser or request.user.role == Role.PARTNER_STAFF


# The forms object buttons ask for.


class ReasonForm(BoundedForm):
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label=gettext_lazy("Reason"),
        help_text=gettext_lazy(
            "Shown in the device's history; the employee is told where it matters."
        ),
    )


class NoteForm(BoundedForm):
    note = forms.CharField(
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label=gettext_lazy("Note"),
        help_text=gettext_lazy("Optional, shown to the employee."),
    )


class IssuedSecretAdminMixin:
    """The "add" page of a secret Velory issues (core.issued): a name, then the secret shown
    once (templates/admin/secret_new.html, which the page's own template extends); only its
    hash is kept. A page sets the form, its template, what the secret is called and its
    field's id, and makes the secret through its service (``issue_secret``)."""

    secret_form: type[forms.Form]
    secret_template: str
    secret_what = "key"  # "key" or "token": the template words its sentences for each
    secret_id = "secret"
    # The page's titles before and after the secret is made (default: from the model's name).
    secret_title = None
    secret_made_title = None

    def issue_secret(self, request, name: str):
        """(the new row, the raw secret), through the secret's service."""
        raise NotImplementedError

    def secret_context(self, request) -> dict:
        """What the page says about where the secret is used (base URL, documents)."""
        return {}

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = self.secret_form(request.POST or None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": self.secret_title
            # Translators: the title of the page that makes a secret; %(what)s is its kind.
            or _("New %(what)s") % {"what": self.opts.verbose_name},
            "form": form,
            "what": self.secret_what,
            "secret_id": self.secret_id,
            **self.secret_context(request),
        }
        if request.method == "POST" and form.is_valid():
            row, raw = self.issue_secret(request, form.cleaned_data["name"])
            context.update(
                secret_name=row.name,
                raw=raw,
                title=self.secret_made_title
                # Translators: the title of the page showing a new secret once.
                or _("Your new %(what)s") % {"what": self.opts.verbose_name},
            )
        return TemplateResponse(request, self.secret_template, context)
