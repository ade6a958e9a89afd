"""factory-boy factories for every model. Users are made through the service, as the admin
would make them, so role, admin access and group always agree."""

import factory
from factory.django import DjangoModelFactory

from companies import services as company_services
from companies.models import Company, LeasingCompany, Partner, User
from notifications.models import Notification
from velory.tenancy import Role

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
