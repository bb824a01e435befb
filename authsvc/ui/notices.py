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
}
