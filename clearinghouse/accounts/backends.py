"""Password authentication with usernames compared case-insensitively (``Alice`` is
``alice``). Every door reaches it through ``accounts.lockout.login_attempt``."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User

from clearinghouse.accounts.selectors import user_by_username


class UsernameModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if not isinstance(username, str) or not isinstance(password, str):
            return None
        user = user_by_username(username=username)
        if user is None:
            # Hash once anyway, so that an unknown username costs what a wrong password does.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
