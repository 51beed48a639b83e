"""Keep a user's role group in step with their role."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import User
from accounts.roles import assign_role_group


@receiver(post_save, sender=User, dispatch_uid="accounts_user_role_group")
def user_role_group(sender, instance: User, created: bool, update_fields=None, raw=False, **kwargs) -> None:
    if raw:
        return
    if created or update_fields is None or "role" in update_fields:
        assign_role_group(instance)
