"""Refusals of access tokens, refresh tokens and the sessions they belong to."""

from __future__ import annotations

from authsvc.errors.base import AuthError, Conflict, PayloadTooLarge


class InvalidToken(AuthError):
    code = "invalid_token"
    status = 401
    default_detail = "The access token is not valid."


class TokenExpired(InvalidToken):
    code = "token_expired"
    default_detail = "The access token has expired."


class TokenRevoked(InvalidToken):
    code = "token_revoked"
    default_detail = "The access token has been revoked."


class SessionEnded(TokenRevoked):
    code = "session_ended"
    default_detail = "This session has ended; log in again."


class KeyRevoked(InvalidToken):
    code = "key_revoked"
    default_detail = "The access token was signed by a key that has been revoked."


class KeyRetired(InvalidToken):
    code = "key_retired"
    default_detail = "The access token was signed by a key that has been retired."


class InvalidRefreshToken(AuthError):
    code = "invalid_refresh_token"
    status = 401
    default_detail = "The refresh token is missing, unknown or revoked; log in again."


class SessionExpired(InvalidRefreshToken):
    code = "session_expired"
    default_detail = "The session has expired; log in again."


class SecondFactorRequired(InvalidRefreshToken):
    code = "second_factor_required"
    default_detail = (
        "This account must now sign in with a second factor: log in again (POST /login), "
        "which asks for it or for its enrolment."
    )


class RefreshTokenReused(InvalidRefreshToken):
    code = "refresh_token_reused"
    default_detail = "This refresh token was already used; the session has been ended."


class SessionStateTooLarge(PayloadTooLarge):
    code = "session_state_too_large"
    default_detail = "The session state is too large."


class SessionActive(Conflict):
    code = "session_active"
    default_detail = "Another session of this account is active; log out there first."
