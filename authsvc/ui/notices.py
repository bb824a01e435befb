"""The one-line confirmations a page shows after a redirect (`?notice=`), by code."""

from __future__ import annotations

NOTICES = {
    "signed-out": "You have signed out.",
    "signed-out-everywhere": "You have signed out on every device.",
    "session-ended": "Your session has ended. Sign in again to continue.",
    "registered": "Your account is ready.",
    "password-changed": "Your password has been changed. Every other device is signed out.",
    "device-signed-out": "That device has been signed out.",
    "device-gone": "That device was already signed out.",
    # The same words whether or not a mail goes out: they tell nobody if the account exists.
    "reset-link-sent": (
        "If an account goes by that name and has an email address, a link to choose a new "
        "password is on its way to it."
    ),
    "password-reset": (
        "Your password has been changed and every device signed out. Sign in with the new one."
    ),
    "verification-sent": "A link to confirm your email address is on its way to it.",
    "email-verified": "Your email address is confirmed.",
    "mfa-step-over": "That sign-in is over (used, expired or from another browser). Sign in again.",
    "mfa-added": "The authenticator app is added: signing in now asks for its code.",
    "mfa-removed": "The second factor is removed.",
    "passkey-renamed": "The passkey is renamed.",
    "factor-name-invalid": "A name needs 1 to 64 characters, on one line.",
    "step-up": "Sign in again with your second factor to make this change.",
    # A sign-in at an external provider that did not end in a session (the callback's codes).
    "provider-denied": "The identity provider did not sign you in.",
    "provider-state": "That sign-in is over (used, expired or from another browser). Try again.",
    "provider-link-required": (
        "An account with this email address exists. Sign in to it, then link the provider "
        "from your account page."
    ),
    "provider-email-unverified": "The identity provider does not vouch for this email address.",
    "provider-registration-closed": "No account is linked to this identity.",
    "provider-linked-elsewhere": "This identity is already linked to another account.",
    "provider-failed": "The sign-in at the identity provider could not be completed. Try again.",
    "provider-linked": "The identity is linked: you can sign in with it now.",
    "provider-unlinked": "The identity is unlinked. Every other device is signed out.",
    "provider-last-way": "That is the last way to sign in to your account: add another first.",
}
