"""CSRF protection for the UI's forms: a signed double-submit token (itsdangerous).

Each browser gets a random nonce in a ``SameSite=Strict``, ``HttpOnly`` cookie; every form carries the nonce
signed with the app's secret (a fresh random key per ``mlops ui`` process). A POST is accepted only when the
form's token verifies under the secret and names the cookie's nonce: a page of another origin can neither read
the cookie nor sign a nonce.
"""

from __future__ import annotations

import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "mlops_csrf"
FIELD = "csrf_token"
# A form older than this is refused (reload the page); long enough to read a model's evaluation before deciding.
MAX_AGE_S = 8 * 3600


class CsrfRefused(Exception):
    """A form's CSRF token is missing, forged, stale or for another browser: the message says which."""


class CsrfTokens:
    def __init__(self, secret: bytes) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="mlops-ui-csrf")

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(32)

    def token(self, nonce: str) -> str:
        """The value a form embeds for the browser holding ``nonce``."""
        return self._serializer.dumps(nonce)

    def verify(self, token: str | None, nonce: str | None) -> None:
        """``CsrfRefused`` unless ``token`` is this app's signature of ``nonce`` and not older than ``MAX_AGE_S``."""
        if not nonce:
            raise CsrfRefused("the browser sent no CSRF cookie: open the page again (cookies must be enabled)")
        if not token:
            raise CsrfRefused("the form has no CSRF token: submit it from the page it belongs to")
        try:
            signed = self._serializer.loads(token, max_age=MAX_AGE_S)
        except BadSignature:
            raise CsrfRefused("the form's CSRF token is invalid or expired: reload the page and submit again") from None
        if not secrets.compare_digest(str(signed), nonce):
            raise CsrfRefused("the form's CSRF token belongs to another browser session: reload the page")
