"""Settings of multi-factor sign-in: who must have a second factor, and how recent step-up is."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from authsvc.config.base import SettingsGroup
from authsvc.config.values import CommaSeparated


class MfaPolicy(StrEnum):
    # A user may add a second factor; once added, every login asks for it.
    optional = "optional"
    # Every user must have one: a user without one only gets to enrol after the password.
    required = "required"
    # Users holding one of AUTHSVC_MFA_REQUIRED_ROLES must have one.
    required_for_roles = "required_for_roles"


class MfaSettings(SettingsGroup):
    """Second factors (TOTP, recovery codes), the second login step, and step-up."""

    model_config = SettingsConfigDict(title="Multi-factor sign-in")

    mfa: MfaPolicy = Field(
        default=MfaPolicy.optional,
        description=(
            "`optional`: users may add a second factor, and a user who has one must show it at "
            "every login. `required`: every user must have one; `required_for_roles`: users "
            "holding a role in AUTHSVC_MFA_REQUIRED_ROLES must. A user who must and has none "
            "gets, after the password, only the enrolment of a factor, no session. A session "
            "that began without a factor the policy now wants ends at its next refresh; "
            "`authsvc sessions enforce-mfa` ends such sessions at once."
        ),
    )
    mfa_required_roles: CommaSeparated[str] = Field(
        default_factory=list,
        description=(
            "Roles whose holders must have a second factor (`AUTHSVC_MFA=required_for_roles`)."
        ),
    )
    mfa_step_seconds: int = Field(
        default=300,
        ge=30,
        le=1800,
        description=(
            "How long the second step of a login may take after the password: the life of the "
            "single-use step cookie."
        ),
    )
    mfa_step_up_seconds: int = Field(
        default=900,
        ge=60,
        le=86400,
        description=(
            "For a user who has a second factor, changing the password or email, adding or "
            "removing a factor, new recovery codes and admin actions need a login with the "
            "second factor (`aal` 2) at most this many seconds ago; otherwise 403 "
            "`step_up_required`."
        ),
    )
    mfa_totp_issuer: str = Field(
        default="authsvc",
        min_length=1,
        max_length=64,
        description="The name authenticator apps show above this service's TOTP codes.",
    )

    @model_validator(mode="after")
    def _roles_named(self) -> Self:
        if self.mfa is MfaPolicy.required_for_roles and not self.mfa_required_roles:
            msg = "AUTHSVC_MFA=required_for_roles needs AUTHSVC_MFA_REQUIRED_ROLES (e.g. admin)"
            raise ValueError(msg)
        return self
