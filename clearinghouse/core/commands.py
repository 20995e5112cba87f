from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from clearinghouse.core.errors import DomainError


class ServiceCommand(BaseCommand):
    """A management command that calls one service and turns domain errors into a clear
    message on stderr with exit status 2, instead of a traceback.

    Commands speak English, like the rest of the command line: without this, messages
    Django translates (password validators, for one) would come out in LANGUAGE_CODE,
    the portal's Chinese."""

    def execute(self, *args, **options):
        try:
            with translation.override("en"):
                return super().execute(*args, **options)
        except DomainError as exc:
            raise CommandError(exc.message, returncode=2) from None
