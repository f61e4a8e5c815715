from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Staff accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from accounts.signin import stamp_session

        # However a session starts (the sign-in page, SSO, a test's force_login), it is
        # stamped then, so its idle and total limits count from the sign-in.
        user_logged_in.connect(stamp_session, dispatch_uid="accounts.stamp_session")
