"""Every exception of the package, with the stable codes clients see, and their one rendering.

Services raise these; the app's handlers, the middlewares and the downstream verifier all
answer them through `error_response`, as `{"error": code, "detail": message}`. Sending that
answer leaves the code in the request's state, where the request observer labels metrics by it.

Import every name from here. The modules split the tree by area: `base` (AuthError and the
errors of plain HTTP), `tokens` (access and refresh tokens, sessions), `accounts` (passwords,
credentials, mailed links), `mfa`, `federation`, `service` (errors no client sees: settings,
start-up, keys, channels), `verifier` (checking a token downstream) and `responses` (the
rendering).

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
 │    │    ├── SecondFactorRequired (401 second_factor_required)
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
 │    └── DatabaseNotReady: the database is unreachable or not migrated (yet)
 ├── KeyDecryptionError: the key-encryption secret does not open a stored key
 ├── RaceLost: another instance made a key transition first
 ├── ChannelDeaf: a push channel is subscribed but its own probe does not come back
 ├── HttpError: the verifier's HTTP call gave no usable answer
 └── DiscoveryError: the issuer's metadata or key set cannot be fetched or used
HTTPException (Starlette)
 └── VerificationError: an AuthError raised from the verifier's FastAPI dependency
"""

from authsvc.errors.accounts import (
    EmailNotVerified,
    InvalidCredentials,
    InvalidLinkToken,
    PasswordWorkBusy,
    WeakPassword,
)
from authsvc.errors.base import (
    AuthError,
    BadRequest,
    Conflict,
    CsrfFailed,
    Forbidden,
    InvalidClient,
    MethodNotAllowed,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyAttempts,
    UnsupportedMediaType,
)
from authsvc.errors.federation import (
    IdentityLinkedElsewhere,
    IdTokenInvalid,
    LastSignInMethod,
    LinkRequired,
    OAuthStateInvalid,
    ProviderDenied,
    ProviderEmailUnverified,
    ProviderUnavailable,
    RegistrationClosed,
)
from authsvc.errors.mfa import (
    InvalidMfaCode,
    MfaCodeReused,
    MfaEnrolmentRequired,
    MfaStepExpired,
    MfaStepInvalid,
    MfaStepOtherBrowser,
    MfaStepStale,
    MfaStepUsed,
    PasskeyChallengeInvalid,
    PasskeyRejected,
    PasskeySignCountRegressed,
    SecondStepDue,
    StepUpRequired,
)
from authsvc.errors.responses import ERROR_CODE_STATE, error_response, framework_error
from authsvc.errors.service import (
    ChannelDeaf,
    DatabaseNotReady,
    KeyDecryptionError,
    MissingSetting,
    RaceLost,
    StartupError,
)
from authsvc.errors.tokens import (
    InvalidRefreshToken,
    InvalidToken,
    KeyRetired,
    KeyRevoked,
    RefreshTokenReused,
    SecondFactorRequired,
    SessionActive,
    SessionEnded,
    SessionExpired,
    SessionStateTooLarge,
    TokenExpired,
    TokenRevoked,
)
from authsvc.errors.verifier import (
    DiscoveryError,
    HttpError,
    VerificationError,
    VerifierUnavailable,
    challenge_headers,
)

__all__ = [
    "AuthError",
    "BadRequest",
    "ChannelDeaf",
    "Conflict",
    "CsrfFailed",
    "DiscoveryError",
    "ERROR_CODE_STATE",
    "EmailNotVerified",
    "Forbidden",
    "HttpError",
    "IdTokenInvalid",
    "IdentityLinkedElsewhere",
    "InvalidClient",
    "InvalidCredentials",
    "InvalidLinkToken",
    "InvalidMfaCode",
    "InvalidRefreshToken",
    "InvalidToken",
    "KeyDecryptionError",
    "KeyRetired",
    "KeyRevoked",
    "LastSignInMethod",
    "LinkRequired",
    "MethodNotAllowed",
    "MfaCodeReused",
    "MfaEnrolmentRequired",
    "MfaStepExpired",
    "MfaStepInvalid",
    "MfaStepOtherBrowser",
    "MfaStepStale",
    "PasskeyChallengeInvalid",
    "PasskeyRejected",
    "PasskeySignCountRegressed",
    "MfaStepUsed",
    "MissingSetting",
    "NotAuthenticated",
    "NotFound",
    "OAuthStateInvalid",
    "PasswordWorkBusy",
    "PayloadTooLarge",
    "ProviderDenied",
    "ProviderEmailUnverified",
    "ProviderUnavailable",
    "RaceLost",
    "RefreshTokenReused",
    "SecondFactorRequired",
    "RegistrationClosed",
    "SecondStepDue",
    "ServiceUnavailable",
    "SessionActive",
    "SessionEnded",
    "SessionExpired",
    "SessionStateTooLarge",
    "StartupError",
    "DatabaseNotReady",
    "StepUpRequired",
    "TokenExpired",
    "TokenRevoked",
    "TooManyAttempts",
    "UnsupportedMediaType",
    "VerificationError",
    "VerifierUnavailable",
    "WeakPassword",
    "challenge_headers",
    "error_response",
    "framework_error",
]
