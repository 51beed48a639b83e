"""Routes of the partner portal, mounted at /portal/leads/ (German paths as in SPEC §9)."""

from django.urls import path

from leads.portal import views

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
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<uuid:lead_id>/", views.inbox_detail, name="inbox_detail"),
    path("inbox/<uuid:lead_id>/annehmen/", views.inbox_accept, name="inbox_accept"),
    path("inbox/<uuid:lead_id>/ablehnen/", views.inbox_reject, name="inbox_reject"),
    path("meine-leads/", views.lead_list, name="leads"),
    path("meine-leads/neu/", views.lead_create, name="lead_create"),
    path("meine-leads/<str:ref>/", views.lead_detail, name="lead_detail"),
    path("meine-leads/<str:ref>/<slug:action>/", views.lead_action, name="lead_action"),
    path("pipeline/", views.pipeline, name="pipeline"),
    path("pipeline/<uuid:deal_id>/", views.deal_detail, name="deal_detail"),
    path("pipeline/<uuid:deal_id>/stage/", views.deal_stage, name="deal_stage"),
    path("pipeline/<uuid:deal_id>/<slug:action>/", views.deal_action, name="deal_action"),
    path("werbung/", views.campaigns, name="campaigns"),
    path("werbung/<str:campaign_id>/", views.campaign_detail, name="campaign_detail"),
    path("sources/", views.sources, name="sources"),
    path("reports/", views.reports, name="reports"),
    path("reports/export.csv", views.reports_export, name="reports_export"),
    path("benachrichtigungen/", views.notifications, name="notifications"),
]
