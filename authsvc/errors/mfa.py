"""Errors of multi-factor sign-in: codes, the second step, step-up and enrolment."""

from __future__ import annotations

from authsvc.errors.base import AuthError, Forbidden


class InvalidMfaCode(AuthError):
    code = "invalid_mfa_code"
    status = 401
    default_detail = "The code is not valid."


class MfaCodeReused(InvalidMfaCode):
    code = "mfa_code_reused"
    default_detail = "This code was already used; wait for the next one."


class MfaStepInvalid(AuthError):
    code = "mfa_step_invalid"
    status = 401
    default_detail = "No sign-in is waiting for a second factor here; log in again."


class MfaStepUsed(MfaStepInvalid):
    code = "mfa_step_used"
    default_detail = "This sign-in was already completed or abandoned; log in again."


class MfaStepExpired(MfaStepInvalid):
    code = "mfa_step_expired"
    default_detail = "The time for the second step ran out; log in again."


class MfaStepOtherBrowser(MfaStepInvalid):
    code = "mfa_step_other_browser"
    default_detail = "This sign-in was started in another browser; log in again here."


class MfaStepStale(MfaStepInvalid):
    code = "mfa_step_stale"
    default_detail = "The account changed since the password was checked; log in again."


class PasskeyRejected(AuthError):
    code = "passkey_rejected"
    status = 400
    default_detail = "The passkey's answer could not be verified."


class PasskeyChallengeInvalid(PasskeyRejected):
    code = "passkey_challenge_invalid"
    default_detail = "This passkey challenge is unknown, used or expired; ask for a new one."


class PasskeySignCountRegressed(PasskeyRejected):
    code = "passkey_sign_count_regressed"
    # The authenticator's counter went backwards: two copies of one key are in use.
    default_detail = "This passkey's signature counter went backwards; it may have been copied."


class StepUpRequired(Forbidden):
    code = "step_up_required"
    default_detail = (
        "This change needs a recent sign-in with your second factor: log in again with it "
        "(POST /login, then POST /login/mfa) and retry."
    )


class MfaEnrolmentRequired(Forbidden):
    code = "mfa_enrolment_required"
    default_detail = "This account must add a second factor before it can sign in."


class SecondStepDue(Exception):
    """The password was right; the login needs its second step (`purpose` login or enrol)."""

    def __init__(self, token: str, purpose: str, factors: list[str], expires_in: int):
        self.token = token
        self.purpose = purpose
        self.factors = factors
        self.expires_in = expires_in
        super().__init__(purpose)
