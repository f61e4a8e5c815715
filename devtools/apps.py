from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Tooling that is never deployed: the Stripe emulator and `manage.py demo`.

    Installed only where the demo or the tests run (settings: DEBUG or DEVTOOLS=1); the product
    apps never import it (an import-linter contract checks)."""

    name = "devtools"
    verbose_name = "Developer tools"
