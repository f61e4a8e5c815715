"""The Celery app, for `TASK_BACKEND=celery`: `celery -A billing worker`.

Tasks are defined once, as Django tasks (`billing.observability.task`), and enqueued as
always; django-tasks-celery registers each with this app. Celery's Django fix-up sets Django
up when the worker starts.
"""

import os

from celery import Celery

from billing.startup import load_settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing.settings")
load_settings()  # a missing or malformed variable stops the worker here, in one line

app = Celery("billing")
app.config_from_object("django.conf:settings", namespace="CELERY")
# The modules whose tasks the worker runs (each registers its tasks when imported).
app.conf.imports = [
    "billing.actions.pipeline",
    "billing.actions.entitlements",
    "billing.webhooks",
]
