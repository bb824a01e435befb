"""A token-version source for the verifier that asks authsvc's `POST /introspect`."""

from __future__ import annotations

import logging

from authsvc.errors import HttpError, VerifierUnavailable
from authsvc.verify.http import HttpClient, UrllibClient

logger = logging.getLogger("authsvc.verify")


class IntrospectionSource:
    """Asks authsvc's `POST /introspect` (RFC 7662); one HTTP round trip per call."""

    def __init__(
        self,
        introspection_url: str,
        client_id: str,
        client_secret: str,
        *,
        http: HttpClient | None = None,
    ):
        self.url = introspection_url
        self._auth = (client_id, client_secret)
        self._http = http or UrllibClient()
        self.reads = 0

    def current_version(self, user_id: str, *, token: str, claimed: int) -> int | None:
        self.reads += 1
        try:
            answer = self._http.post_form(self.url, {"token": token}, basic_auth=self._auth)
        except HttpError as exc:
            logger.warning("introspection failed: %s", exc)
            raise VerifierUnavailable() from exc
        if answer.status != 200:
            logger.warning("introspection answered %s", answer.status)
            raise VerifierUnavailable()
        body = answer.json()
        if not isinstance(body, dict) or body.get("active") is not True:
            return None
        version = body.get("tv")
        if body.get("sub") != user_id or not isinstance(version, int):
            return None
        return version

    def close(self) -> None:
        """Nothing to release: every call opens and closes its own connection."""
