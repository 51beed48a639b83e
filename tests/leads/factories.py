from __future__ import annotations

import factory

from accounts.models import Organization
from leads.models import Lead


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    tenant = factory.LazyFunction(Organization.platform)
    channel = Lead.Channel.WEBSITE
    source = Lead.Source.ZONE1_POOL
    email = factory.Sequence(lambda n: f"lead{n}@beispiel.de")
    phone = factory.Sequence(lambda n: f"+49151{1000000 + n}")
    first_name = "Erika"
    last_name = "Mustermann"
