"""factory-boy factories for every model. Users are made through the service, as the admin
would make them, so role, admin access and group always agree."""

from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from companies import services as company_services
from companies.models import Company, LeasingCompany, Partner, User
from core.tenancy import Role
from devices.models import Device, DeviceEvent
from leasing.models import Lease
from notifications.models import Notification
from orders.models import (
    Order,
    OrderEvent,
    OrderLine,
    Product,
    Shipment,
    ShipmentEvent,
)

PASSWORD = "correct-horse-battery"


class LeasingCompanyFactory(DjangoModelFactory):
    class Meta:
        model = LeasingCompany
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Lease Co {n}")
    contact_email = factory.Sequence(lambda n: f"returns{n}@lease.example")
    contact_phone = "+46 8 000 00 00"


class CompanyFactory(DjangoModelFactory):
    class Meta:
        model = Company
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Company {n}")
    slug = factory.Sequence(lambda n: f"company-{n}")
    currency = "EUR"
    support_name = "IT helpdesk"
    support_email = factory.LazyAttribute(lambda o: f"it@{o.slug}.example")
    support_phone = "+46 8 111 11 11"


class PartnerFactory(DjangoModelFactory):
    class Meta:
        model = Partner
        django_get_or_create = ("slug",)
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Partner {n}")
    slug = factory.Sequence(lambda n: f"partner-{n}")
    support_email = factory.LazyAttribute(lambda o: f"orders@{o.slug}.example")
    support_phone = "+46 8 222 22 22"
    offers_tracking = True

    @factory.post_generation
    def companies(self, create, extracted, **kwargs):
        if create and extracted:
            self.companies.add(*extracted)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    full_name = factory.Faker("name")
    role = Role.EMPLOYEE
    company = factory.SubFactory(CompanyFactory)
    partner = None
    password = PASSWORD

    class Params:
        company_admin = factory.Trait(role=Role.COMPANY_ADMIN)
        partner_staff = factory.Trait(
            role=Role.PARTNER_STAFF, company=None, partner=factory.SubFactory(PartnerFactory)
        )

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return company_services.user_create(**kwargs)


class SuperuserFactory(DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"root{n}@velory.example")
    full_name = "Root"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return User.objects.create_superuser(
            kwargs["email"], PASSWORD, full_name=kwargs["full_name"]
        )


class NotificationFactory(DjangoModelFactory):
    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory)
    to_email = factory.LazyAttribute(
        lambda o: o.recipient.email if o.recipient else "x@example.com"
    )
    kind = "test"
    subject = "Hello"
    body_text = "Hello\n"
    dedup_key = factory.Sequence(lambda n: f"test:{n}")


# --- Hardware -------------------------------------------------------------------------------
# Orders and devices are normally made through orders.services.order_create (see
# tests/helpers.py); these factories exist for the odd row a test needs on its own.


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = Product

    company = factory.SubFactory(CompanyFactory)
    partner = factory.SubFactory(PartnerFactory)
    name = factory.Sequence(lambda n: f"Laptop model {n}")
    category = "laptop"
    price = Decimal("1200.00")
    currency = "EUR"

    class Params:
        leased = factory.Trait(acquisition="lease", monthly_price=Decimal("45.00"), lease_months=36)


class OrderFactory(DjangoModelFactory):
    class Meta:
        model = Order

    employee = factory.SubFactory(UserFactory)
    company = factory.LazyAttribute(lambda o: o.employee.company)
    partner = factory.SubFactory(PartnerFactory)
    delivery_address = "Storgatan 1\n111 22 Stockholm"


class OrderLineFactory(DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    name = "Laptop"
    category = "laptop"
    unit_price = Decimal("1200.00")
    currency = "EUR"


class DeviceFactory(DjangoModelFactory):
    class Meta:
        model = Device

    order = factory.SubFactory(OrderFactory)
    order_line = factory.SubFactory(OrderLineFactory, order=factory.SelfAttribute("..order"))
    owner = factory.LazyAttribute(lambda o: o.order.employee)
    company = factory.LazyAttribute(lambda o: o.order.company)
    partner = factory.LazyAttribute(lambda o: o.order.partner)
    name = "Laptop"
    category = "laptop"


class DeviceEventFactory(DjangoModelFactory):
    class Meta:
        model = DeviceEvent

    device = factory.SubFactory(DeviceFactory)
    company = factory.LazyAttribute(lambda o: o.device.company)
    actor_name = "Velory"
    source = "system"
    to_status = "ordered"


class ShipmentFactory(DjangoModelFactory):
    class Meta:
        model = Shipment

    order = factory.SubFactory(OrderFactory)
    carrier = "PostNord"
    tracking_number = factory.Sequence(lambda n: f"PN{n:09d}SE")


class ShipmentEventFactory(DjangoModelFactory):
    class Meta:
        model = ShipmentEvent

    shipment = factory.SubFactory(ShipmentFactory)
    at = factory.LazyFunction(timezone.now)
    description = "In transit"


class OrderEventFactory(DjangoModelFactory):
    class Meta:
        model = OrderEvent

    order = factory.SubFactory(OrderFactory)
    company = factory.LazyAttribute(lambda o: o.order.company)
    actor_name = "Velory"
    kind = "note"
    message = "A note"


class LeaseFactory(DjangoModelFactory):
    class Meta:
        model = Lease

    device = factory.SubFactory(DeviceFactory, is_leased=True)
    leasing_company = factory.SubFactory(LeasingCompanyFactory)
    starts_on = factory.LazyFunction(timezone.localdate)
    ends_on = factory.LazyAttribute(lambda o: o.starts_on.replace(year=o.starts_on.year + 3))
    monthly_price = Decimal("45.00")
    currency = "EUR"
