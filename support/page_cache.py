"""The customer page's rendered content, kept by the revision of what it shows.

A customer's page is the same for everyone who sees it with the same permissions, page
numbers and ticket, until one of the rows it shows is written. `billing.page_revisions` gives
that state a revision no other state ever had, in the writing transaction; the rendered HTML
is kept under it, so a write makes every kept copy unreachable before any reader can see the
write, and nothing is ever invalidated by hand. What changes with nothing written (an
entitlement override starting or running out) bounds how long a copy is kept. What is the
user's own (the navigation bar, its approvals badge, messages, the CSRF token) is not kept: the
bar is drawn around the content for each request, and the token is put in on the way out.

The cache is each process's own memory (Django's local-memory backend, CACHES["pages"]): a
revision is the same in every process, so each keeps what it rendered, and a bounded number of
pages (the least recently used go first).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import caches
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.utils import timezone

from billing.page_revisions import Revision

CACHE = "pages"
# How long a page is kept at most (seconds); a copy is never wrong for its revision, so this
# only frees what nobody asks for any more.
KEPT_FOR = 600

# Stands for the CSRF token in what is kept, and is replaced by the requester's own on the
# way out. Random for each process, so no customer's data can hold it.
CSRF_PLACEHOLDER = f"csrf-{secrets.token_hex(16)}"


@dataclass(frozen=True)
class Rendered:
    title: str
    html: str
    # When it stops being right with nothing written (None: only a write changes it).
    until: dt.datetime | None = None


def cache_key(customer_id: int, revision: Revision, variant: object) -> str:
    """The key of one rendering: the customer, both revisions (and the database server's start,
    which a revision is unique within), and everything else the HTML depends on (`variant`:
    section, page numbers, ticket, the viewer's permissions)."""
    digest = hashlib.blake2b(repr(variant).encode(), digest_size=16).hexdigest()
    return (
        f"customer:{customer_id}:{revision.customer}:{revision.shared}:{revision.server}:{digest}"
    )


def rendered(
    request: HttpRequest,
    customer_id: int,
    revision: Revision | None,
    variant: object,
    render: Callable[[], Rendered],
) -> Rendered:
    """The customer's content for `variant`, kept or rendered now (and kept). `revision` must
    have been read before anything `render` reads; None renders without keeping or reading
    what is kept."""
    cache = caches[CACHE]
    key = cache_key(customer_id, revision, variant) if revision is not None else None
    shown: Rendered | None = cache.get(key) if key else None
    if shown is not None and shown.until is not None and shown.until <= timezone.now():
        shown = None
    if shown is None:
        shown = render()
        if key:
            timeout = KEPT_FOR
            if shown.until is not None:
                timeout = min(timeout, int((shown.until - timezone.now()).total_seconds()))
            if timeout > 0:
                cache.set(key, shown, timeout)
    if CSRF_PLACEHOLDER in shown.html:
        shown = Rendered(
            shown.title, shown.html.replace(CSRF_PLACEHOLDER, get_token(request)), shown.until
        )
    return shown
