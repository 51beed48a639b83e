from __future__ import annotations

import factory

from accounts.models import Organization, PartnerProfile, User

PASSWORD = "Richtig-Gutes-Passwort-42"


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Partner Org {n}")
    slug = factory.Sequence(lambda n: f"partner-org-{n}")
    kind = Organization.Kind.PARTNER


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.org")
    role = User.Role.SALES_PARTNER
    organization = factory.LazyFunction(Organization.platform)

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or PASSWORD)
        if create:
            obj.save(update_fields=["password"])


class PartnerFactory(UserFactory):
    role = User.Role.SALES_PARTNER
    organization = factory.SubFactory(OrganizationFactory)
    profile = factory.RelatedFactory("tests.accounts.factories.PartnerProfileFactory", factory_related_name="user")


class PartnerProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartnerProfile

    user = factory.SubFactory(PartnerFactory, profile=None)
    capacity = 25


def ensure_platform_organization() -> Organization:
    """Transactional tests flush the database afterwards, migration data included: put the pool's owner back."""
    org = Organization.objects.filter(is_platform=True).first()
    if org is None:
        org = Organization.objects.create(name="Lead-Plattform", slug="platform", kind="platform", is_platform=True)
    return org
