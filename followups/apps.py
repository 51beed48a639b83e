from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FollowupsConfig(AppConfig):
    name = "followups"
    verbose_name = _("Follow-ups")

    def ready(self) -> None:
        # Domain events of the lower floors (enrolment triggers, exits) and the ESPs' tracking signal.
        from followups import (  # noqa: F401
            checks,
            esp,
            panels,
            receivers,
            receivers_email,
            receivers_reminders,
            subject_data,
        )
