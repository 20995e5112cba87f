"""Usernames are unique case-insensitively: ``Alice`` and ``alice`` are one name.

New accounts are checked by the services (``consumer_register``,
``compliance_officer_create``) and, against a race, by a unique index on
``lower(username)`` (migration 0002). A database that already holds names differing only
in case cannot take the index: the migration then leaves it out and says so, and
``manage.py usernames_duplicates`` lists the pairs and, once none remain, creates it.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Count
from django.db.models.functions import Lower

INDEX_NAME = "auth_user_username_ci_uniq"
CREATE_INDEX_SQL = f"CREATE UNIQUE INDEX IF NOT EXISTS {INDEX_NAME} ON auth_user (lower(username))"
DROP_INDEX_SQL = f"DROP INDEX IF EXISTS {INDEX_NAME}"


def usernames_duplicates_list(*, user_model=User) -> list[list[tuple[int, str]]]:
    """Groups of users whose usernames differ only in case: [[(id, username), ...], ...]."""
    names = (
        user_model.objects.annotate(folded=Lower("username"))
        .values("folded")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("folded", flat=True)
    )
    groups = []
    for folded in names:
        rows = user_model.objects.annotate(folded=Lower("username")).filter(folded=folded).order_by("id")
        groups.append([(row.id, row.username) for row in rows])
    return groups


def username_index_exists() -> bool:
    with connection.cursor() as cursor:
        return INDEX_NAME in {
            name for name, info in connection.introspection.get_constraints(cursor, "auth_user").items() if info.get("index")
        }


def username_index_create() -> None:
    with connection.cursor() as cursor:
        cursor.execute(CREATE_INDEX_SQL)
