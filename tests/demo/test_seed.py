import pytest
from django.apps import apps
from django.core.management import call_command

from companies.models import Company, User
from core.tenancy import Role
from demo.data import DEMO_PASSWORD, seed_demo

pytestmark = pytest.mark.django_db

DEMO_USERS = {
    "anna@acme.example": (Role.EMPLOYEE, "acme"),
    "admin@acme.example": (Role.COMPANY_ADMIN, "acme"),
    "staff@nordic-it.example": (Role.PARTNER_STAFF, None),
    "olli@globex.example": (Role.EMPLOYEE, "globex"),
    "admin@globex.example": (Role.COMPANY_ADMIN, "globex"),
    "staff@baltic-supply.example": (Role.PARTNER_STAFF, None),
    "staff@fjord-devices.example": (Role.PARTNER_STAFF, None),
}


def snapshot():
    counts = {}
    for model in apps.get_models():
        if model._meta.app_label in {"sessions", "django_celery_beat", "axes"}:
            continue
        counts[model._meta.label] = model._default_manager.count()
    return counts


def test_seed_follows_the_contract():
    seed_demo()
    acme, globex = Company.objects.get(name="Acme AB"), Company.objects.get(name="Globex Oy")
    assert not acme.auto_receive_on_delivery and acme.buyout_allowed
    assert acme.leasing_company.name == "Nordic Lease"
    assert globex.auto_receive_on_delivery and not globex.buyout_allowed
    # One partner polled (Nordic IT), one pushing (Fjord Devices), one by e-mail (Baltic).
    assert sorted(p.name for p in acme.partners.all()) == ["Fjord Devices", "Nordic IT"]
    nordic, fjord = acme.partners.get(name="Nordic IT"), acme.partners.get(name="Fjord Devices")
    assert nordic.offers_tracking and not nordic.connection.pushes_updates
    assert fjord.offers_tracking and fjord.connection.pushes_updates
    assert fjord.api_keys.count() == 0  # the push key is made only where the fake reads it
    assert [p.name for p in globex.partners.all()] == ["Baltic Supply"]
    assert not globex.partners.get().offers_tracking
    for email, (role, slug) in DEMO_USERS.items():
        user = User.objects.get(email=email)
        assert user.role == role
        assert (user.company.slug if user.company else None) == slug
        assert user.check_password(DEMO_PASSWORD)
    root = User.objects.get(email="root@velory.example")
    assert root.is_superuser and root.check_password(DEMO_PASSWORD)


def test_seed_twice_changes_nothing(capsys):
    call_command("seed_demo")
    before = snapshot()
    call_command("seed_demo")
    assert snapshot() == before
    assert "nothing changed" in capsys.readouterr().out


@pytest.mark.parametrize("email", [*DEMO_USERS, "root@velory.example"])
def test_every_demo_user_can_sign_in(client, email):
    seed_demo()
    response = client.post("/accounts/login/", {"username": email, "password": DEMO_PASSWORD})
    assert response.status_code == 302, email


def test_seed_gives_the_people_the_hardware_the_contract_names():
    from datetime import timedelta

    from django.utils import timezone

    from devices.models import Device
    from leasing.models import Lease
    from notifications.models import Notification

    seed_demo()
    anna = User.objects.get(email="anna@acme.example")
    statuses = set(Device.objects.filter(owner=anna).values_list("status", flat=True))
    assert {"shipped", "delivered", "preparing", "not_started", "active"} <= statuses
    shipped = Device.objects.filter(owner=anna, status="shipped").select_related("shipment")
    assert all(d.shipment and d.shipment.tracking_number for d in shipped)
    lease = Lease.objects.get(device__owner=anna, device__status="active", status="active")
    assert timezone.localdate() < lease.ends_on <= timezone.localdate() + timedelta(days=60)
    assert lease.choice == ""  # unanswered ...
    assert Notification.objects.filter(kind="lease_end_notice", recipient=anna).exists()  # notice
    olli = User.objects.get(email="olli@globex.example")
    assert Device.objects.filter(owner=olli).exists()


def test_acme_signs_in_through_the_demo_identity_provider_and_sam_only_there():
    from demo.idp import config as idp

    seed_demo()
    acme, globex = Company.objects.get(slug="acme"), Company.objects.get(slug="globex")
    assert acme.sso_enabled and acme.sso_issuer == idp.ISSUER
    assert acme.sso_client_id == idp.CLIENT_ID
    assert acme.decrypted_sso_client_secret() == idp.CLIENT_SECRET
    assert acme.sso_domain_list == ["acme.example"] and acme.sso_password_allowed
    assert not globex.sso_enabled
    sam = User.objects.get(email="sam@acme.example")
    assert sam.company == acme and sam.role == Role.EMPLOYEE
    assert not sam.has_usable_password()
    assert "sam@acme.example" in {u["email"] for u in idp.DEMO["users"]}


def test_seed_writes_a_live_push_key_for_the_fake_and_keeps_it(settings, tmp_path):
    import stat

    from partners.models import PartnerApiKey
    from partners.services import keys

    path = tmp_path / "var" / "push-key"
    settings.FAKE_DISTRIBUTOR_PUSH_KEY_FILE = str(path)
    seed_demo()
    raw = path.read_text().strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # a secret: for its owner only
    actor = keys.api_key_authenticate(raw)
    assert actor is not None and actor.partner.name == "Fjord Devices"
    seed_demo()
    assert path.read_text().strip() == raw  # still live: kept
    PartnerApiKey.objects.update(revoked_at="2026-01-01T00:00:00Z")
    seed_demo()
    fresh = path.read_text().strip()
    assert fresh != raw and keys.api_key_authenticate(fresh) is not None
    assert keys.api_key_authenticate(raw) is None
