"""Refusals of passwords, credentials and mailed account links."""

from __future__ import annotations

from authsvc.errors.base import AuthError, BadRequest, Forbidden, ServiceUnavailable


class WeakPassword(BadRequest):
    code = "weak_password"
    default_detail = "The password does not meet the password policy."


class InvalidLinkToken(BadRequest):
    """Unknown, used, expired, superseded or sent to an address the account no longer has."""

    code = "invalid_link_token"
    # One answer for every reason, so a token's history is not told to whoever holds it.
    default_detail = "This link is invalid, used or expired; ask for a new one."


class InvalidCredentials(AuthError):
    code = "invalid_credentials"
    status = 401
    # The same words for an unknown user, a wrong password and a disabled account.
    default_detail = "Invalid username or password."


class EmailNotVerified(Forbidden):
    code = "email_not_verified"
    default_detail = "Confirm your email address before signing in."


class PasswordWorkBusy(ServiceUnavailable):
    """Every slot for password hashing is taken and the wait for one ran out; Retry-After says
    when to come back. Nothing was checked, so it counts as no guess."""

    code = "password_work_busy"
    default_detail = "Too many password checks at once; try again shortly."
