"""Errors of signing in with external identity providers and linking their identities."""

from __future__ import annotations

from authsvc.errors.base import AuthError, BadRequest, Conflict, Forbidden


class OAuthStateInvalid(BadRequest):
    """Missing, unknown, used, expired or started by another browser: one answer for all."""

    code = "oauth_state_invalid"
    default_detail = "This sign-in link is not valid in this browser; start the sign-in again."


class ProviderDenied(BadRequest):
    code = "provider_denied"
    default_detail = "The identity provider did not sign you in."


class IdTokenInvalid(AuthError):
    code = "id_token_invalid"
    status = 401
    default_detail = "The identity provider's answer could not be verified."


class RegistrationClosed(Forbidden):
    code = "registration_closed"
    default_detail = "No account is linked to this identity, and registration is closed."


class ProviderEmailUnverified(Forbidden):
    code = "provider_email_unverified"
    default_detail = "The identity provider does not vouch for this email address."


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
