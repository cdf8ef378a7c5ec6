import structlog
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from ecore.exceptions import INACTIVE_USER, INVALID_TOKEN, AuthenticationError
from tokens.models import ApiToken
from tokens.services import api_token_find, test_token_record_request

ACCEPTED_SCHEMES = (b"bearer", b"token")


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>` (seed 000) or `Authorization: Token <token>` (seed 001)."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts:
            return None
        if parts[0].lower() not in ACCEPTED_SCHEMES or len(parts) != 2:
            raise AuthenticationError(INVALID_TOKEN)
        try:
            plaintext = parts[1].decode()
        except UnicodeDecodeError:
            raise AuthenticationError(INVALID_TOKEN) from None
        token = api_token_find(plaintext)
        if token is None:
            raise AuthenticationError(INVALID_TOKEN)
        if not token.user.is_active:
            raise AuthenticationError(INACTIVE_USER)
        # Every line the request logs from here on says whose it is.
        structlog.contextvars.bind_contextvars(user_id=token.user.pk)
        if token.kind == ApiToken.Kind.TEST:
            test_token_record_request(token=token)
        return token.user, token

    def authenticate_header(self, request):
        return "Bearer"
