"""Keep a user's role group in step with their role; forget the cached platform organization on change."""

import contextlib

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import PLATFORM_CACHE_KEY, Organization, User
from accounts.roles import assign_role_group


@receiver(post_save, sender=User, dispatch_uid="accounts_user_role_group")
def user_role_group(sender, instance: User, created: bool, update_fields=None, raw=False, **kwargs) -> None:
    if raw:
        return
    if created or update_fields is None or "role" in update_fields:
        assign_role_group(instance)


@receiver(post_save, sender=Organization, dispatch_uid="accounts_platform_cache_save")
@receiver(post_delete, sender=Organization, dispatch_uid="accounts_platform_cache_delete")
def platform_cache_forget(sender, instance: Organization, **kwargs) -> None:
    if instance.is_platform:
        # Without the cache the copy there expires after five minutes anyway.
        with contextlib.suppress(Exception):
            cache.delete(PLATFORM_CACHE_KEY)
