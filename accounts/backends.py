"""Sign-in by username and password, and a staff member's rights, with their roles and every
permission those grant read in one query.

Every page checks a dozen permissions and draws the roles in its bar. Django's ModelBackend
reads the permissions in two queries (the user's own, their groups'), and the bar read the
roles in a third: on a page the cache keeps, those were three of its seven queries. The rights
are the same as ModelBackend's (tests/accounts/test_backends.py compares them for every role),
and like its own they are read once per request, on the request's user object: a role taken
away counts from the next request on.
"""

from functools import cache

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from accounts.models import User


class StaffBackend(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            _read_rights(user_obj)
        return user_obj._perm_cache  # ModelBackend's own name for it


def role_names(user: User) -> list[str]:
    """The names of the user's roles, sorted, read with their permissions when not yet read."""
    if not hasattr(user, "_role_names"):
        _read_rights(user)
    return user._role_names  # type: ignore[attr-defined]  # set by _read_rights


def _read_rights(user: User) -> None:
    """Fill, on `user`, the caches ModelBackend reads (`_user_perm_cache`,
    `_group_perm_cache`, `_perm_cache`) and the roles, from one query."""
    with connection.cursor() as cursor:
        cursor.execute(_rights_sql(), [user.pk, user.pk])
        rows = cursor.fetchall()
    roles: set[str] = set()
    own: set[str] = set()
    from_roles: set[str] = set()
    for role, app_label, codename in rows:
        if role is not None:
            roles.add(role)
        if codename is not None:
            (from_roles if role is not None else own).add(f"{app_label}.{codename}")
    if not user.is_active:  # as ModelBackend: an inactive user holds no permission
        own, from_roles = set(), set()
    elif user.is_superuser:  # as ModelBackend: every permission there is, from either source
        own = from_roles = {
            f"{app_label}.{codename}"
            for app_label, codename in Permission.objects.values_list(
                "content_type__app_label", "codename"
            )
        }
    # The names ModelBackend reads its sets under, and the roles beside them.
    for name, value in [
        ("_user_perm_cache", own),
        ("_group_perm_cache", from_roles),
        ("_perm_cache", own | from_roles),
        ("_role_names", sorted(roles)),
    ]:
        setattr(user, name, value)


@cache
def _rights_sql() -> str:
    """The user's roles with each one's permissions (a role without any: one row of NULLs),
    then the user's own permissions (role NULL)."""
    member, granted, own = User.groups.field, Group.permissions.field, User.user_permissions.field
    permission, content_type = Permission._meta.db_table, ContentType._meta.db_table
    return f"""
        SELECT g.name, ct.app_label, p.codename
          FROM {member.m2m_db_table()} m
          JOIN {Group._meta.db_table} g ON g.id = m.{member.m2m_reverse_name()}
          LEFT JOIN {granted.m2m_db_table()} gp ON gp.{granted.m2m_column_name()} = g.id
          LEFT JOIN {permission} p ON p.id = gp.{granted.m2m_reverse_name()}
          LEFT JOIN {content_type} ct ON ct.id = p.content_type_id
         WHERE m.{member.m2m_column_name()} = %s
        UNION ALL
        SELECT NULL, ct.app_label, p.codename
          FROM {own.m2m_db_table()} up
          JOIN {permission} p ON p.id = up.{own.m2m_reverse_name()}
          JOIN {content_type} ct ON ct.id = p.content_type_id
         WHERE up.{own.m2m_column_name()} = %s
    """
