"""URL routes of the webhooks app: one receiver, the provider comes from the path (with or without slash)."""

from django.urls import re_path

from webhooks.views import webhook_receive

urlpatterns = [
    re_path(r"^(?P<provider>[a-z][a-z0-9_-]{1,31})/?$", webhook_receive, name="webhook-receive"),
]
