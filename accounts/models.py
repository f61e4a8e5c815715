from django.contrib.auth.models import AbstractUser

from accounts.audit import AuditedHistory


class User(AbstractUser):
    """A staff member. Roles are the groups `support`, `finance`, `admin` and `auditor`.

    Staff are deactivated, never deleted: their name stays on every change they made.
    """

    # Sign-ins (last_login) and password hashes are not part of the audit trail; role
    # changes (groups) are.
    history = AuditedHistory(
        excluded_fields=["password", "last_login"],
        m2m_fields=["groups", "user_permissions"],
    )

    class Meta:
        default_permissions = ("view",)
        permissions = [("manage_staff", "Manage staff accounts and their roles")]

    def __str__(self) -> str:
        return self.get_full_name() or self.username
