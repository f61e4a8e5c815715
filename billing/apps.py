from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from accounts import chain
        from billing.models.stripe_events import history_model, receipts_waiting

        # A webhook's receipt is sealed by the event's processing, not by the accept path.
        chain.seal_later(history_model(), receipts_waiting)

        from django.core.signals import got_request_exception

        from billing.db import replace_stale_connections

        got_request_exception.connect(replace_stale_connections, dispatch_uid="billing.db.stale")
