from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from accounts import chain
        from billing.models.stripe_events import history_model, receipts_waiting

        # A webhook's receipt is sealed by the event's processing, not by the accept path.
        chain.seal_later(history_model(), receipts_waiting)
