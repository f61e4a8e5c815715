"""The JSON API for scripts, services and AI agents (SPEC §7), under /api/v1/.

It reaches billing through the same public verbs as the staff screens (billing.actions), under
the same rules: the token's owner's roles and limits, approvals, the audit history.

- base.py: the NinjaAPI, its JSON-only parser, its errors in OpenAPI, its URLs' access rule
- auth.py: bearer tokens, the per-token rate, read-only tokens, each endpoint's permissions
- problems.py: every error as application/problem+json, and the middleware under it
- idempotency.py: Idempotency-Key on every write
- pagination.py: keyset cursors
- schemas.py: what the API answers
- customers.py, actions.py, approvals.py: the endpoints; support/api.py adds the tickets
  (support/apps.py mounts them, as support sits above billing)
"""

from billing.api import actions, approvals, customers
from billing.api.base import make_api

MOUNT = "api/v1/"

api = make_api()
api.add_router("", customers.router)
api.add_router("", actions.router)
api.add_router("", approvals.router)

__all__ = ["MOUNT", "api"]
