"""Request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=150)
    # Long enough for any passphrase, short enough that hashing it is no denial of service.
    password: str = Field(min_length=1, max_length=1024)
    remember: bool = False


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    username: str
    roles: list[str]


class SessionOut(BaseModel):
    id: str
    expires_at: datetime = Field(description="When the access token expires.")
    state: dict[str, Any]


class LoginResponse(BaseModel):
    user: UserOut
    session: SessionOut
    access_token: str | None = Field(
        default=None, description="Only when AUTHSVC_EXPOSE_TOKEN_IN_BODY=true."
    )


class CurrentSessionResponse(BaseModel):
    user: UserOut
    session: SessionOut


class LogoutResponse(BaseModel):
    logged_out: bool = True
    everywhere: bool = False


class ErrorResponse(BaseModel):
    error: str = Field(description="Stable machine-readable code.")
    detail: str = Field(description="Human-readable message.")


class HealthResponse(BaseModel):
    status: str


class ReadinessResponse(BaseModel):
    status: str
    database: bool
    signing_key: bool


class JsonWebKey(BaseModel):
    model_config = ConfigDict(extra="allow")

    kty: str
    kid: str
    alg: str
    use: str


class JsonWebKeySet(BaseModel):
    keys: list[JsonWebKey]


class RefreshResponse(LoginResponse):
    pass


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    created_at: datetime
    last_used_at: datetime = Field(description="Login, last refresh or last state change.")
    expires_at: datetime = Field(description="When the session ends unless it is used again.")
    user_agent: str | None
    client_ip: str | None
    remember: bool
    current: bool = Field(description="The session of the token that asked.")


class SessionsResponse(BaseModel):
    sessions: list[DeviceOut]


class PasswordChangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)
    email: str | None = Field(
        default=None,
        max_length=320,
        description="Optional; with mail set up, a link to confirm it is sent to it.",
    )


class AccountOut(BaseModel):
    id: str
    username: str
    email: str | None
    email_verified: bool
    roles: list[str]
    created_at: datetime
    password_changed_at: datetime


class AccountUpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=1024)
    email: str | None = Field(max_length=320, description="The new address; null removes it.")


class AccountUpdateResponse(BaseModel):
    account: AccountOut
    session: SessionOut | None = Field(
        description="The session's new tokens when the address changed (every other one ended)."
    )


class AdminUserOut(BaseModel):
    id: str
    username: str
    email: str | None
    email_verified: bool
    roles: list[str]
    disabled: bool
    created_at: datetime


class AdminEmailRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(max_length=320, description="The address; null removes it.")
    verified: bool = Field(
        default=False, description="Mark the address verified (the operator vouches for it)."
    )


class AdminPasswordRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=1024)


class RolesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[str] = Field(
        max_length=32, description="Every role the user is to hold; the others are removed."
    )


class UserPageResponse(BaseModel):
    users: list[AdminUserOut]
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next page; null on the last page."
    )


class IntrospectionResponse(BaseModel):
    """RFC 7662 section 2.2; only `active` when the token is not valid now."""

    active: bool
    token_type: str | None = None
    iss: str | None = None
    aud: str | None = None
    sub: str | None = None
    username: str | None = None
    iat: int | None = None
    nbf: int | None = None
    exp: int | None = None
    jti: str | None = None
    sid: str | None = Field(default=None, description="authsvc: the session id.")
    tv: int | None = Field(default=None, description="authsvc: the token version.")
    roles: list[str] | None = Field(default=None, description="authsvc: the user's roles.")
    sess: dict[str, Any] | None = Field(default=None, description="authsvc: session state.")


class ForgotPasswordRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login: str = Field(
        min_length=1, max_length=320, description="The account's username or email address."
    )


class ResetPasswordRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=128, description="The `token` of the mailed link.")
    new_password: str = Field(min_length=1, max_length=1024)


class VerifyEmailRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=128, description="The `token` of the mailed link.")


class AcceptedResponse(BaseModel):
    status: str = Field(description="`accepted`: the request was taken; any mail goes out later.")
    detail: str


class DoneResponse(BaseModel):
    status: str = Field(description="`password_reset` or `email_verified`.")
