"""Hole 6: no admin page lets anyone edit an audit or system field (created and updated
times, the actor, versions, claims, attempts, statuses).

Before the fix LeaseAdmin let a company admin change a lease's ``created_at``."""

import pytest
from django.contrib import admin

from core.tenant_admin import TenantAdmin
from demo.data import seed_demo
from leasing.models import Lease

pytestmark = pytest.mark.django_db


def test_no_admin_form_has_a_system_field(client, superuser):
    from core.tenant_admin import is_system_field

    seed_demo()
    client.force_login(superuser, backend="companies.backends.EmailBackend")
    checked = 0
    for model, model_admin in admin.site._registry.items():
        if not isinstance(model_admin, TenantAdmin):
            continue
        opts = model._meta
        obj = model._default_manager.order_by("pk").first()
        pages = [f"/admin/{opts.app_label}/{opts.model_name}/add/"]
        if obj is not None:
            pages.append(f"/admin/{opts.app_label}/{opts.model_name}/{obj.pk}/change/")
        for url in pages:
            response = client.get(url)
            if response.status_code != 200:
                continue  # no add page for this model
            form = response.context["adminform"].form
            fields = {f.name: f for f in opts.get_fields() if hasattr(f, "attname")}
            editable = {n for n in form.fields if n in fields and is_system_field(fields[n])}
            assert not editable, (url, editable)
            checked += 1
    assert checked >= 20


def test_a_company_admin_cannot_change_when_a_lease_was_created(client, acme, login):
    from tests.helpers import device_in

    device = device_in(acme, "active", leased=True)
    lease = Lease.objects.get(device=device)
    created = lease.created_at
    client = login(acme.admin)
    page = client.get(f"/admin/leasing/lease/{lease.pk}/change/")
    assert "created_at" not in page.context["adminform"].form.fields
    client.post(f"/admin/leasing/lease/{lease.pk}/change/", {"created_at_0": "2000-01-01"})
    lease.refresh_from_db()
    assert lease.created_at == created
