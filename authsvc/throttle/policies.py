"""Every throttled endpoint and its limits, declared in one place.

An endpoint that verifies a password, or that answers something an attacker would like to ask
many times ("is this username taken?"), gets a `Throttle` here and calls `enforce` (in
`authsvc.services.throttling`) before doing any work, then `count` after each failure:

    throttle = runtime.throttles.login
    throttling.enforce(db, throttle, client, now=now, account=username)
    ...
    throttle.count(now, client=client.ip, account=username)
"""

from __future__ import annotations

from dataclasses import dataclass

from limits import RateLimitItem

from authsvc.config import Settings
from authsvc.config.values import parse_limits
from authsvc.throttle.counters import Counters
from authsvc.throttle.endpoint import Limit, Per, Throttle


@dataclass(frozen=True)
class Throttles:
    """The throttle of every endpoint, over one storage: Redis when configured."""

    counters: Counters
    # Failed logins: guesses of an account's password.
    login: Throttle
    # Wrong current passwords at POST /password and PATCH /account: guesses too, from a session
    # that may be stolen.
    password_change: Throttle
    email_change: Throttle
    # Sign-up attempts, whose "username taken" answer tells whether an account exists.
    register: Throttle
    # Requests for a password-reset link and for an address-confirmation link: each one sends
    # mail, so every request counts, per account and per address, like a failed login.
    password_reset: Throttle
    email_verification: Throttle
    # Wrong TOTP codes, per account and address: a million codes, three valid at a time, so a
    # few dozen guesses an hour keep guessing hopeless. Recovery codes and passkeys never count
    # or consult it, so whoever knows the password cannot lock the owner out of those.
    mfa: Throttle
    # Options to sign in with a passkey alone: every request stores a challenge before anyone
    # is known, so every request counts, per address.
    passkey_sign_in: Throttle

    @classmethod
    def from_settings(cls, settings: Settings) -> Throttles:
        counters = Counters.from_url(settings.redis_url)
        enabled = settings.login_throttle_enabled
        known = settings.login_known_client_days * 86400
        # A guess of a password counts against the same budget at every endpoint that takes one.
        guesses = (
            Limit("login:client", Per.CLIENT, _items(settings.login_limit_client)),
            Limit(
                "login:client-account",
                Per.CLIENT_ACCOUNT,
                _items(settings.login_limit_client_account),
            ),
            Limit(
                "login:account",
                Per.ACCOUNT,
                _items(settings.login_limit_account),
                spares_known_clients=True,
            ),
        )
        return cls(
            counters=counters,
            login=Throttle(
                "login",
                "/login",
                guesses,
                counters,
                enabled=enabled,
                known_client_seconds=known,
                refusal="Too many failed login attempts; try again later.",
            ),
            password_change=Throttle(
                "password_change",
                "/password",
                guesses,
                counters,
                enabled=enabled,
                known_client_seconds=known,
                refusal="Too many wrong passwords; try again later.",
            ),
            email_change=Throttle(
                "email_change",
                "/account",
                guesses,
                counters,
                enabled=enabled,
                known_client_seconds=known,
                refusal="Too many wrong passwords; try again later.",
            ),
            register=Throttle(
                "register",
                "/register",
                (Limit("register:client", Per.CLIENT, _items(settings.register_limit_client)),),
                counters,
                enabled=enabled,
                refusal="Too many sign-up attempts from this address; try again later.",
            ),
            password_reset=Throttle(
                "password_reset",
                "/password/forgot",
                _mail_limits("password-reset", settings),
                counters,
                enabled=enabled,
                refusal="Too many password-reset requests; try again later.",
            ),
            email_verification=Throttle(
                "email_verification",
                "/email/verify/request",
                _mail_limits("verify-email", settings),
                counters,
                enabled=enabled,
                refusal="Too many confirmation links asked for; try again later.",
            ),
            mfa=Throttle(
                "mfa",
                "/login/mfa",
                (
                    Limit("mfa:client-account", Per.CLIENT_ACCOUNT, _items(_MFA_CLIENT_ACCOUNT)),
                    Limit(
                        "mfa:account",
                        Per.ACCOUNT,
                        _items(_MFA_ACCOUNT),
                        spares_known_clients=True,
                    ),
                ),
                counters,
                enabled=enabled,
                known_client_seconds=known,
                refusal="Too many wrong codes; try again later, or use a recovery code.",
            ),
            passkey_sign_in=Throttle(
                "passkey_sign_in",
                "/login/passkey/options",
                (
                    Limit(
                        "passkey-sign-in:client",
                        Per.CLIENT,
                        _items(_PASSKEY_SIGN_IN_CLIENT),
                    ),
                ),
                counters,
                enabled=enabled,
                refusal="Too many passkey sign-in attempts from this address; try again later.",
            ),
        )

    def all(self) -> tuple[Throttle, ...]:
        return (
            self.login,
            self.password_change,
            self.email_change,
            self.register,
            self.password_reset,
            self.email_verification,
            self.mfa,
            self.passkey_sign_in,
        )

    def close(self) -> None:
        self.counters.close()


_MFA_CLIENT_ACCOUNT = "5/minute;30/hour"
_MFA_ACCOUNT = "10/minute;60/hour"
# A person signs in with a passkey a few times a day; a shared address (an office behind NAT)
# a few hundred times an hour at most.
_PASSKEY_SIGN_IN_CLIENT = "20/minute;300/hour"


def _mail_limits(scope: str, settings: Settings) -> tuple[Limit, ...]:
    """The mail limits, counted under keys of their own for each kind of link."""
    return (
        Limit(f"{scope}:client", Per.CLIENT, _items(settings.mail_limit_client)),
        Limit(
            f"{scope}:client-account",
            Per.CLIENT_ACCOUNT,
            _items(settings.mail_limit_client_account),
        ),
        Limit(f"{scope}:account", Per.ACCOUNT, _items(settings.mail_limit_account)),
    )


def _items(text: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_limits(text))
