"""The second step of a login: who must show a factor, the step cookie's life, completing it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from authsvc.config import MfaPolicy, Settings
from authsvc.errors import (
    InvalidMfaCode,
    MfaCodeReused,
    MfaStepInvalid,
    PasskeyRejected,
    SecondStepDue,
    StepUpRequired,
)
from authsvc.mfa import challenges, factors, passkeys, recovery
from authsvc.mfa.changes import factor_changed
from authsvc.mfa.notices import SecurityNotices
from authsvc.mfa.sealing import SecretSealer
from authsvc.observability import audit
from authsvc.observability.audit import ClientInfo
from authsvc.services import throttling
from authsvc.services.login import LoginResult, LoginService
from authsvc.storage.engine import keep_when_refused
from authsvc.storage.locking import lock_user
from authsvc.storage.models import MfaChallenge, User
from authsvc.throttle.endpoint import Throttle
from authsvc.tokens.access import AccessClaims

# RFC 8176 values: a TOTP or recovery code is a one-time password; two factors are `mfa`.
AMR_CODE = ("otp",)
AMR_MFA = "mfa"
LOGIN = "login"
ENROL = "enrol"


@dataclass(frozen=True)
class Proof:
    """What the second step presents: a TOTP code, a recovery code or a passkey's assertion."""

    code: str | None = None
    recovery_code: str | None = None
    webauthn: dict[str, Any] | None = None


@dataclass(frozen=True)
class Completed:
    login: LoginResult
    # New recovery codes, shown once, when the step enrolled the user's first factor.
    recovery_codes: list[str] | None = None


@dataclass(frozen=True)
class MfaRules:
    """The operator's choices: who must have a factor, how long steps and step-up last."""

    policy: MfaPolicy = MfaPolicy.optional
    required_roles: frozenset[str] = frozenset()
    step_lifetime: timedelta = timedelta(minutes=5)
    step_up_window: timedelta = timedelta(minutes=15)
    totp_issuer: str = "authsvc"
    relying_party: passkeys.RelyingParty = passkeys.RelyingParty(
        "localhost", "authsvc", ("http://localhost",)
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> MfaRules:
        return cls(
            policy=settings.mfa,
            required_roles=frozenset(settings.mfa_required_roles),
            step_lifetime=timedelta(seconds=settings.mfa_step_seconds),
            step_up_window=timedelta(seconds=settings.mfa_step_up_seconds),
            totp_issuer=settings.mfa_totp_issuer,
            relying_party=passkeys.RelyingParty.from_settings(settings),
        )

    def must_have_factor(self, user: User) -> bool:
        if self.policy is MfaPolicy.required:
            return True
        if self.policy is MfaPolicy.required_for_roles:
            return bool(self.required_roles.intersection(user.roles))
        return False


@dataclass(frozen=True)
class MfaService:
    """Multi-factor sign-in with what it needs, built once per running service."""

    sealer: SecretSealer
    login: LoginService
    throttle: Throttle
    rules: MfaRules
    notices: SecurityNotices = SecurityNotices(None)

    def second_step(
        self,
        db: Session,
        user: User,
        client: ClientInfo,
        remember: bool,
        now: datetime,
        first_amr: tuple[str, ...] = ("pwd",),
    ) -> None:
        """The first step passed: raise `SecondStepDue` unless the login may finish now.

        `first_amr` says how (the password; a provider's sign-in): the login's `amr` starts so.
        """
        found = factors.confirmed(db, user.id)
        if found:
            purpose = LOGIN
        elif self.rules.must_have_factor(user):
            purpose = ENROL
        else:
            return
        token = challenges.start(
            db,
            user,
            purpose=purpose,
            remember=remember,
            user_agent=client.user_agent,
            first_factor=" ".join(first_amr)[:64],
            now=now,
            lifetime=self.rules.step_lifetime,
        )
        audit.record(
            db, "mfa_step_started", now=now, user_id=user.id, client=client, purpose=purpose
        )
        raise SecondStepDue(
            token,
            purpose,
            factors.kinds(found),
            int(self.rules.step_lifetime.total_seconds()),
        )

    def step(
        self, db: Session, token: str | None, client: ClientInfo, *, now: datetime
    ) -> MfaChallenge:
        """The live step this browser's cookie names; refusals that burn it keep the burn."""
        try:
            return challenges.find(db, token, client.user_agent, now=now)
        except MfaStepInvalid:
            keep_when_refused(db)
            raise

    def step_factors(self, db: Session, challenge: MfaChallenge) -> list[str]:
        """The kinds of second factor this step may use, as POST /login announces them."""
        if challenge.user_id is None:
            return []
        return factors.kinds(factors.confirmed(db, challenge.user_id))

    def complete(
        self,
        db: Session,
        token: str | None,
        proof: Proof,
        client: ClientInfo,
        *,
        now: datetime,
        replaces_session: str | None = None,
    ) -> Completed:
        """Check the step and the code under the user's lock, then open the session."""
        challenge = self.step(db, token, client, now=now)
        assert challenge.user_id is not None  # `find` answers only steps, which have a user
        user = lock_user(db, challenge.user_id)
        try:
            user = challenges.check_still_valid(challenge, user)
        except MfaStepInvalid:
            challenges.burn(db, challenge, now=now)
            keep_when_refused(db)
            raise
        codes: list[str] | None = None
        second: tuple[str, ...] = AMR_CODE
        if challenge.purpose == ENROL:
            codes = self._confirm_enrolment(db, user, proof, client, now=now)
        elif proof.webauthn is not None:
            second = self._check_passkey(db, user, proof.webauthn, token or "", client, now=now)
        else:
            self._check_proof(db, user, proof, client, now=now)
        challenges.consume(db, challenge, now=now)
        if codes is not None:
            factor_changed(
                db, user, "mfa_factor_added", client=client, now=now, keep_session=None, kind="totp"
            )
        result = self.login.complete(
            db,
            user,
            challenge.remember,
            client,
            now=now,
            amr=tuple(dict.fromkeys((*challenge.first_factor.split(), *second, AMR_MFA))),
            aal=2,
            replaces_session=replaces_session,
        )
        return Completed(login=result, recovery_codes=codes)

    def _check_proof(
        self, db: Session, user: User, proof: Proof, client: ClientInfo, *, now: datetime
    ) -> None:
        if proof.recovery_code is not None:
            # 80 random bits: no throttle needed, and none an attacker could spend for the owner.
            if factors.has_factor(db, user.id) and recovery.consume(
                db, user.id, proof.recovery_code, now=now
            ):
                left = recovery.remaining(db, user.id)
                audit.record(
                    db,
                    "mfa_success",
                    now=now,
                    user_id=user.id,
                    client=client,
                    method="recovery_code",
                    recovery_codes_left=left,
                )
                return
            self._refuse(db, user, client, now=now, method="recovery_code", count=False)
        self._check_totp(db, user, proof.code or "", client, now=now)
        audit.record(db, "mfa_success", now=now, user_id=user.id, client=client, method="totp")

    def passkey_options(
        self, db: Session, token: str | None, client: ClientInfo, *, now: datetime
    ) -> dict[str, Any]:
        """The assertion options of this step: its challenge, the user's passkeys."""
        challenge = self.step(db, token, client, now=now)
        if challenge.purpose != LOGIN:
            raise MfaStepInvalid("This sign-in is waiting for an enrolment, not for a passkey.")
        assert token is not None
        assert challenge.user_id is not None
        return passkeys.assertion_options(
            db, self.rules.relying_party, challenge.user_id, passkeys.step_challenge(token)
        )

    def _check_passkey(
        self,
        db: Session,
        user: User,
        credential: dict[str, Any],
        token: str,
        client: ClientInfo,
        *,
        now: datetime,
    ) -> tuple[str, ...]:
        """Verify the assertion against the step's challenge; what it adds to `amr`."""
        try:
            asserted = passkeys.verify_assertion(
                db,
                self.rules.relying_party,
                user.id,
                credential,
                passkeys.step_challenge(token),
                now=now,
            )
        except PasskeyRejected:
            audit.record(
                db, "mfa_failure", now=now, user_id=user.id, client=client, method="webauthn"
            )
            keep_when_refused(db)
            raise
        audit.record(db, "mfa_success", now=now, user_id=user.id, client=client, method="webauthn")
        return passkeys.amr(asserted)

    def _check_totp(
        self, db: Session, user: User, code: str, client: ClientInfo, *, now: datetime
    ) -> None:
        throttling.enforce(db, self.throttle, client, now=now, account=user.username)
        try:
            matched = factors.use_totp(db, self.sealer, user.id, code.strip(), now=now)
        except MfaCodeReused:
            self._refuse(db, user, client, now=now, method="totp", count=True, replay=True)
        if matched is None:
            self._refuse(db, user, client, now=now, method="totp", count=True)

    def _confirm_enrolment(
        self, db: Session, user: User, proof: Proof, client: ClientInfo, *, now: datetime
    ) -> list[str]:
        """An enrolment step: the code confirms the factor enrolled during it."""
        pending = factors.pending_of(db, user.id)
        throttling.enforce(db, self.throttle, client, now=now, account=user.username)
        code = (proof.code or "").strip()
        step = None if pending is None else factors.matching_step(self.sealer, pending, code, now)
        if pending is None or step is None:
            self._refuse(db, user, client, now=now, method="totp_enrolment", count=True)
        assert pending is not None and step is not None
        pending.confirmed_at = now
        factors.claim_step(db, pending, step, now=now)
        return recovery.regenerate(db, user.id, now=now)

    def _refuse(
        self,
        db: Session,
        user: User,
        client: ClientInfo,
        *,
        now: datetime,
        method: str,
        count: bool,
        replay: bool = False,
    ) -> None:
        if count:
            self.throttle.count(now, client=client.ip, account=user.username)
        audit.record(
            db, "mfa_failure", now=now, user_id=user.id, client=client, method=method, replay=replay
        )
        keep_when_refused(db)
        raise MfaCodeReused() if replay else InvalidMfaCode()

    def begin_step_enrolment(
        self, db: Session, token: str | None, client: ClientInfo, *, name: str, now: datetime
    ) -> factors.TotpEnrolment:
        """In an enrolment step: a TOTP secret for the user to add; its first code completes."""
        challenge = self.step(db, token, client, now=now)
        if challenge.purpose != ENROL:
            raise MfaStepInvalid("This sign-in is waiting for a code, not for an enrolment.")
        assert challenge.user_id is not None
        user = challenges.check_still_valid(challenge, lock_user(db, challenge.user_id))
        return factors.begin_totp(
            db,
            self.sealer,
            user_id=user.id,
            account=user.username,
            issuer=self.rules.totp_issuer,
            name=name,
            now=now,
        )

    def require_step_up(
        self, db: Session, user_id: str, claims: AccessClaims, now: datetime
    ) -> None:
        """A user with a factor must have shown it within the step-up window for this change."""
        if not factors.has_factor(db, user_id):
            return
        window = self.rules.step_up_window.total_seconds()
        if (
            claims.aal >= 2
            and claims.auth_time is not None
            and now.timestamp() - claims.auth_time <= window
        ):
            return
        raise StepUpRequired()
