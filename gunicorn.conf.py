"""gunicorn's settings for the billing admin: `uv run gunicorn` (this file is read by default
from the working directory; `-c gunicorn.conf.py` names it elsewhere).

Environment: PORT (8000), WEB_CONCURRENCY (workers; default 2 × CPUs + 1),
GUNICORN_TIMEOUT (seconds a request may take, default 60: a Stripe call may take
STRIPE_TIMEOUT_SECONDS, 20, and an action makes a few), FORWARDED_ALLOW_IPS (the proxies
whose X-Forwarded-Proto is believed, default 127.0.0.1).
"""

import multiprocessing
import os

from billing.startup import load_settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing.settings")
# A missing or malformed variable stops gunicorn here, in one line, before any worker starts.
load_settings()

wsgi_app = "billing.wsgi:application"
bind = [f"0.0.0.0:{os.environ.get('PORT', '8000')}"]
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or 60)
graceful_timeout = 30
keepalive = 5  # behind a load balancer, which keeps connections open
# A worker is replaced after this many requests (jittered), so a slow leak cannot grow.
max_requests = 2000
max_requests_jitter = 200
# The app is loaded once, in the master, and each worker is forked from it: a new worker starts
# in milliseconds, not the ~1.5 s of CPU that loading Django and the app costs, which
# max_requests would otherwise charge every ~2,000 requests (at 500 webhooks a second, a worker
# replaced every 4 s). Safe to fork: loading the app opens no database connection and starts
# no thread (tests/test_serving.py), and pre_fork closes any connection all the same. New code
# needs gunicorn restarted: a HUP forks new workers from the code already loaded.
preload_app = True

forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Access log: one JSON line per request on stdout (billing/serving.py); errors on stderr.
accesslog = "-"
errorlog = "-"
logger_class = "billing.serving.JsonAccessLogger"
control_socket_disable = True  # nothing here uses gunicornc


def pre_fork(server, worker):
    """Before each fork: no database connection of the master's reaches a worker, where two
    processes would talk over the one socket."""
    from django.db import connections

    connections.close_all()
