import pytest
from django.core.exceptions import ValidationError

from companies import services
from companies.roles import GROUP_NAMES
from core.tenancy import Role

pytestmark = pytest.mark.django_db


def test_company_admin_gets_admin_access_and_group(acme):
    assert acme.admin.is_staff
    assert list(acme.admin.groups.values_list("name", flat=True)) == [
        GROUP_NAMES[Role.COMPANY_ADMIN]
    ]


def test_partner_staff_get_admin_access_and_group(acme):
    assert acme.partner_staff.is_staff
    assert acme.partner_staff.groups.get().name == GROUP_NAMES[Role.PARTNER_STAFF]


def test_employee_has_no_admin_access(acme):
    assert not acme.employee.is_staff
    assert not acme.employee.groups.exists()


def test_changing_role_moves_group_and_access(acme):
    services.user_set_role(user=acme.employee, role=Role.COMPANY_ADMIN)
    acme.employee.refresh_from_db()
    assert acme.employee.is_staff
    services.user_set_role(user=acme.employee, role=Role.EMPLOYEE)
    acme.employee.refresh_from_db()
    assert not acme.employee.is_staff and not acme.employee.groups.exists()


def test_email_is_stored_lowercase_and_unique_whatever_the_case(acme):
    user = services.user_create(
        email="New.Person@Acme.Example", full_name="N P", company=acme.company
    )
    assert user.email == "new.person@acme.example"
    with pytest.raises(ValidationError):
        services.user_create(email="NEW.person@acme.example", full_name="N P", company=acme.company)


def test_employee_without_company_is_refused(db):
    with pytest.raises(ValidationError, match="belong to a company"):
        services.user_create(email="a@b.example", full_name="A", role=Role.EMPLOYEE)


def test_groups_are_created_by_migration_with_permissions(db):
    from django.contrib.auth.models import Group

    admins = Group.objects.get(name=GROUP_NAMES[Role.COMPANY_ADMIN])
    codes = set(admins.permissions.values_list("codename", flat=True))
    assert {"change_company", "view_notification", "add_user"} <= codes
    staff = Group.objects.get(name=GROUP_NAMES[Role.PARTNER_STAFF])
    assert "view_notification" not in set(staff.permissions.values_list("codename", flat=True))


def test_policy_update_refuses_non_policy_fields_for_company_admin(acme):
    with pytest.raises(ValidationError, match="Not a policy setting"):
        services.company_update_policy(company=acme.company, actor=acme.admin, name="Hacked")
    acme.company.refresh_from_db()
    assert acme.company.name == "Acme Corp"
    services.company_update_policy(company=acme.company, actor=acme.admin, buyout_allowed=False)
    acme.company.refresh_from_db()
    assert acme.company.buyout_allowed is False
