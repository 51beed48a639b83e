"""Tenants, users with roles, partner profiles, teams and API keys."""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.cache import cache
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.exceptions import DomainError

PLATFORM_CACHE_KEY = "accounts:platform-organization"


class Organization(models.Model):
    """A tenant. Exactly one organization is the platform: it owns the Zone 1 lead pool."""

    class Kind(models.TextChoices):
        PLATFORM = "platform", _("Platform")
        PARTNER = "partner", _("Sales partner")
        CUSTOMER = "customer", _("Customer")

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.PARTNER)
    is_platform = models.BooleanField(_("is platform"), default=False, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_platform"], condition=Q(is_platform=True), name="accounts_org_single_platform"
            ),
            models.CheckConstraint(
                condition=Q(is_platform=False) | Q(kind="platform"), name="accounts_org_platform_kind"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def delete(self, *args, **kwargs):
        if self.is_platform:
            raise DomainError(str(_("The platform organization cannot be deleted.")), code="platform_protected")
        return super().delete(*args, **kwargs)

    @classmethod
    def platform(cls) -> Organization:
        """Return the platform organization (created by migration 0002), cached: every pool lead needs it."""
        org = None
        with contextlib.suppress(Exception):  # a cache outage falls back to the database
            org = cache.get(PLATFORM_CACHE_KEY)
        if org is None:
            org = cls.objects.get(is_platform=True)
            with contextlib.suppress(Exception):
                cache.set(PLATFORM_CACHE_KEY, org, 300)
        return org


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra["is_superuser"] = True
        extra["role"] = User.Role.PLATFORM_ADMIN
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username):
        # Email login is case-insensitive: stored lower-case, looked up lower-case.
        return self.get(**{self.model.USERNAME_FIELD: (username or "").strip().lower()})


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with an email address; ``role`` decides what they may do."""

    class Role(models.TextChoices):
        PLATFORM_ADMIN = "platform_admin", _("Platform admin")
        INTERNAL_OPS = "internal_ops", _("Internal ops")
        SALES_PARTNER = "sales_partner", _("Sales partner")
        TEAM_LEADER = "team_leader", _("Team leader")

    #: Roles that work in Django Admin (Zone 1); partners use the portal (Zone 2).
    STAFF_ROLES = frozenset({Role.PLATFORM_ADMIN, Role.INTERNAL_OPS})
    PARTNER_ROLES = frozenset({Role.SALES_PARTNER, Role.TEAM_LEADER})

    email = models.EmailField(_("email address"), unique=True)
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.SALES_PARTNER)
    organization = models.ForeignKey(
        Organization,
        verbose_name=_("organization"),
        on_delete=models.PROTECT,
        related_name="users",
        null=True,
        blank=True,
    )
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(
        _("staff status"), default=False, editable=False, help_text=_("Derived from the role.")
    )
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["email"]
        indexes = [models.Index(fields=["organization", "role"])]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs):
        # Admin access follows the role; nobody toggles is_staff by hand.
        self.email = (self.email or "").strip().lower()
        self.is_staff = self.role in self.STAFF_ROLES
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "role" in update_fields:
            kwargs["update_fields"] = {*update_fields, "is_staff"}
        super().save(*args, **kwargs)

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    def get_short_name(self) -> str:
        return self.first_name or self.email

    @property
    def is_platform_admin(self) -> bool:
        return self.is_active and (self.role == self.Role.PLATFORM_ADMIN or self.is_superuser)

    @property
    def is_staff_role(self) -> bool:
        """Platform admins and internal ops (Zone 1)."""
        return self.role in self.STAFF_ROLES

    @property
    def is_partner(self) -> bool:
        return self.role in self.PARTNER_ROLES


class Team(models.Model):
    """A team leader's group of partners (team templates and escalations follow it)."""

    name = models.CharField(_("name"), max_length=200)
    organization = models.ForeignKey(
        Organization, verbose_name=_("organization"), on_delete=models.CASCADE, related_name="teams"
    )
    leader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("team leader"),
        on_delete=models.PROTECT,
        related_name="led_teams",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="accounts_team_unique_name")]

    def __str__(self) -> str:
        return self.name


class PartnerProfile(models.Model):
    """What the pool needs to know about a partner: capacity, territory, interests."""

    class InterestType(models.TextChoices):
        BUY = "buy", _("Buy")
        FINANCE = "finance", _("Finance")
        CONSULT = "consult", _("Consulting")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="partner_profile"
    )
    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    capacity = models.PositiveIntegerField(
        _("capacity"), default=25, validators=[MinValueValidator(0)], help_text=_("Maximum number of open leads.")
    )
    regions = models.JSONField(_("regions"), default=list, blank=True, help_text=_('e.g. ["Bayern", "Wien"]'))
    postcodes = models.JSONField(
        _("postcode prefixes"), default=list, blank=True, help_text=_('e.g. ["80", "81", "1010"]')
    )
    interest_types = models.JSONField(_("interest types"), default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    team = models.ForeignKey(
        Team, verbose_name=_("team"), on_delete=models.SET_NULL, related_name="members", null=True, blank=True
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("partner profile")
        verbose_name_plural = _("partner profiles")
        indexes = [models.Index(fields=["is_active"])]

    def __str__(self) -> str:
        return self.display_name or self.user.email


class ApiKey(models.Model):
    """An integration key. Only a SHA-256 hash is stored; the key itself is shown once."""

    class Scope(models.TextChoices):
        CAPTURE = "capture", _("Website capture")
        ACTIVITIES = "activities", _("Activity tracking")
        LEADS_READ = "leads:read", _("Read leads")
        LEADS_WRITE = "leads:write", _("Write leads")

    organization = models.ForeignKey(
        Organization, verbose_name=_("organization"), on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(_("name"), max_length=200)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    hashed_key = models.CharField(_("hashed key"), max_length=64, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    allowed_origins = models.JSONField(
        _("allowed origins"), default=list, blank=True, help_text=_("CORS origins for website capture.")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])


class Notification(models.Model):
    """An in-app notice for one user (new offer, burning lead, broken connection)."""

    class Kind(models.TextChoices):
        HOT_LEAD = "hot_lead", _("Burning lead")
        OFFER = "offer", _("New offer")
        CONNECTION = "connection", _("Connection problem")
        SYSTEM = "system", _("System")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recipient"), on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.SYSTEM)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"), blank=True)
    url = models.CharField(_("link"), max_length=500, blank=True)
    dedup_key = models.CharField(
        _("dedup key"), max_length=120, blank=True, help_text=_("Same key for the same recipient: notified once.")
    )
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "dedup_key"], condition=~Q(dedup_key=""), name="accounts_notification_dedup"
            )
        ]
        indexes = [models.Index(fields=["recipient", "read_at", "-created_at"], name="notification_unread")]

    def __str__(self) -> str:
        return self.title
