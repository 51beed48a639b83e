from __future__ import annotations

import factory

from webhooks.models import InstagramRule, MetaPageConnection


class MetaPageConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MetaPageConnection

    page_id = factory.Sequence(lambda n: f"15312538{n:04d}")
    name = factory.Sequence(lambda n: f"Seite {n}")
    access_token = factory.Sequence(lambda n: f"EAAPageToken{n}")


class InstagramRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InstagramRule

    name = factory.Sequence(lambda n: f"Regel {n}")
    keywords = factory.LazyFunction(lambda: ["preis"])
    auto_reply = ""
