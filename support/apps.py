from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support"

    def ready(self) -> None:
        # The tickets' endpoints join billing's API here: support sits above billing, so
        # billing cannot import them (before any URL is resolved, so they are in its schema).
        from billing.api import api
        from support.api import router

        api.add_router("", router)
