from django.apps import AppConfig
from django.db.models.signals import post_migrate


def seal_after_migrate(sender, using, **kwargs) -> None:
    """Rows written by migrations (roles, default policy) are sealed into their chains."""
    from accounts import chain

    chain.seal_unsealed(using=using)


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Staff accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from accounts.signin import stamp_session

        # However a session starts (the sign-in page, SSO, a test's force_login), it is
        # stamped then, so its idle and total limits count from the sign-in.
        user_logged_in.connect(stamp_session, dispatch_uid="accounts.stamp_session")

        from accounts import audit, chain

        audit.on_append_only_insert(chain.register)
        post_migrate.connect(seal_after_migrate, sender=self, dispatch_uid="accounts.chain.seal")
