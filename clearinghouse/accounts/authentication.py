from __future__ import annotations

from rest_framework import authentication, exceptions

from clearinghouse.accounts.selectors import credential_authenticate


class PartyPrincipal:
    """request.user for a platform or manufacturer authenticated by API key."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, *, kind: str, party):
        self.kind = kind
        self.party = party

    @property
    def pk(self) -> str:
        return f"{self.kind}:{self.party.pk}"

    def __str__(self) -> str:
        return f"{self.kind} {self.party.slug}"


class BearerAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        credential = credential_authenticate(token=token)
        if credential is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        if credential.kind == credential.KIND_CONSUMER:
            if not credential.user.is_active:
                raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
            # Read with the credential (credential_authenticate); api.actors.request_actor
            # uses it instead of asking the database again.
            credential.user.ch_is_officer = credential.user_is_officer
            return credential.user, credential
        party = credential.platform if credential.kind == credential.KIND_PLATFORM else credential.manufacturer
        return PartyPrincipal(kind=credential.kind, party=party), credential

    def authenticate_header(self, request) -> str:
        return self.keyword


class PortalSessionAuthentication(authentication.SessionAuthentication):
    """The portal's session cookie, with DRF's CSRF enforcement for unsafe methods."""
