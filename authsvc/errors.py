"""Every exception of the package, with the stable codes clients see, and their one rendering.

Services raise these; the app's handlers, the middlewares and the downstream verifier all
answer them through `error_response`, as `{"error": code, "detail": message}`. Sending that
answer leaves the code in the request's state, where the request observer labels metrics by it.

Exception
 ├── AuthError (500 internal_error): everything a client may be told
 │    ├── BadRequest (400 invalid_request)
 │    │    ├── UnsupportedMediaType (415 unsupported_media_type)
 │    │    ├── WeakPassword (400 weak_password)
 │    │    ├── InvalidLinkToken (400 invalid_link_token): a mailed link that cannot be used
 │    │    ├── OAuthStateInvalid (400 oauth_state_invalid): no, unknown, used or foreign state
 │    │    └── ProviderDenied (400 provider_denied): the provider answered with an error
 │    ├── PayloadTooLarge (413 payload_too_large)
 │    │    └── SessionStateTooLarge (413 session_state_too_large)
 │    ├── InvalidCredentials (401 invalid_credentials)
 │    ├── InvalidMfaCode (401 invalid_mfa_code): a wrong TOTP or recovery code
 │    │    └── MfaCodeReused (401 mfa_code_reused): a TOTP code of a step already used
 │    ├── MfaStepInvalid (401 mfa_step_invalid): no or unknown step cookie
 │    │    ├── MfaStepUsed (401 mfa_step_used)
 │    │    ├── MfaStepExpired (401 mfa_step_expired)
 │    │    ├── MfaStepOtherBrowser (401 mfa_step_other_browser)
 │    │    └── MfaStepStale (401 mfa_step_stale): the account changed since the password step
 │    ├── PasskeyRejected (400 passkey_rejected): the authenticator's answer does not verify
 │    │    ├── PasskeyChallengeInvalid (400 passkey_challenge_invalid): unknown, used or late
 │    │    └── PasskeySignCountRegressed (400 passkey_sign_count_regressed): a cloned key?
 │    ├── NotAuthenticated (401 not_authenticated)
 │    ├── InvalidToken (401 invalid_token)
 │    │    ├── TokenExpired (401 token_expired)
 │    │    ├── TokenRevoked (401 token_revoked)
 │    │    │    └── SessionEnded (401 session_ended)
 │    │    ├── KeyRevoked (401 key_revoked)
 │    │    └── KeyRetired (401 key_retired)
 │    ├── InvalidRefreshToken (401 invalid_refresh_token)
 │    │    ├── SessionExpired (401 session_expired)
 │    │    └── RefreshTokenReused (401 refresh_token_reused)
 │    ├── InvalidClient (401 invalid_client)
 │    ├── IdTokenInvalid (401 id_token_invalid): the provider's ID token does not hold
 │    ├── Forbidden (403 forbidden)
 │    │    ├── CsrfFailed (403 csrf_failed)
 │    │    ├── EmailNotVerified (403 email_not_verified)
 │    │    ├── StepUpRequired (403 step_up_required): a recent second factor is needed
 │    │    ├── MfaEnrolmentRequired (403 mfa_enrolment_required)
 │    │    ├── RegistrationClosed (403 registration_closed): no account for this identity
 │    │    └── ProviderEmailUnverified (403 provider_email_unverified)
 │    ├── NotFound (404 not_found)
 │    ├── MethodNotAllowed (405 method_not_allowed)
 │    ├── Conflict (409 conflict)
 │    │    ├── SessionActive (409 session_active)
 │    │    ├── LastSignInMethod (409 last_sign_in_method)
 │    │    ├── LinkRequired (409 link_required): an account has this email; sign in and link
 │    │    └── IdentityLinkedElsewhere (409 identity_linked_elsewhere)
 │    ├── ProviderUnavailable (502 provider_unavailable): the provider cannot be reached
 │    ├── TooManyAttempts (429 too_many_attempts)
 │    └── ServiceUnavailable (503 service_unavailable)
 │         ├── VerifierUnavailable (503 service_unavailable): the verifier cannot check a token
 │         └── PasswordWorkBusy (503 password_work_busy): every password-hashing slot is taken
 ├── SecondStepDue: the password was right and the login goes on to its second step
 ├── MissingSetting: a command needs a setting that is not configured
 ├── StartupError: the service cannot start; the message says what the operator must do
 ├── KeyDecryptionError: the key-encryption secret does not open a stored key
 ├── RaceLost: another instance made a key transition first
 ├── ChannelDeaf: a push channel is subscribed but its own probe does not come back
 ├── HttpError: the verifier's HTTP call gave no usable answer
 └── DiscoveryError: the issuer's metadata or key set cannot be fetched or used
HTTPException (Starlette)
 └── VerificationError: an AuthError raised from the verifier's FastAPI dependency
"""

from __future__ import annotations

from typing import ClassVar

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

# The key in the request's state (`scope["state"]`) that names the error answered.
ERROR_CODE_STATE = "error_code"


class AuthError(Exception):
    """Base of every error a client may see; `detail` is safe to show."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    default_detail: ClassVar[str] = "Internal error."

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None):
        self.detail = detail or self.default_detail
        self.headers = headers or {}
        super().__init__(self.detail)


class BadRequest(AuthError):
    code = "invalid_request"
    status = 400
    default_detail = "The request is malformed."


class UnsupportedMediaType(BadRequest):
    code = "unsupported_media_type"
    status = 415
    default_detail = "Send application/json or application/x-www-form-urlencoded."


class WeakPassword(BadRequest):
    code = "weak_password"
    default_detail = "The password does not meet the password policy."


class InvalidLinkToken(BadRequest):
    """Unknown, used, expired, superseded or sent to an address the account no longer has."""

    code = "invalid_link_token"
    # One answer for every reason, so a token's history is not told to whoever holds it.
    default_detail = "This link is invalid, used or expired; ask for a new one."


class OAuthStateInvalid(BadRequest):
    """Missing, unknown, used, expired or started by another browser: one answer for all."""

    code = "oauth_state_invalid"
    default_detail = "This sign-in link is not valid in this browser; start the sign-in again."


class ProviderDenied(BadRequest):
    code = "provider_denied"
    default_detail = "The identity provider did not sign you in."


class PayloadTooLarge(AuthError):
    code = "payload_too_large"
    status = 413
    default_detail = "The request body is too large."


class SessionStateTooLarge(PayloadTooLarge):
    code = "session_state_too_large"
    default_detail = "The session state is too large."


class InvalidCredentials(AuthError):
    code = "invalid_credentials"
    status = 401
    # The same words for an unknown user, a wrong password and a disabled account.
    default_detail = "Invalid username or password."


class InvalidMfaCode(AuthError):
    code = "invalid_mfa_code"
    status = 401
    default_detail = "The code is not valid."


class MfaCodeReused(InvalidMfaCode):
    code = "mfa_code_reused"
    default_detail = "This code was already used; wait for the next one."


class MfaStepInvalid(AuthError):
    code = "mfa_step_invalid"
    status = 401
    default_detail = "No sign-in is waiting for a second factor here; log in again."


class MfaStepUsed(MfaStepInvalid):
    code = "mfa_step_used"
    default_detail = "This sign-in was already completed or abandoned; log in again."


class MfaStepExpired(MfaStepInvalid):
    code = "mfa_step_expired"
    default_detail = "The time for the second step ran out; log in again."


class MfaStepOtherBrowser(MfaStepInvalid):
    code = "mfa_step_other_browser"
    default_detail = "This sign-in was started in another browser; log in again here."


class MfaStepStale(MfaStepInvalid):
    code = "mfa_step_stale"
    default_detail = "The account changed since the password was checked; log in again."


class PasskeyRejected(AuthError):
    code = "passkey_rejected"
    status = 400
    default_detail = "The passkey's answer could not be verified."


class PasskeyChallengeInvalid(PasskeyRejected):
    code = "passkey_challenge_invalid"
    default_detail = "This passkey challenge is unknown, used or expired; ask for a new one."


class PasskeySignCountRegressed(PasskeyRejected):
    code = "passkey_sign_count_regressed"
    # The authenticator's counter went backwards: two copies of one key are in use.
    default_detail = "This passkey's signature counter went backwards; it may have been copied."


class NotAuthenticated(AuthError):
    code = "not_authenticated"
    status = 401
    default_detail = "No access token was presented."


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


class RefreshTokenReused(InvalidRefreshToken):
    code = "refresh_token_reused"
    default_detail = "This refresh token was already used; the session has been ended."


class IdTokenInvalid(AuthError):
    code = "id_token_invalid"
    status = 401
    default_detail = "The identity provider's answer could not be verified."


class InvalidClient(AuthError):
    """RFC 6749 section 5.2: the calling client (e.g. of POST /introspect) did not authenticate."""

    code = "invalid_client"
    status = 401
    default_detail = "Client authentication failed."

    def __init__(self, detail: str | None = None):
        super().__init__(detail, headers={"WWW-Authenticate": 'Basic realm="authsvc"'})


class Forbidden(AuthError):
    code = "forbidden"
    status = 403
    default_detail = "Not allowed."


class CsrfFailed(Forbidden):
    code = "csrf_failed"
    default_detail = "Cross-site request refused: send it from an allowed origin with its token."


class EmailNotVerified(Forbidden):
    code = "email_not_verified"
    default_detail = "Confirm your email address before signing in."


class StepUpRequired(Forbidden):
    code = "step_up_required"
    default_detail = (
        "This change needs a recent sign-in with your second factor: log in again with it "
        "(POST /login, then POST /login/mfa) and retry."
    )


class MfaEnrolmentRequired(Forbidden):
    code = "mfa_enrolment_required"
    default_detail = "This account must add a second factor before it can sign in."


class RegistrationClosed(Forbidden):
    code = "registration_closed"
    default_detail = "No account is linked to this identity, and registration is closed."


class ProviderEmailUnverified(Forbidden):
    code = "provider_email_unverified"
    default_detail = "The identity provider does not vouch for this email address."


class NotFound(AuthError):
    code = "not_found"
    status = 404
    default_detail = "Not found."


class MethodNotAllowed(AuthError):
    code = "method_not_allowed"
    status = 405
    default_detail = "Method Not Allowed"


class Conflict(AuthError):
    code = "conflict"
    status = 409
    default_detail = "The request conflicts with the current state."


class SessionActive(Conflict):
    code = "session_active"
    default_detail = "Another session of this account is active; log out there first."


class LastSignInMethod(Conflict):
    code = "last_sign_in_method"
    default_detail = "This is the last way to sign in to the account; add another first."


class LinkRequired(Conflict):
    code = "link_required"
    default_detail = (
        "An account with this email address exists. Sign in to it with its own credentials, "
        "then link this provider from the account page."
    )


class IdentityLinkedElsewhere(Conflict):
    code = "identity_linked_elsewhere"
    default_detail = "This identity is already linked to another account."


class ProviderUnavailable(AuthError):
    code = "provider_unavailable"
    status = 502
    default_detail = "The identity provider could not be reached or gave no usable answer."


class TooManyAttempts(AuthError):
    code = "too_many_attempts"
    status = 429
    # The same words whether or not the account exists.
    default_detail = "Too many failed login attempts; try again later."


class ServiceUnavailable(AuthError):
    code = "service_unavailable"
    status = 503
    default_detail = "The service is temporarily unavailable."


class VerifierUnavailable(ServiceUnavailable):
    """The token-version source or the key set cannot answer; nobody is authenticated."""

    default_detail = "The session store is unavailable; try again shortly."


class PasswordWorkBusy(ServiceUnavailable):
    """Every slot for password hashing is taken and the wait for one ran out; Retry-After says
    when to come back. Nothing was checked, so it counts as no guess."""

    code = "password_work_busy"
    default_detail = "Too many password checks at once; try again shortly."


class SecondStepDue(Exception):
    """The password was right; the login needs its second step (`purpose` login or enrol)."""

    def __init__(self, token: str, purpose: str, factors: list[str], expires_in: int):
        self.token = token
        self.purpose = purpose
        self.factors = factors
        self.expires_in = expires_in
        super().__init__(purpose)


class MissingSetting(Exception):
    """A setting this command needs is not configured."""


class StartupError(Exception):
    """The service cannot start; the message says what the operator must do."""


class KeyDecryptionError(Exception):
    """The key-encryption secret does not open a stored key."""


class RaceLost(Exception):
    """Another instance made this key transition first; roll back and reload."""


class ChannelDeaf(Exception):
    """A push channel is subscribed yet delivers nothing: its own probe did not come back."""


class HttpError(Exception):
    """The request did not produce a usable answer (network, size, scheme)."""


class DiscoveryError(Exception):
    """The issuer's metadata or key set cannot be fetched or is not acceptable."""


class VerificationError(HTTPException):
    """An AuthError as FastAPI understands it; `code` is authsvc's stable error code."""

    def __init__(self, error: AuthError):
        super().__init__(
            status_code=error.status, detail=error.detail, headers=challenge_headers(error)
        )
        self.error = error
        self.code = error.code


def challenge_headers(error: AuthError) -> dict[str, str]:
    """The verifier's headers: why a bearer token was refused (401), when to retry (503)."""
    headers = dict(error.headers)
    if error.status == 401:
        # RFC 6750 section 3: tell the client why its bearer token was not accepted.
        headers.setdefault("WWW-Authenticate", 'Bearer error="invalid_token"')
    elif error.status == 503:
        headers.setdefault("Retry-After", "1")
    return headers


# What the framework's own refusals (unknown route, wrong method, unparsable body) stand for.
_FRAMEWORK_STATUSES: dict[int, type[AuthError]] = {
    400: BadRequest,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def framework_error(error: HTTPException) -> AuthError:
    """The AuthError a Starlette/FastAPI HTTPException stands for; anything else is a 500."""
    if isinstance(error, VerificationError):
        return error.error
    kind = _FRAMEWORK_STATUSES.get(error.status_code)
    if kind is None:
        return AuthError()
    return kind(str(error.detail), headers=dict(error.headers or {}))


class _ErrorJSONResponse(JSONResponse):
    """`{"error": code, "detail": message}`; sending it records the code in the request state."""

    def __init__(self, error: AuthError, headers: dict[str, str] | None = None):
        super().__init__(
            {"error": error.code, "detail": error.detail},
            status_code=error.status,
            headers={**error.headers, **(headers or {})},
        )
        self.code = error.code

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Every error answer passes here, so every one is labelled by its code.
        scope.setdefault("state", {})[ERROR_CODE_STATE] = self.code
        await super().__call__(scope, receive, send)


def error_response(error: AuthError, *, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one rendering of an error: `{"error": code, "detail": message}` with its status."""
    return _ErrorJSONResponse(error, headers)
