"""Settings of the signing keys: publication and rotation."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from authsvc.config.base import KEY_TIMING_MARGIN_SECONDS, SettingsGroup
from authsvc.config.values import (
    CommaSeparated,
    SigningAlgorithm,
)
from authsvc.errors import MissingSetting


class SigningKeySettings(SettingsGroup):
    """The keys that sign access tokens, how they are published and how they rotate."""

    model_config = SettingsConfigDict(title="Signing keys and rotation")

    # Optional here because only the commands that touch signing keys need it; they call
    # require_key_encryption_secret(), which explains what to do when it is missing.
    key_encryption_secret: SecretStr | None = Field(
        default=None,
        description=(
            "Encrypts the signing keys stored in the database; at least 32 characters "
            "(`openssl rand -base64 32`). Required by `authsvc serve` and `authsvc keys …` "
            "unless AUTHSVC_JWT_SECRETS is set. Keep it with the database: without it the keys "
            "cannot be read."
        ),
    )

    @field_validator("key_encryption_secret")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            msg = "must be at least 32 characters (generate one with `openssl rand -base64 32`)"
            raise ValueError(msg)
        return value

    signing_algorithm: SigningAlgorithm = Field(
        default=SigningAlgorithm.ES256,
        description="Algorithm of newly created signing keys; existing keys keep theirs.",
    )
    create_key_if_missing: bool = Field(
        default=True,
        description="Create an active signing key at start-up when the database has none.",
    )
    jwks_max_age_seconds: int = Field(
        default=300,
        ge=0,
        le=86400,
        description=(
            "`Cache-Control: max-age` of the JWKS: how long downstream services may cache the "
            "public keys."
        ),
    )
    key_refresh_seconds: int = Field(
        default=10,
        ge=1,
        le=300,
        description=(
            "How often every instance reloads its key ring from the database and makes due key "
            "changes: the bound on how long a rotation or a revocation made anywhere takes to "
            "reach every instance."
        ),
    )
    key_publish_ahead_seconds: int | None = Field(
        default=None,
        ge=0,
        le=7 * 86400,
        description=(
            "How long a new key is published in the JWKS before it signs; unset means "
            "AUTHSVC_JWKS_MAX_AGE_SECONDS + AUTHSVC_KEY_REFRESH_SECONDS + 60. Less than "
            "max-age + refresh is refused: downstream caches would not know a new key when it "
            "starts signing."
        ),
    )
    key_rotation_days: int = Field(
        default=0,
        ge=0,
        le=3650,
        description=(
            "Rotate automatically when the active key is older than this many days; 0 rotates "
            "only by hand (`authsvc keys rotate`)."
        ),
    )
    jwt_secrets: CommaSeparated[SecretStr] = Field(
        default_factory=list,
        description=(
            "HS256 mode instead of key pairs: comma-separated shared secrets, each at least "
            "32 bytes and all different. The first signs, all of them verify; "
            "AUTHSVC_KEY_ENCRYPTION_SECRET is then not needed."
        ),
    )

    @field_validator("jwt_secrets")
    @classmethod
    def _secrets_strong(cls, value: list[SecretStr]) -> list[SecretStr]:
        plain = [secret.get_secret_value() for secret in value]
        # RFC 7518 section 3.2: an HS256 key must be at least as long as the hash output.
        if any(len(secret.encode()) < 32 for secret in plain):
            raise ValueError("every secret must be at least 32 bytes (`openssl rand -base64 32`)")
        if len(set(plain)) != len(plain):
            raise ValueError("the secrets must differ from one another")
        return value

    @model_validator(mode="after")
    def _publish_ahead_covers_caches(self) -> Self:
        ahead = self.key_publish_ahead_seconds
        if ahead is not None and ahead < self.jwks_max_age_seconds + self.key_refresh_seconds:
            msg = (
                "AUTHSVC_KEY_PUBLISH_AHEAD_SECONDS must be at least AUTHSVC_JWKS_MAX_AGE_SECONDS + "
                "AUTHSVC_KEY_REFRESH_SECONDS, or downstream JWKS caches would not know a new key "
                "when it starts signing"
            )
            raise ValueError(msg)
        return self

    @property
    def hs256_mode(self) -> bool:
        return bool(self.jwt_secrets)

    @property
    def key_publish_ahead(self) -> int:
        """Seconds between publishing a new key and signing with it."""
        if self.key_publish_ahead_seconds is not None:
            return self.key_publish_ahead_seconds
        return self.jwks_max_age_seconds + self.key_refresh_seconds + KEY_TIMING_MARGIN_SECONDS

    def require_key_encryption_secret(self) -> str:
        if self.key_encryption_secret is None:
            raise MissingSetting(
                "AUTHSVC_KEY_ENCRYPTION_SECRET is required: it encrypts the signing keys at rest "
                "(generate one with `openssl rand -base64 32`; `make run` writes one to .env)"
            )
        return self.key_encryption_secret.get_secret_value()
