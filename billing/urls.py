"""Root URLs."""

from django.urls import include, path

from billing import views, webhooks
from billing.api import MOUNT, api

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("approvals/", views.approvals, name="approvals"),
    path("approvals/<int:approval_id>/preview/", views.approval_preview, name="approval_preview"),
    path("approvals/<int:approval_id>/approve/", views.approval_approve, name="approval_approve"),
    path("approvals/<int:approval_id>/reject/", views.approval_reject, name="approval_reject"),
    path(
        "approvals/<int:approval_id>/withdraw/", views.approval_withdraw, name="approval_withdraw"
    ),
    path("customers/<int:customer_id>/act/<slug:panel>/", views.action_panel, name="action_panel"),
    path("actions/<int:action_id>/status/", views.action_status, name="action_status"),
    path("audit/", views.audit_log, name="audit_log"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
    path("audit/object/<str:model>/<int:pk>/", views.object_history, name="object_history"),
    path("policy/", views.policy, name="policy"),
    path("policy/limits/new/", views.policy_limit_new, name="policy_limit_new"),
    path("policy/limits/<int:limit_id>/", views.policy_limit, name="policy_limit"),
    path("policy/reasons/new/", views.policy_reason_new, name="policy_reason_new"),
    path("policy/reasons/<int:reason_id>/", views.policy_reason, name="policy_reason"),
    path("staff/<int:user_id>/roles/", views.staff_roles, name="staff_roles"),
    path("staff/<int:user_id>/active/", views.staff_active, name="staff_active"),
    path("stripe/webhook/", webhooks.stripe_webhook, name="stripe_webhook"),
    path(MOUNT, api.urls),
    path("", include("accounts.urls")),
    path("", include("support.urls")),
]
