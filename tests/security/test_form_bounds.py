"""Hole 5: boundary values posted to every form the admin and the portal expose give a form
error, never a 500, and save nothing.

Before the fix a budget starting 9999-12-31 crashed with "year 10000 is out of range", and a
budget adjustment of +9,999,999,999.99 beyond the money field's 12 digits was accepted.

The walk: every add and change page of every admin of ours, every object button's form,
and the portal's forms, each with four kinds of hostile input: the last and the first
possible dates with huge and negative numbers, 100 kB strings, and NUL bytes."""

from __future__ import annotations

import pytest
from django import forms
from django.contrib import admin
from django.forms.models import model_to_dict

from budgets.models import Budget
from companies.models import User
from core.tenant_admin import ObjectActionsAdmin, TenantAdmin
from demo.data import seed_demo
from devices.models import Device, DeviceStatus
from orders.models import Order, Product, ProductRequest

pytestmark = pytest.mark.django_db

SCENARIOS = {
    "far future, huge": {"date": "9999-12-31", "number": "99999999999999", "money": "9" * 14},
    "year one, negative": {"date": "0001-01-01", "number": "-99999999999", "money": "-" + "9" * 14},
    "100 kB": {"text": "x" * 100_000},
    "NUL byte": {"text": "a\x00b"},
}


def kind_of(field: forms.Field) -> str | None:
    if isinstance(field, forms.DateTimeField | forms.DateField):
        return "date"
    if isinstance(field, forms.DecimalField | forms.FloatField):
        return "money"
    if isinstance(field, forms.IntegerField):
        return "number"
    if isinstance(field, forms.CharField) and not isinstance(
        field, forms.EmailField | forms.URLField | forms.SlugField
    ):
        return "text"
    return None


def valid_value(field: forms.Field, bound: forms.BoundField):
    value = bound.value()
    if isinstance(field, forms.ModelMultipleChoiceField):
        return [str(v.pk if hasattr(v, "pk") else v) for v in (value or [])]
    if isinstance(field, forms.ChoiceField) and not value:
        choices = [c for c, _ in field.choices if c not in ("", None)]
        return str(choices[0]) if choices else ""
    if isinstance(field, forms.BooleanField):
        return "on" if value else ""
    return "" if value is None else value


def hostile_post(form: forms.BaseForm, scenario: dict, prefix: str = "") -> tuple[dict, int]:
    """The form's own valid values, with the scenario's hostile value in every field of its
    kind. Returns the data and how many fields got a hostile value."""
    data, hostile = {}, 0
    for name, field in form.fields.items():
        key = f"{prefix}{name}"
        kind = kind_of(field)
        if kind in scenario and not field.disabled:
            value = scenario[kind]
            if isinstance(field, forms.SplitDateTimeField):
                data[f"{key}_0"], data[f"{key}_1"] = value, "12:00"
            else:
                data[key] = value
            hostile += 1
        else:
            value = valid_value(field, form[name])
            if isinstance(field, forms.SplitDateTimeField) and value:
                data[f"{key}_0"], data[f"{key}_1"] = str(value)[:10], "12:00"
            elif value not in ("", None, []):
                data[key] = value
    return data, hostile


def management_data(response) -> dict:
    data = {}
    for inline in response.context.get("inline_admin_formsets") or []:
        formset = inline.formset
        for name in formset.management_form.fields:
            data[f"{formset.prefix}-{name}"] = formset.management_form[name].value() or 0
    return data


def snapshot(model, obj=None):
    return (model._default_manager.count(), model_to_dict(obj) if obj is not None else None)


def refetch(model, obj):
    return model._default_manager.get(pk=obj.pk) if obj is not None else None


def ours():
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, TenantAdmin)
    ]


def posts_refused(client, url, model, obj, form, extra=None):
    """Post every scenario to the form at ``url``; each is refused and changes nothing.
    Returns how many posts were made."""
    made = 0
    for name, scenario in SCENARIOS.items():
        data, hostile = hostile_post(form, scenario)
        if not hostile:
            continue
        before = snapshot(model, obj)
        response = client.post(url, {**data, **(extra or {})})
        made += 1
        assert response.status_code != 500, (url, name)
        assert response.status_code in (200, 400), (url, name, response.status_code)
        assert snapshot(model, refetch(model, obj)) == before, (url, name)
    return made


def test_every_admin_form_refuses_boundary_values(client, superuser):
    seed_demo()
    client.force_login(superuser, backend="companies.backends.EmailBackend")
    made = 0
    for model, model_admin in ours():
        opts = model._meta
        base = f"/admin/{opts.app_label}/{opts.model_name}/"
        pages = []
        request = type("R", (), {"user": superuser})()
        if model_admin.has_add_permission(request):
            pages.append((f"{base}add/", None))
        obj = model._default_manager.order_by("pk").first()
        if obj is not None and model_admin.has_change_permission(request, obj):
            pages.append((f"{base}{obj.pk}/change/", obj))
        for url, target in pages:
            page = client.get(url)
            assert page.status_code == 200, url
            form = page.context["adminform"].form
            made += posts_refused(client, url, model, target, form, management_data(page))
    assert made >= 30  # the walk reached the forms


def test_every_object_button_form_refuses_boundary_values(client, superuser, rf):
    seed_demo()
    client.force_login(superuser, backend="companies.backends.EmailBackend")
    made = 0
    for model, model_admin in ours():
        if not isinstance(model_admin, ObjectActionsAdmin):
            continue
        request = rf.get("/")
        request.user = superuser
        for obj in model._default_manager.order_by("pk")[:25]:
            for action in model_admin.get_object_actions(request, obj):
                if action.form is None:
                    continue
                opts = model._meta
                url = f"/admin/{opts.app_label}/{opts.model_name}/{obj.pk}/act/{action.name}/"
                form = action.form()
                made += posts_refused(client, url, model, obj, form)
    assert made >= 10


def test_every_portal_form_refuses_boundary_values(client):
    seed_demo()
    anna = User.objects.get(email="anna@acme.example")
    client.force_login(anna, backend="companies.backends.EmailBackend")
    from portal.forms import MarkReceivedForm, OrderDetailsForm, RequestForm

    delivered = Device.objects.filter(owner=anna, status=DeviceStatus.DELIVERED).first()
    open_order = Order.objects.filter(
        employee=anna, devices__status=DeviceStatus.NOT_STARTED
    ).first()
    product = Product.objects.filter(company=anna.company, active=True).first()
    made = 0
    made += posts_refused(
        client, f"/me/devices/{delivered.pk}/receive/", Device, delivered, MarkReceivedForm()
    )
    made += posts_refused(
        client, f"/me/orders/{open_order.pk}/", Order, open_order, OrderDetailsForm()
    )
    before = ProductRequest.objects.count()
    made += posts_refused(client, f"/catalogue/{product.pk}/", Product, product, RequestForm())
    assert ProductRequest.objects.count() == before
    assert made >= 6
    assert Budget.objects.exists()


def test_a_budget_starting_at_the_end_of_time_is_a_form_error(client, acme, superuser):
    client.force_login(superuser, backend="companies.backends.EmailBackend")
    response = client.post(
        "/admin/budgets/budget/add/",
        {
            "employee": acme.employee.pk,
            "category": "",
            "allowance": "1000.00",
            "period_months": "1",
            "period_start": "9999-12-31",
        },
    )
    assert response.status_code == 200
    assert "Enter a date between" in response.content.decode()
    response = client.post(
        "/admin/budgets/budget/add/",
        {
            "employee": acme.employee.pk,
            "category": "",
            "allowance": "1000.00",
            "period_months": "36",
            "period_start": "2099-06-01",
        },
    )
    assert "The period has to end by" in response.content.decode()
    assert not Budget.objects.exists()


def test_an_adjustment_past_what_the_ledger_holds_is_refused(client, acme):
    from budgets import services as budgets
    from budgets.services import BudgetRefused
    from tests.helpers import budget_for

    budget = budget_for(acme, "2000.00")
    client.force_login(acme.admin, backend="companies.backends.EmailBackend")
    url = f"/admin/budgets/budget/{budget.pk}/act/adjust/"
    response = client.post(url, {"amount": "9999999999.99", "reason": "typo"})
    assert response.status_code == 200
    with pytest.raises(BudgetRefused):
        budgets.budget_adjust(
            budget_id=budget.pk, amount="9999999999.99", reason="typo", actor=acme.admin
        )
    budget.refresh_from_db()
    assert budget.adjustments == 0
