"""Service settings, read from AUTHSVC_* environment variables and an optional .env file."""

# One class per concept, in a module per area (server, signing, sessions, accounts, mail, mfa,
# federation, operations; `base` holds what they share, `values` the enumerations and parsed
# value types), composed into `Settings` by `settings`, which also checks the settings that
# depend on each other; `reference` renders docs/configuration.md from their descriptions. The
# package imports nothing of the service but errors and the rate-limit syntax, so every layer
# may depend on it.
from authsvc.config.accounts import AccountSettings, LoginThrottleSettings, PasswordHashingSettings
from authsvc.config.base import KEY_TIMING_MARGIN_SECONDS, SettingsGroup
from authsvc.config.mail import MailSettings
from authsvc.config.mfa import MfaPolicy, MfaSettings
from authsvc.config.operations import (
    DownstreamSettings,
    HostedPagesSettings,
    MaintenanceSettings,
    ObservabilitySettings,
)
from authsvc.config.server import DatabaseSettings, ServerSettings
from authsvc.config.sessions import BrowserSecuritySettings, CookieSettings, SessionSettings
from authsvc.config.settings import (
    GROUPS,
    Settings,
    describe_validation_error,
    served_url,
    sqlite_file,
)
from authsvc.config.signing import SigningKeySettings
from authsvc.config.values import (
    AccessLog,
    CommaSeparated,
    CookieSecure,
    LogFormat,
    LogLevel,
    Registration,
    SameSite,
    SigningAlgorithm,
    SingleSession,
    TokenVersionCache,
)

__all__ = [
    "GROUPS",
    "KEY_TIMING_MARGIN_SECONDS",
    "AccountSettings",
    "PasswordHashingSettings",
    "BrowserSecuritySettings",
    "CommaSeparated",
    "CookieSecure",
    "CookieSettings",
    "DatabaseSettings",
    "DownstreamSettings",
    "HostedPagesSettings",
    "AccessLog",
    "LogFormat",
    "LogLevel",
    "LoginThrottleSettings",
    "MailSettings",
    "MaintenanceSettings",
    "MfaPolicy",
    "MfaSettings",
    "ObservabilitySettings",
    "Registration",
    "SameSite",
    "ServerSettings",
    "SessionSettings",
    "Settings",
    "SettingsGroup",
    "SigningAlgorithm",
    "SigningKeySettings",
    "SingleSession",
    "TokenVersionCache",
    "describe_validation_error",
    "served_url",
    "sqlite_file",
]
