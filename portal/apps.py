from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Partner portal")

    def ready(self) -> None:
        from core.portal import register_frame_context
        from portal.views import frame_context

        register_frame_context(frame_context)
