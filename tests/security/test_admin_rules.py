"""One rule for every admin of ours, checked over all of them: secret fields are never
filterable, and no lookup beyond the page's own filters."""

import pytest
from django.contrib import admin

from core.tenant_admin import TenantAdmin, is_secret_field


def ours():
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, TenantAdmin)
    ]


@pytest.mark.parametrize(("model", "model_admin"), ours(), ids=lambda v: getattr(v, "__name__", ""))
def test_no_admin_lets_a_secret_field_be_filtered(model, model_admin, rf, superuser):
    request = rf.get("/")
    request.user = superuser
    secrets = [f.name for f in model._meta.get_fields() if is_secret_field(f.name)]
    for name in secrets:
        assert not model_admin.lookup_allowed(f"{name}__startswith", "x", request), name
    # and no local field that no filter offers
    assert not model_admin.lookup_allowed("pk__in", "1", request)


def test_every_admin_of_ours_is_a_tenant_admin():
    ours_by_app = {
        m._meta.app_label
        for m in admin.site._registry
        if m._meta.app_label
        in {"companies", "devices", "orders", "budgets", "leasing", "notifications", "partners"}
    }
    assert ours_by_app  # the apps register their models
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label in ours_by_app:
            assert isinstance(model_admin, TenantAdmin), model
