"""Root URLs."""

from django.urls import include, path

from billing import views, webhooks
from billing.api import MOUNT, api

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("approvals/", views.approvals, name="approvals"),
    path("audit/", views.audit_log, name="audit_log"),
    path("policy/", views.policy, name="policy"),
    path("stripe/webhook/", webhooks.stripe_webhook, name="stripe_webhook"),
    path(MOUNT, api.urls),
    path("", include("accounts.urls")),
    path("", include("support.urls")),
]
