"""Every transition from every status, for every role: allowed exactly where the lifecycle
table (docs/architecture.md, "The device status lifecycle") says, refused with a message
and no change everywhere else.

The expectations below are written out from the table, not derived from the code."""

import pytest
from django.db import transaction

from core.tenancy import SYSTEM
from devices.engine import Result, devices_transition, transition_target
from devices.models import Device, DeviceEvent, DeviceStatus
from tests.helpers import device_in

S = DeviceStatus
ALL = list(S)

# transition: (from statuses, roles that may)
TABLE = {
    "acknowledge": ({S.ORDERED}, {"partner", "system"}),
    "start_preparing": (
        {S.ORDERED, S.NOT_STARTED, S.ON_HOLD, S.BACKORDERED},
        {"partner", "system"},
    ),
    "put_on_hold": ({S.ORDERED, S.NOT_STARTED, S.PREPARING, S.BACKORDERED}, {"partner", "system"}),
    "backorder": ({S.NOT_STARTED, S.PREPARING}, {"partner", "system"}),
    "ship": ({S.PREPARING, S.BACKORDERED}, {"partner", "system"}),
    "deliver": ({S.SHIPPED}, {"partner", "system"}),
    # system only where auto-receive is on: Acme's policy is off (tested separately)
    "mark_received": ({S.SHIPPED, S.DELIVERED}, {"owner"}),
    "activate": ({S.RECEIVED}, {"company_admin", "system"}),
    "cancel": (
        {S.ORDERED, S.NOT_STARTED, S.ON_HOLD, S.PREPARING, S.BACKORDERED},
        {"partner", "company_admin", "system"},
    ),
    # the owner only where the company allows buyout: Acme does
    "request_buyout": ({S.RECEIVED, S.ACTIVE}, {"owner", "company_admin", "system"}),
    "withdraw_buyout": ({S.PENDING_BUYOUT}, {"owner", "company_admin"}),
    "complete_buyout": ({S.PENDING_BUYOUT}, {"company_admin", "partner", "system"}),
    "start_trade_in": ({S.RECEIVED, S.ACTIVE}, {"owner", "company_admin", "system"}),
    "confirm_trade_in": ({S.PROCESSING_TRADE_IN}, {"partner"}),
    "remove": ({S.DELIVERED, S.RECEIVED, S.ACTIVE}, {"company_admin"}),
}
FINAL = {S.CANCELLED, S.BOUGHT_OUT, S.TRADED_IN, S.REMOVED}

# Who acts, and which table role that is towards an Acme employee's device.
ACTORS = {
    "owner": ("owner", lambda acme, globex, su: acme.employee),
    "colleague": (None, lambda acme, globex, su: acme.colleague),
    "company_admin": ("company_admin", lambda acme, globex, su: acme.admin),
    "other_company_admin": (None, lambda acme, globex, su: globex.admin),
    "partner": ("partner", lambda acme, globex, su: acme.partner_staff),
    "other_partner": (None, lambda acme, globex, su: globex.partner_staff),
    "system": ("system", lambda acme, globex, su: SYSTEM),
    "superuser": ("superuser", lambda acme, globex, su: su),
}
SEES = {"owner", "company_admin", "partner", "system", "superuser"}


def expected(status, name, actor_key):
    role, _ = ACTORS[actor_key]
    if actor_key not in SEES:
        return Result.NOT_FOUND
    sources, roles = TABLE[name]
    allowed_roles = roles | ({"superuser"} if roles & {"company_admin", "partner"} else set())
    if role not in allowed_roles:
        return Result.REFUSED
    if status == transition_target(name):
        return Result.UNCHANGED
    return Result.CHANGED if status in sources else Result.REFUSED


def test_the_table_matches_the_statuses():
    assert len(ALL) == 15
    assert {transition_target(n) for n in TABLE} | {S.ORDERED} == set(ALL)
    for status in FINAL:
        assert not any(status in sources for sources, _ in TABLE.values()), status


@pytest.mark.django_db
@pytest.mark.parametrize("actor_key", list(ACTORS))
@pytest.mark.parametrize("status", ALL)
def test_every_transition_from_status_for_actor(status, actor_key, acme, globex, superuser):
    device = device_in(acme, status)
    actor = ACTORS[actor_key][1](acme, globex, superuser)
    history = DeviceEvent.objects.filter(device=device).count()
    mismatches = []
    for name in TABLE:
        want = expected(status, name, actor_key)
        try:
            with transaction.atomic():
                [outcome] = devices_transition(
                    device_ids=[device.pk], transition=name, actor=actor, source="admin"
                )
                moved = Device.objects.get(pk=device.pk).status
                raise _Rollback
        except _Rollback:
            pass
        if outcome.result != want:
            mismatches.append((name, want.value, outcome.result.value, outcome.message))
        elif want is Result.CHANGED:
            assert moved == transition_target(name)
        else:
            assert moved == status, (name, moved)
            if want is Result.REFUSED:
                assert outcome.message, name
    assert not mismatches, mismatches
    device.refresh_from_db()
    assert device.status == status
    assert DeviceEvent.objects.filter(device=device).count() == history


class _Rollback(Exception):
    pass


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("tenant", "status", "result"),
    [
        ("acme", S.DELIVERED, Result.REFUSED),  # policy off
        ("globex", S.SHIPPED, Result.REFUSED),  # policy on, but not delivered yet
        ("globex", S.DELIVERED, Result.CHANGED),
    ],
)
def test_system_marks_received_only_on_delivery_under_auto_receive_policy(
    request, tenant, status, result
):
    t = request.getfixturevalue(tenant)
    device = device_in(t, S.SHIPPED)
    if status == S.DELIVERED:  # delivered without the policy acting yet
        devices_transition(
            device_ids=[device.pk], transition="deliver", actor=SYSTEM, source="system"
        )
    [outcome] = devices_transition(
        device_ids=[device.pk], transition="mark_received", actor=SYSTEM, source="system"
    )
    assert outcome.result is result


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("tenant", "result"), [("acme", Result.CHANGED), ("globex", Result.REFUSED)]
)
def test_employee_requests_buyout_only_where_policy_allows(request, tenant, result):
    t = request.getfixturevalue(tenant)
    device = device_in(t, S.RECEIVED)
    [outcome] = devices_transition(
        device_ids=[device.pk], transition="request_buyout", actor=t.employee, source="web"
    )
    assert outcome.result is result
