"""Settings of accounts: sign-up, the password policy, login throttles and password hashing."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from authsvc.config.base import SettingsGroup
from authsvc.config.values import Registration, parse_limits


class LoginThrottleSettings(SettingsGroup):
    """How many password guesses and sign-ups are allowed, per account and per client address."""

    model_config = SettingsConfigDict(title="Throttling: password guesses and sign-ups")

    login_throttle_enabled: bool = Field(
        default=True,
        description=(
            "Throttle every endpoint that checks a password (`POST /login`, `POST /password`, "
            "`PATCH /account`) or a second-factor code (`POST /login/mfa`), and those that send "
            "mail or store something for a visitor not yet known (`POST /register`, "
            "`/password/forgot`, `/email/verify/request`, `/login/passkey/options`); off turns "
            "off every one of them. The counters live in Redis when AUTHSVC_REDIS_URL is set, so "
            "every instance sees them; otherwise each process counts alone, in memory. An IPv6 "
            "client is counted by its /64."
        ),
    )
    login_limit_account: str = Field(
        default="100/hour",
        description=(
            "Wrong passwords allowed per account (at login and at `POST /password` together) "
            "from addresses that never logged in to it (`limits` syntax: "
            "`N/second|minute|hour|day`, several joined with `;`)."
        ),
    )
    login_limit_client_account: str = Field(
        default="5/minute;20/hour",
        description=(
            "Wrong passwords allowed per account from one client address: a growing delay for "
            "that address, not a lockout of the account."
        ),
    )
    login_limit_client: str = Field(
        default="100/hour",
        description=(
            "Wrong passwords allowed from one client address across all accounts (credential "
            "stuffing)."
        ),
    )
    register_limit_client: str = Field(
        default="20/hour;100/day",
        description=(
            'Sign-up attempts that reach the username check (an account created, or "username '
            'taken") allowed from one client address, so that `POST /register` is no free '
            "oracle of which usernames exist."
        ),
    )

    @field_validator(
        "login_limit_account",
        "login_limit_client_account",
        "login_limit_client",
        "register_limit_client",
    )
    @classmethod
    def _limits_parse(cls, value: str) -> str:
        parse_limits(value)
        return value

    login_known_client_days: int = Field(
        default=30,
        ge=0,
        le=365,
        description=(
            "How long an address that proved an account's password escapes that account's "
            "AUTHSVC_LOGIN_LIMIT_ACCOUNT, so an attacker spread over many addresses cannot lock "
            "the owner out."
        ),
    )


class AccountSettings(SettingsGroup):
    """Who may create an account, and what a password must be."""

    model_config = SettingsConfigDict(title="Accounts: passwords, registration")

    # OWASP ASVS 2.1.1: at least 12 characters; 8 is the floor that is ever acceptable.
    password_min_length: int = Field(
        default=12,
        ge=8,
        le=128,
        description=(
            "Fewest characters a new password may have; common passwords are refused whatever "
            "their length."
        ),
    )
    registration: Registration = Field(
        default=Registration.closed,
        description=(
            "`open` lets anyone create an account with `POST /register`; `closed` leaves it to "
            "`authsvc users create`."
        ),
    )
    require_verified_email: bool = Field(
        default=False,
        description=(
            "Refuse the login of an account whose email address is not verified (403 "
            "`email_not_verified`; the right password also sends a new confirmation link). "
            "Needs AUTHSVC_SMTP_URL. Accounts without an address cannot log in either until an "
            "operator gives them a verified one (`authsvc users email NAME --set ADDRESS "
            "--verified`)."
        ),
    )


class PasswordHashingSettings(SettingsGroup):
    """How much password hashing (argon2id) may run at once, so it cannot starve token checks."""

    model_config = SettingsConfigDict(title="Password hashing: concurrency")

    password_hashing_workers: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description=(
            "Password hashes and verifications that run at once (login, registration, password "
            "change and reset, `PATCH /account`, the operator's set-password); each takes a "
            "core and 19 MiB for tens of milliseconds; per worker process. Unset: the cores the "
            "process may use (its CPU affinity, or its cgroup's CPU limit, a container's or "
            "pod's, rounded down, if that is smaller) divided by AUTHSVC_WORKERS (at least 1), "
            "so a burst of logins leaves the token checks their share of the CPU; the log says "
            "at start-up what it found."
        ),
    )
    password_hashing_queue: int = Field(
        default=16,
        ge=0,
        le=1024,
        description=(
            "Requests that may wait for a hashing slot when all are busy; they wait on the "
            "event loop, holding neither a threadpool thread nor a database connection. Beyond "
            "them a request is answered 503 `password_work_busy` with `Retry-After` at once, "
            "before its body is read or its throttle asked."
        ),
    )
    password_hashing_wait_seconds: float = Field(
        default=1.0,
        ge=0,
        le=30,
        description=(
            "Longest wait for a hashing slot; then 503 `password_work_busy` with "
            "`Retry-After`, never a timeout. 0 refuses at once when every slot is busy."
        ),
    )
    password_hashing_busy_pause_seconds: float = Field(
        default=0.25,
        ge=0,
        le=5,
        description=(
            "How long a request that finds no hashing slot and no place in the queue is held "
            "before its 503 `password_work_busy`. A client that retries at once, ignoring "
            "`Retry-After`, then retries at most this often per connection instead of "
            "spending the CPU on its refusals. Held on the event loop, costing no thread or "
            "connection; each worker process holds its own. 0 answers at once."
        ),
    )
    password_hashing_niceness: int = Field(
        default=19,
        ge=0,
        le=19,
        description=(
            "CPU priority of the threads that hash passwords, as a Unix nice value added to "
            "the process's (Linux; ignored elsewhere). 19, the lowest priority, lets a token "
            "check take the core from a running hash at once, so a login storm leaves the "
            "check's latency close to its idle value and logins take the time left over; 0 "
            "hashes at the priority of the requests."
        ),
    )
