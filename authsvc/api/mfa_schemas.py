"""Request and response bodies of multi-factor sign-in."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from authsvc.api.schemas import LoginResponse
from authsvc.mfa.factors import NAME_MAX_LENGTH, clean_name

# The length is bounded before the name is trimmed (the bound OpenAPI clients see), then the
# trimmed name is checked as the hosted pages check it.
FactorName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        description=f"Trimmed, then 1 to {NAME_MAX_LENGTH} characters on one line.",
    ),
    AfterValidator(clean_name),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SecondStepResponse(BaseModel):
    """POST /login on an account that must still show (or enrol) a second factor."""

    mfa_required: bool = Field(description="True: complete the login at POST /login/mfa.")
    mfa_enrolment_required: bool = Field(
        default=False,
        description=(
            "True: the policy wants a second factor and the account has none; enrol one at "
            "POST /login/mfa/enrol, then send its first code to POST /login/mfa."
        ),
    )
    factors: list[str] = Field(
        description="What the second step accepts: totp, webauthn, recovery_code."
    )
    expires_in: int = Field(description="Seconds the step cookie stays valid.")


class MfaProofRequest(_Strict):
    code: str | None = Field(default=None, max_length=16, description="A TOTP code (6 digits).")
    recovery_code: str | None = Field(default=None, max_length=64)
    webauthn: dict[str, Any] | None = Field(
        default=None,
        description=(
            "A passkey's assertion (the PublicKeyCredential as JSON) answering the options of "
            "POST /login/mfa/passkey/options."
        ),
    )


class MfaLoginResponse(LoginResponse):
    recovery_codes: list[str] | None = Field(
        default=None,
        description="Only when the step enrolled the first factor: shown this once.",
    )


class TotpEnrolRequest(_Strict):
    name: FactorName = Field(default="Authenticator app")


class TotpEnrolmentResponse(BaseModel):
    factor_id: str
    secret: str = Field(description="Base32, for typing into an app by hand.")
    otpauth_uri: str
    qr_svg: str = Field(description="The otpauth URI as a QR code, inline SVG.")


class TotpConfirmRequest(_Strict):
    code: str = Field(min_length=1, max_length=16)


class FactorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    name: str
    created_at: datetime
    last_used_at: datetime | None


class MfaStatusResponse(BaseModel):
    factors: list[FactorOut]
    recovery_codes_left: int


class FactorConfirmedResponse(BaseModel):
    factor: FactorOut
    recovery_codes: list[str] | None = Field(
        default=None, description="With the first factor only: shown this once."
    )


class RecoveryCodesResponse(BaseModel):
    recovery_codes: list[str] = Field(description="Shown this once; the old set no longer works.")


class MfaResetResponse(BaseModel):
    user_id: str


class PasskeyOptionsResponse(BaseModel):
    public_key: dict[str, Any] = Field(
        alias="publicKey",
        description="WebAuthn options for navigator.credentials.create() or .get() (JSON form).",
    )
    model_config = ConfigDict(populate_by_name=True)


class PasskeyAddRequest(_Strict):
    name: FactorName = Field(default="Passkey")
    credential: dict[str, Any] = Field(
        description="The PublicKeyCredential navigator.credentials.create() made, as JSON."
    )


class PasskeySignInRequest(_Strict):
    credential: dict[str, Any] = Field(
        description="The PublicKeyCredential navigator.credentials.get() made, as JSON."
    )
    remember: bool = Field(default=False, description="A persistent refresh cookie.")


class FactorRenameRequest(_Strict):
    name: FactorName
