"""Settings of signing in with external identity providers (OpenID Connect, GitHub)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from authsvc.config.base import SettingsGroup

_NAME = r"^[a-z0-9][a-z0-9_-]{0,31}$"
_HTTP_URL = re.compile(r"https?://[^\s]+")


class ProviderKind(StrEnum):
    # Any OpenID Connect provider, found through its discovery document.
    oidc = "oidc"
    # GitHub's OAuth 2 (no ID token: the user and verified emails come from its API).
    github = "github"


class ProviderConfig(BaseModel):
    """One external provider as the operator writes it in AUTHSVC_OAUTH_PROVIDERS."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_NAME, description="In the URLs: /oauth/{name}/authorize.")
    kind: ProviderKind = ProviderKind.oidc
    display_name: str = Field(default="", max_length=64)
    client_id: str = Field(min_length=1, max_length=512)
    client_secret: SecretStr
    # OpenID Connect: the issuer's discovery document (.../.well-known/openid-configuration).
    discovery_url: str | None = None
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    # Take the provider's `amr`/`acr` as proof of a second factor (off: our own is asked).
    trust_amr: bool = False
    # GitHub's addresses, replaceable so that GitHub Enterprise Server works too.
    github_authorize_url: str = "https://github.com/login/oauth/authorize"
    github_token_url: str = "https://github.com/login/oauth/access_token"
    github_api_url: str = "https://api.github.com"

    @field_validator("discovery_url", "github_authorize_url", "github_token_url", "github_api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not _HTTP_URL.fullmatch(value):
            raise ValueError("must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.kind is ProviderKind.oidc:
            if self.discovery_url is None:
                raise ValueError(
                    f"provider {self.name}: an OpenID Connect provider needs discovery_url"
                )
            if "openid" not in self.scopes:
                raise ValueError(f"provider {self.name}: the scopes must include openid")
        return self

    @property
    def label(self) -> str:
        """What the sign-in button says after "Sign in with"."""
        return self.display_name or ("GitHub" if self.kind is ProviderKind.github else self.name)


class FederationSettings(SettingsGroup):
    """Signing in with external identity providers."""

    model_config = SettingsConfigDict(title="External identity providers")

    oauth_providers: list[ProviderConfig] = Field(
        default_factory=list,
        description=(
            'A JSON list of providers, each `{"name", "kind": "oidc"|"github", '
            '"client_id", "client_secret", "discovery_url" (oidc), "scopes", '
            '"display_name", "trust_amr"}`; the redirect URI to register with each is '
            "`{issuer}/oauth/{name}/callback`. `trust_amr` (off by default) lets the provider's "
            "`amr`/`acr` stand in for the account's own second factor. See docs/federation.md."
        ),
    )
    oauth_state_seconds: int = Field(
        default=600,
        ge=60,
        le=1800,
        description="How long a sign-in may stay at the provider: the life of its state.",
    )

    @field_validator("oauth_providers")
    @classmethod
    def _unique_names(cls, value: list[ProviderConfig]) -> list[ProviderConfig]:
        names = [provider.name for provider in value]
        if len(names) != len(set(names)):
            raise ValueError("two providers have the same name")
        return value

    def provider(self, name: str) -> ProviderConfig | None:
        return next((p for p in self.oauth_providers if p.name == name), None)
