"""Different use cases at once on PostgreSQL, as a company works: employees submit,
withdraw, mark devices received and pay buyouts by card while their admin approves, rejects
and cancels and the tracking poller moves the approved orders on, all on shared employees,
budgets and orders. No deadlock may be reported, no error may escape, and the
ledger and statuses are exact afterwards. (Before one lock order, the Your Details cache
bump took the user row before the budget in some use cases and after it in others.)"""

import contextlib
import random
import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from budgets.models import Budget, CardPayment
from budgets.services import BudgetRefused
from devices import lifecycle
from devices.engine import TransitionRefused
from devices.lifecycle.router import Reported, devices_report
from devices.models import Device, DeviceStatus, Source
from leasing import services as leasing
from leasing.models import Buyout
from orders import services as orders
from orders.models import ProductRequest, RequestStatus
from tests.conftest import make_tenant
from tests.factories import UserFactory
from tests.helpers import bring_to, budget_for, device_in, pay_buyout, product_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
S = DeviceStatus
EXPECTED = (
    BudgetRefused,
    TransitionRefused,
    ValidationError,
    ProductRequest.DoesNotExist,
    leasing.BuyoutRefused,
)
# Where the poller moves the devices of approved orders next.
NEXT = {S.ORDERED: S.NOT_STARTED, S.NOT_STARTED: S.PREPARING, S.PREPARING: S.DELIVERED}


def deadlocks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_mixed_use_cases_at_once_cause_no_deadlock_and_stay_exact(db):
    tenant = make_tenant("mix")
    people = [tenant.employee] + [
        UserFactory(email=f"e{i}@mix.example", company=tenant.company) for i in range(5)
    ]
    for person in people:
        budget_for(tenant, "100000.00", employee=person)
    product = product_for(tenant, price="10.00")
    delivered = {}
    for person in people:
        order = orders.order_create(
            employee_id=person.pk,
            partner_id=tenant.partner.pk,
            lines=[orders.LineSpec("Mouse", "accessory", product.price, "EUR", quantity=4)],
            delivery_address="Storgatan 1",
        )
        delivered[person.pk] = [bring_to(tenant, d, S.DELIVERED).pk for d in order.devices.all()]
    leased = {p.pk: device_in(tenant, S.ACTIVE, employee=p, leased=True).pk for p in people}
    tenant.company.card_payments_allowed = True
    tenant.company.save()
    before = deadlocks()
    stop = time.monotonic() + 6
    errors, done, received = [], [0], []

    def employee(person):
        rng = random.Random(person.pk)
        try:
            while time.monotonic() < stop:
                step = rng.random()
                if step < 0.5:
                    orders.request_submit(
                        employee=person, product_id=product.pk, delivery_address="Storgatan 1"
                    )
                elif step < 0.7:
                    mine = ProductRequest.objects.filter(
                        employee=person, status=RequestStatus.PENDING
                    ).values_list("pk", flat=True)
                    for pk in list(mine)[:1]:
                        with contextlib.suppress(*EXPECTED):
                            orders.request_withdraw(request_id=pk, actor=person)
                elif step < 0.8 and leased[person.pk]:
                    pk, leased[person.pk] = leased[person.pk], None
                    leasing.lease_choose(device_id=pk, actor=person, choice="buyout")
                    pay_buyout(Device.objects.get(pk=pk), person)  # on the processor's page
                elif delivered[person.pk]:
                    pk = delivered[person.pk].pop()
                    lifecycle.device_mark_received(device_id=pk, actor=person)
                    received.append(pk)
                done[0] += 1
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    def admin():
        rng = random.Random(0)
        try:
            while time.monotonic() < stop:
                pending = list(
                    ProductRequest.objects.filter(status=RequestStatus.PENDING)
                    .order_by("?")
                    .values_list("pk", flat=True)[:3]
                )
                for pk in pending:
                    try:
                        if rng.random() < 0.7:
                            request = orders.request_approve(request_id=pk, actor=tenant.admin)
                            if rng.random() < 0.5 and request.order_id:
                                orders.order_cancel(
                                    order_id=request.order_id, actor=tenant.admin, reason="x"
                                )
                        else:
                            orders.request_reject(request_id=pk, actor=tenant.admin, reason="no")
                    except EXPECTED:
                        pass
                    done[0] += 1
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    def poller():  # the partner's tracking, applied as the poller applies it
        try:
            while time.monotonic() < stop:
                moving = Device.objects.filter(
                    order__employee__in=people, status__in=list(NEXT)
                ).select_related("order__company")[:10]
                reported = [
                    Reported(d.pk, d.order_id, d.status, d.order.company.auto_receive_on_delivery)
                    for d in moving
                ]
                devices_report(
                    devices=reported,
                    targets={d.pk: NEXT[d.status] for d in reported},
                    source=Source.POLL,
                )
                done[0] += 1
                time.sleep(0.05)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=employee, args=(p,)) for p in people]
    threads += [threading.Thread(target=admin) for _ in range(2)]
    threads.append(threading.Thread(target=poller))
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert done[0] > 50
    assert deadlocks() == before
    for budget in Budget.objects.filter(company=tenant.company):
        totals = budget.ledger_totals()
        assert (budget.reserved, budget.committed, budget.spent) == (
            totals["reserved"],
            totals["committed"],
            totals["spent"],
        )
    assert (
        not Device.objects.filter(
            order__employee__in=people, status=S.DELIVERED, order__request__isnull=True
        )
        .exclude(pk__in=[pk for pks in delivered.values() for pk in pks])
        .exists()
    )
    # The poller moved approved orders on while the rest went on.
    assert Device.objects.filter(
        order__employee__in=people, order__request__isnull=False, status=S.DELIVERED
    ).exists()
    # Every buyout that was paid was charged once and completed; none is left half-way.
    paid = Buyout.objects.filter(employee__in=people, status=Buyout.Status.PAID)
    assert paid.exists()
    assert CardPayment.objects.filter(request__isnull=True, status="succeeded").count() == (
        paid.count()
    )
    assert not Buyout.objects.filter(employee__in=people, status=Buyout.Status.PENDING).exists()
