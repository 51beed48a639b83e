"""Routes of the partner portal, mounted at /portal/leads/ (German paths as in SPEC §9).

One URL space for the pages of every app: the portal is the top floor and the only place that knows
them all. The lead page gets its deal and sequence parts here (``views.lead_detail_context``), and converting a
lead (a deals page) is routed before the lead page's generic actions, under the same URL as before.
"""

from django.urls import path

from deals import views as deals_views
from leads import views as leads_views
from portal import campaign_views, team_views, today_views, views

app_name = "portal"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.PortalLoginView.as_view(), name="login"),
    path("logout/", views.PortalLogoutView.as_view(), name="logout"),
    path("passwort-vergessen/", views.PortalPasswordResetView.as_view(), name="password_reset"),
    path("passwort-vergessen/gesendet/", views.PortalPasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "passwort-neu/<uidb64>/<token>/",
        views.PortalPasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("passwort-neu/fertig/", views.PortalPasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("heute/", today_views.today, name="today"),
    path("heute/erinnerung/<int:reminder_id>/<slug:action>/", today_views.reminder_action, name="today_reminder"),
    path("heute/aufgabe/<int:task_id>/<slug:action>/", today_views.task_action, name="today_task"),
    path("heute/kontakt/<str:ref>/", today_views.contact_action, name="today_contact"),
    path("team/", team_views.team, name="team"),
    path("team/vorlagen/neu/", team_views.publish, name="team_publish"),
    path("team/vorlagen/<int:template_id>/uebernehmen/", team_views.take_over, name="team_clone"),
    path("inbox/", leads_views.inbox, name="inbox"),
    path("inbox/<uuid:lead_id>/", leads_views.inbox_detail, name="inbox_detail"),
    path("inbox/<uuid:lead_id>/annehmen/", leads_views.inbox_accept, name="inbox_accept"),
    path("inbox/<uuid:lead_id>/ablehnen/", leads_views.inbox_reject, name="inbox_reject"),
    path("meine-leads/", leads_views.lead_list, name="leads"),
    path("meine-leads/neu/", leads_views.lead_create, name="lead_create"),
    path(
        "meine-leads/<str:ref>/",
        leads_views.lead_detail,
        {"extra_context": today_views.lead_detail_context},
        name="lead_detail",
    ),
    path("meine-leads/<str:ref>/konvertieren/", deals_views.lead_convert_action, name="lead_convert"),
    path("meine-leads/<str:ref>/<slug:action>/", leads_views.lead_action, name="lead_action"),
    path("pipeline/", deals_views.pipeline, name="pipeline"),
    path("pipeline/<uuid:deal_id>/", deals_views.deal_detail, name="deal_detail"),
    path("pipeline/<uuid:deal_id>/stage/", deals_views.deal_stage, name="deal_stage"),
    path("pipeline/<uuid:deal_id>/<slug:action>/", deals_views.deal_action, name="deal_action"),
    path("werbung/", campaign_views.campaign_list, name="campaigns"),
    path("werbung/neu/", campaign_views.campaign_new, name="campaign_new"),
    path("werbung/vorschau/", campaign_views.campaign_preview, name="campaign_preview"),
    path("werbung/<int:campaign_id>/", campaign_views.campaign_detail, name="campaign_detail"),
    path("werbung/<int:campaign_id>/bearbeiten/", campaign_views.campaign_edit, name="campaign_edit"),
    path("werbung/<int:campaign_id>/export.csv", campaign_views.campaign_export, name="campaign_export"),
    path("werbung/<int:campaign_id>/<slug:action>/", campaign_views.campaign_action, name="campaign_action"),
    path("sources/", views.sources, name="sources"),
    path("reports/", views.reports, name="reports"),
    path("reports/export.csv", views.reports_export, name="reports_export"),
    path("benachrichtigungen/", views.notifications, name="notifications"),
    path("zwei-faktor/", views.two_factor, name="two_factor"),
]
