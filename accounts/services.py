"""Write operations for tenants, users, partners and API keys, and the one way to notify users."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts.models import ApiKey, Notification, Organization, PartnerProfile, Team, User
from compliance.services import audit_record
from core.exceptions import ConflictError, DomainError, TransientError
from core.transactions import on_commit
from integrations.slack import slack_configured

API_KEY_PREFIX = "lp"


def _unique_slug(base: str) -> str:
    base = (slugify(base) or "org")[:60]
    slug, n = base, 2
    while Organization.objects.filter(slug=slug).exists():
        slug = f"{base}-{n}"
        n += 1
    return slug


@transaction.atomic
def organization_create(*, name: str, kind: str = Organization.Kind.PARTNER, actor: User | None) -> Organization:
    """Create a tenant organization (never a second platform)."""
    if kind == Organization.Kind.PLATFORM:
        raise DomainError(_("There is exactly one platform organization."), code="platform_exists")
    org = Organization.objects.create(name=name, slug=_unique_slug(name), kind=kind)
    audit_record(event_type="organization.created", actor=actor, obj=org, tenant=org, payload={"kind": kind})
    return org


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str | None,
    role: str,
    organization: Organization | None,
    first_name: str = "",
    last_name: str = "",
    actor: User | None,
    check_password: bool = True,
) -> User:
    """Create a user; the role decides groups and admin access."""
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise DomainError(
            _("'%(email)s' is not a valid email address.") % {"email": email}, code="invalid_email"
        ) from None
    if role not in User.Role.values:
        raise DomainError(_("Unknown role '%(role)s'.") % {"role": role}, code="invalid_role")
    if User.objects.filter(email=email).exists():
        raise ConflictError(_("A user with the email address %(email)s already exists.") % {"email": email})
    user = User(email=email, role=role, organization=organization, first_name=first_name, last_name=last_name)
    if password and check_password:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise DomainError(" ".join(exc.messages), code="weak_password", fields={"password": exc.messages}) from exc
    user.set_password(password)
    user.save()
    audit_record(event_type="user.created", actor=actor, obj=user, tenant=organization, payload={"role": role})
    return user


@transaction.atomic
def user_set_role(*, user: User, role: str, actor: User | None) -> User:
    """Change a user's role (and with it groups and admin access)."""
    if role not in User.Role.values:
        raise DomainError(_("Unknown role '%(role)s'.") % {"role": role}, code="invalid_role")
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.role == role:
        return user
    old = user.role
    user.role = role
    user.save(update_fields=["role"])
    audit_record(event_type="user.role_changed", actor=actor, obj=user, payload={"from": old, "to": role})
    return user


def _split_name(name: str) -> tuple[str, str]:
    parts = name.strip().split(" ", 1)
    return (parts[0], parts[1]) if len(parts) == 2 else (parts[0], "")


@transaction.atomic
def team_for_leader(*, leader: User, actor: User | None) -> Team:
    """Return the leader's team, creating it and promoting the leader when needed."""
    if not leader.is_partner:
        raise DomainError(
            _("%(email)s is not a sales partner and cannot lead a team.") % {"email": leader.email},
            code="invalid_team_leader",
        )
    team = Team.objects.filter(leader=leader).first()
    if team is None:
        team = Team.objects.create(
            name=_("Team %(name)s") % {"name": leader.get_full_name()},
            organization=Organization.platform(),
            leader=leader,
        )
        audit_record(event_type="team.created", actor=actor, obj=team, payload={"leader": leader.pk})
    if leader.role != User.Role.TEAM_LEADER:
        user_set_role(user=leader, role=User.Role.TEAM_LEADER, actor=actor)
    PartnerProfile.objects.filter(user=leader, team__isnull=True).update(team=team)
    return team


@transaction.atomic
def partner_create(
    *,
    email: str,
    password: str | None,
    name: str = "",
    capacity: int = 25,
    regions: Iterable[str] = (),
    postcodes: Iterable[str] = (),
    interest_types: Iterable[str] = (),
    team_leader_email: str | None = None,
    actor: User | None,
    check_password: bool = True,
) -> User:
    """Create a sales partner with their own organization (tenant) and partner profile."""
    if capacity < 0:
        raise DomainError(_("Capacity must not be negative."), code="invalid_capacity")
    invalid = set(interest_types) - set(PartnerProfile.InterestType.values)
    if invalid:
        raise DomainError(
            _("Unknown interest types: %(types)s") % {"types": ", ".join(sorted(invalid))}, code="invalid_interest"
        )
    leader = None
    if team_leader_email:
        leader = User.objects.filter(email=team_leader_email.strip().lower()).first()
        if leader is None:
            raise DomainError(
                _("Team leader %(email)s does not exist.") % {"email": team_leader_email}, code="unknown_team_leader"
            )
    first, last = _split_name(name) if name else ("", "")
    org = organization_create(name=name or email, kind=Organization.Kind.PARTNER, actor=actor)
    user = user_create(
        email=email,
        password=password,
        role=User.Role.SALES_PARTNER,
        organization=org,
        first_name=first,
        last_name=last,
        actor=actor,
        check_password=check_password,
    )
    profile = PartnerProfile.objects.create(
        user=user,
        display_name=name,
        capacity=capacity,
        regions=list(regions),
        postcodes=list(postcodes),
        interest_types=list(interest_types),
    )
    if leader is not None:
        profile.team = team_for_leader(leader=leader, actor=actor)
        profile.save(update_fields=["team", "updated_at"])
    audit_record(event_type="partner.created", actor=actor, obj=profile, tenant=org, payload={"capacity": capacity})
    return user


def _hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


@transaction.atomic
def api_key_create(
    *,
    organization: Organization,
    name: str,
    scopes: Iterable[str],
    actor: User | None,
    expires_at: datetime | None = None,
    allowed_origins: Iterable[str] = (),
) -> tuple[ApiKey, str]:
    """Create an API key; returns the key row and the raw key, which is never shown again."""
    scopes = sorted(set(scopes))
    unknown = set(scopes) - set(ApiKey.Scope.values)
    if unknown or not scopes:
        raise DomainError(
            _("Unknown or missing scopes: %(scopes)s") % {"scopes": ", ".join(sorted(unknown)) or "-"},
            code="invalid_scope",
        )
    prefix = secrets.token_hex(4)
    raw_key = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        organization=organization,
        name=name,
        prefix=prefix,
        hashed_key=_hash_key(raw_key),
        scopes=scopes,
        allowed_origins=list(allowed_origins),
        created_by=actor,
        expires_at=expires_at,
    )
    audit_record(
        event_type="api_key.created", actor=actor, obj=api_key, tenant=organization, payload={"scopes": scopes}
    )
    return api_key, raw_key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: User | None) -> ApiKey:
    """Revoke a key at once; revoking twice is a no-op."""
    updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db()
    if updated:
        audit_record(event_type="api_key.revoked", actor=actor, obj=api_key, tenant=api_key.organization)
    return api_key


def api_key_verify(raw_key: str) -> ApiKey | None:
    """Return the usable key for a raw key string, or None; records use at most once a minute."""
    parts = (raw_key or "").strip().split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    api_key = ApiKey.objects.select_related("organization").filter(prefix=parts[1]).first()
    if api_key is None or not hmac.compare_digest(api_key.hashed_key, _hash_key(raw_key.strip())):
        return None
    if not api_key.is_usable or not api_key.organization.is_active:
        return None
    now = timezone.now()
    resolution = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
    if api_key.last_used_at is None or api_key.last_used_at < now - resolution:
        # Conditional update: concurrent requests do not all write.
        ApiKey.objects.filter(pk=api_key.pk).exclude(last_used_at__gte=now - resolution).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def _notice_create(
    *, recipient: User, kind: str, title: str, body: str, url: str, dedup_key: str
) -> Notification | None:
    """Store one in-app notice; with a ``dedup_key`` the same recipient gets it once (returns None then)."""
    if dedup_key:
        obj, created = Notification.objects.get_or_create(
            recipient=recipient,
            dedup_key=dedup_key[:120],
            defaults={"title": title[:200], "body": body, "url": url[:500], "kind": kind},
        )
        return obj if created else None
    return Notification.objects.create(recipient=recipient, title=title[:200], body=body, url=url[:500], kind=kind)


def notify(
    *,
    users: Iterable[User],
    kind: str,
    title: str,
    context: Mapping[str, Any],
    body: str = "",
    url: str = "",
    dedup_key: str = "",
    email: bool = False,
    slack: str = "",
) -> list[Notification]:
    """Tell users something: an in-app notice each, and by email and Slack when asked.

    ``title`` and ``body`` are message ids (mark them with ``gettext_noop``), translated into the
    active language (a worker picks it with ``translation.override``) and filled from ``context``.
    ``url`` is a path from ``reverse()``; a notice that also leaves the app by email or Slack carries
    it absolute (``SITE_URL``), an in-app one keeps the path. ``slack`` is the Slack text, filled
    from ``context`` plus the finished ``title``, ``body`` and ``url``; it is posted once per call,
    and only when ``SLACK_WEBHOOK_URL`` is set.

    Inactive users are skipped. With a ``dedup_key`` each user is told once: a user who had it gets
    nothing, and when every user had it, nothing goes out at all (a redelivered task is a no-op).
    The notices are written in the caller's transaction; the email (one message to every newly
    notified user) and the Slack post go out after it commits, each in its own task that retries
    on transient failures. Returns the notices written.
    """
    recipients = [user for user in users if user.is_active]
    values = dict(context)
    title = _(title) % values
    body = _(body) % values if body else ""
    if url.startswith("/") and (email or slack):
        url = f"{settings.SITE_URL}{url}"
    notices = []
    for user in recipients:
        notice = _notice_create(recipient=user, kind=kind, title=title, body=body, url=url, dedup_key=dedup_key)
        if notice is not None:
            notices.append(notice)
    if recipients and not notices:
        return []
    from accounts.tasks import notification_email_task, notification_slack_task

    if email and notices:
        on_commit(notification_email_task.delay, [notice.pk for notice in notices])
    if slack and slack_configured():
        on_commit(notification_slack_task.delay, slack % {**values, "title": title, "body": body, "url": url})
    return notices


def notification_email_send(*, notification_ids: list[int]) -> int:
    """Email the notices of one ``notify`` call: one message to all their recipients; returns how many."""
    notices = list(Notification.objects.filter(pk__in=notification_ids).select_related("recipient").order_by("pk"))
    if not notices:
        return 0
    first = notices[0]
    try:
        send_mail(
            subject=first.title,
            message="\n\n".join(part for part in (first.body, first.url) if part),
            from_email=None,
            recipient_list=[notice.recipient.email for notice in notices],
        )
    except Exception as exc:  # SMTP and socket errors alike: the task tries again
        raise TransientError(f"notification email failed: {exc.__class__.__name__}") from exc
    return len(notices)
