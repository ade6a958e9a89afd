"""The tenancy helper: each role sees exactly its own tenant's rows, for both companies."""

import pytest

from companies.models import Company, LeasingCompany, Partner, User
from core.tenancy import SYSTEM, Role
from notifications.models import Notification
from notifications.services import notify
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def ids(qs):
    return set(qs.values_list("pk", flat=True))


def test_company_admin_sees_only_their_company_people(acme, globex):
    visible = ids(User.objects.visible_to(acme.admin))
    assert visible == {acme.employee.pk, acme.colleague.pk, acme.admin.pk}


def test_employee_sees_only_themselves_among_users(acme, globex):
    assert ids(User.objects.visible_to(acme.employee)) == {acme.employee.pk}


def test_partner_staff_see_their_colleagues_not_customers(acme, globex):
    assert ids(User.objects.visible_to(acme.partner_staff)) == {acme.partner_staff.pk}


@pytest.mark.parametrize("role", ["employee", "admin", "partner_staff"])
def test_each_role_sees_only_its_company(acme, globex, role):
    for tenant, other in ((acme, globex), (globex, acme)):
        user = getattr(tenant, role)
        assert ids(Company.objects.visible_to(user)) == {tenant.company.pk}
        assert other.company.pk not in ids(Company.objects.visible_to(user))


@pytest.mark.parametrize("role", ["employee", "admin", "partner_staff"])
def test_each_role_sees_only_its_partner(acme, globex, role):
    for tenant in (acme, globex):
        assert ids(Partner.objects.visible_to(getattr(tenant, role))) == {tenant.partner.pk}


def test_partner_serving_two_companies_sees_both_once(acme, globex):
    globex.partner.companies.add(acme.company)
    staff = globex.partner_staff
    assert ids(Company.objects.visible_to(staff)) == {acme.company.pk, globex.company.pk}
    # Nothing repeats although two companies lead to the same leasing company rows.
    globex.company.leasing_company = acme.company.leasing_company
    globex.company.save()
    leases = list(LeasingCompany.objects.visible_to(staff))
    assert len(leases) == len({lc.pk for lc in leases}) == 1


def test_leasing_company_visible_to_its_companies_only(acme, globex):
    assert ids(LeasingCompany.objects.visible_to(acme.employee)) == {
        acme.company.leasing_company_id
    }
    assert ids(LeasingCompany.objects.visible_to(globex.admin)) == {
        globex.company.leasing_company_id
    }


def test_notifications_scoped_by_recipient(acme, globex):
    for user in (acme.employee, acme.admin, globex.employee):
        notify(
            kind="invite",
            recipient=user,
            context={"user": user, "link": "x"},
            dedup_key=f"t:{user.pk}",
        )
    mine = Notification.objects.visible_to(acme.employee)
    assert {n.recipient_id for n in mine} == {acme.employee.pk}
    company = Notification.objects.visible_to(acme.admin)
    assert {n.recipient_id for n in company} == {acme.employee.pk, acme.admin.pk}
    assert not Notification.objects.visible_to(acme.partner_staff).exists()


def test_superuser_and_system_see_everything(acme, globex, superuser):
    everyone = ids(User.objects.all())
    assert ids(User.objects.visible_to(superuser)) == everyone
    assert ids(User.objects.visible_to(SYSTEM)) == everyone


def test_anonymous_and_inactive_users_see_nothing(acme):
    from django.contrib.auth.models import AnonymousUser

    assert not Company.objects.visible_to(AnonymousUser()).exists()
    assert not Company.objects.visible_to(None).exists()
    acme.employee.is_active = False
    assert not Company.objects.visible_to(acme.employee).exists()


def test_a_role_without_a_rule_sees_nothing(acme):
    """Default deny: a user whose role a queryset does not declare gets no rows."""
    odd = UserFactory.build(role="auditor", company=acme.company)
    odd.pk = 999999
    assert not Company.objects.visible_to(odd).exists()


def test_role_and_tenant_must_agree_in_the_database(acme):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="x@example.com", full_name="X", role=Role.PARTNER_STAFF)
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="y@example.com", full_name="Y", role=Role.EMPLOYEE)
