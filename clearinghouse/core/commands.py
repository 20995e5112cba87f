from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from clearinghouse.core.errors import DomainError


class ServiceCommand(BaseCommand):
    """A management command that calls one service and turns domain errors into a clear
    message on stderr with exit status 2, instead of a traceback."""

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except DomainError as exc:
            raise CommandError(exc.message, returncode=2) from None
