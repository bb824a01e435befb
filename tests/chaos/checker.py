"""The history checker: what the service promises about revocation, checked over every request
a chaotic run made (docs/sessions.md, "The history checker")."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from tests.chaos.bounds import (
    ACCESS_TOKEN_TTL_SECONDS,
    CACHED_PATHS,
    ENDED_SESSION_REFUSES_ACCESS,
    OVERLOAD_CODES,
    propagation_bound,
)
from tests.chaos.history import BUMPS_VERSION, ENDS_ALL_SESSIONS, Call, Device, History

TOKEN_PATHS = CACHED_PATHS | {"refresh"}
BROKEN = (None, 502, 503, 504)


@dataclass(frozen=True)
class SessionRow:
    """A row of the sessions table at the end of the run."""

    sid: str
    user: str
    alive: bool


@dataclass(frozen=True)
class Violation:
    rule: str
    text: str


def describe(call: Call) -> str:
    return (
        f"#{call.id} {call.kind} {call.user} [{call.started:.3f}, {call.ended:.3f}] -> "
        f"{call.status} {call.error or ''} (port {call.port}, device {call.device})"
    )


class Checker:
    def __init__(self, history: History, rows: list[SessionRow]) -> None:
        self.history = history
        self.rows = rows
        self.calls = {call.id: call for call in history.calls}
        self.devices: dict[int, Device] = {device.id: device for device in history.devices}
        self.by_user: dict[str, list[Call]] = defaultdict(list)
        for call in sorted(history.calls, key=lambda c: c.started):
            self.by_user[call.user].append(call)

    # --- what happened to whom ------------------------------------------------------------

    def revocations(self, user: str, *, possible: bool = False) -> Iterator[tuple[str, Call]]:
        """(kind, call) of every revocation that answered, or also any whose answer was lost."""
        for call in self.by_user[user]:
            done = call.ok or (possible and not call.answered)
            if call.kind in ENDS_ALL_SESSIONS and done:
                yield call.kind, call
            elif call.kind == "refresh" and call.error == "refresh_token_reused":
                yield "theft", call

    def applies(self, kind: str, revoking: Call, request: Call) -> bool:
        """Whether a revocation of this kind must refuse what `request` presents."""
        if request.kind in CACHED_PATHS:
            return kind in BUMPS_VERSION
        if kind == "theft":  # it ends the reused token's session only
            return revoking.device == request.device
        return kind in ENDS_ALL_SESSIONS

    def deadline(self, revoking: Call, request: Call) -> float:
        """When `request` must see the revocation: its path's bound, after any fault it meets."""
        same = request.port is not None and request.port == revoking.port
        bound = propagation_bound(request.kind, same_instance=same)
        end = revoking.ended + bound
        fault_end = self.history.fault_end_after(revoking.ended, end)
        return end if fault_end is None else max(end, fault_end + bound)

    def presented(self) -> Iterator[tuple[Call, Call]]:
        """(request, the call that issued its token) for every request presenting a token."""
        for call in self.history.calls:
            if call.kind in TOKEN_PATHS and call.token_from is not None:
                yield call, self.calls[call.token_from]

    # --- the properties ---------------------------------------------------------------------

    def check(self) -> list[Violation]:
        return [
            *self.revoked_tokens_refused(),
            *self.no_session_survives(),
            *self.old_passwords_refused(),
            *self.valid_tokens_accepted(),
            *self.no_failure_outside_faults(),
            *self.ended_sessions_refused(),
        ]

    def revoked_tokens_refused(self) -> Iterator[Violation]:
        """(a) A token issued before a revocation began is refused once its bound has passed."""
        for request, issued in self.presented():
            if not request.ok:
                continue
            for kind, revoking in self.revocations(request.user):
                if (
                    self.applies(kind, revoking, request)
                    and issued.ended < revoking.started
                    and request.started > self.deadline(revoking, request)
                ):
                    yield Violation(
                        "a", f"{describe(request)} accepted after {kind} {describe(revoking)}"
                    )
                    break

    def version_before(self, user: str, moment: float) -> int | None:
        """The newest token version handed out to the user by calls that ended before `moment`."""
        versions = [
            call.issued_version
            for call in self.by_user[user]
            if call.ok and call.ended < moment and call.issued_version is not None
        ]
        return max(versions) if versions else None

    def took_effect_before(self, login: Call, revoking: Call) -> bool:
        """Whether the login surely took effect before the revocation committed: it answered
        before the revocation began, or, overlapping it, it read the account before the bump.
        A password change hands out the version it set; for the others, a version that was
        already current before the revocation began tells."""
        if login.ended < revoking.started:
            return True
        if login.started >= revoking.ended or login.issued_version is None:
            return False
        if revoking.kind == "password" and revoking.issued_version is not None:
            return login.issued_version < revoking.issued_version
        before = self.version_before(login.user, revoking.started)
        return before is not None and login.issued_version <= before

    def ending(self, device: Device) -> Iterator[tuple[str, Call]]:
        """The revocations that must have ended this device's session."""
        login = self.calls[device.login]
        for kind, revoking in self.revocations(device.user):
            if kind not in ENDS_ALL_SESSIONS or not self.took_effect_before(login, revoking):
                continue
            if kind == "password" and revoking.device == device.id:
                continue  # the session that changed the password continues
            yield kind, revoking

    def no_session_survives(self) -> Iterator[Violation]:
        """(b) No session that existed, or was being created, when a revocation answered
        survives it: none of its tokens is accepted after the bound, its row has ended."""
        alive = {row.sid for row in self.rows if row.alive}
        for device in self.devices.values():
            login = describe(self.calls[device.login])
            for kind, revoking in self.ending(device):
                if device.sid in alive:
                    yield Violation(
                        "b",
                        f"session {device.sid} (login {login}) is alive in the database after "
                        f"{kind} {describe(revoking)}",
                    )
                for request in self.by_user[device.user]:
                    if (
                        request.device == device.id
                        and request.kind in TOKEN_PATHS
                        and request.ok
                        and request.started > self.deadline(revoking, request)
                    ):
                        yield Violation(
                            "b",
                            f"session {device.sid} (login {login}) still served "
                            f"{describe(request)} after {kind} {describe(revoking)}",
                        )
                        break

    def old_passwords_refused(self) -> Iterator[Violation]:
        """(c) A password no longer works once its change answered; nor any while disabled."""
        for calls in self.by_user.values():
            changes = [c for c in calls if c.kind == "password" and c.ok]
            disables = [c for c in calls if c.kind == "admin_disable" and c.ok]
            enables = [c for c in calls if c.kind == "admin_enable" and (c.ok or not c.answered)]
            for login in calls:
                if login.kind != "login" or not login.ok or login.password_gen is None:
                    continue
                gen = login.password_gen
                for change in changes:
                    if change.password_gen is not None and change.password_gen > gen:
                        if change.ended < login.started:
                            yield Violation(
                                "c",
                                f"{describe(login)} with password {gen} after {describe(change)}",
                            )
                            break
                for disable in disables:
                    if disable.ended < login.started and not any(
                        disable.started < enable.started < login.ended for enable in enables
                    ):
                        yield Violation("c", f"{describe(login)} while {describe(disable)} held")
                        break

    def valid_tokens_accepted(self) -> Iterator[Violation]:
        """(d) Every valid, unrevoked token was accepted, but for failures inside a fault."""
        for request, issued in self.presented():
            if request.ok or not issued.ok or self.excused(request, issued):
                continue
            if request.status in BROKEN and self.history.in_fault(request.started, request.ended):
                continue
            yield Violation("d", f"{describe(request)} refused a valid token from #{issued.id}")

    def excused(self, request: Call, issued: Call) -> bool:
        """Whether something may have revoked or ended what `request` presented."""
        if request.started - issued.ended > ACCESS_TOKEN_TTL_SECONDS - 5:
            return True
        for kind, revoking in self.revocations(request.user, possible=True):
            if (
                self.applies(kind, revoking, request)
                and revoking.started < request.ended
                and revoking.ended > issued.started
            ):
                return True
        return any(
            call.kind == "end_session"
            and call.target == request.device
            and (call.ok or not call.answered)
            and call.started < request.ended
            for call in self.by_user[request.user]
        )

    def no_failure_outside_faults(self) -> Iterator[Violation]:
        """(e) No 5xx and no broken answer outside a declared fault."""
        for call in self.history.calls:
            failed = call.status is None or call.status >= 500
            if failed and call.error not in OVERLOAD_CODES:
                if not self.history.in_fault(call.started, call.ended):
                    yield Violation("e", f"{describe(call)} outside any fault")

    def ended_sessions_refused(self) -> Iterator[Violation]:
        """An ended session's refresh token dies at once; its access tokens too where the
        service promises it (bounds.ENDED_SESSION_REFUSES_ACCESS)."""
        paths = TOKEN_PATHS if ENDED_SESSION_REFUSES_ACCESS else frozenset({"refresh"})
        for end in self.history.calls:
            if end.kind != "end_session" or not end.ok:
                continue
            for request in self.by_user[end.user]:
                if (
                    request.device == end.target
                    and request.kind in paths
                    and request.ok
                    and request.started > self.deadline(end, request)
                ):
                    yield Violation("ended", f"{describe(request)} after {describe(end)}")
                    break


def summary(history: History, violations: list[Violation], *, examples: int = 5) -> str:
    """The faults, then per rule: how many violations, and the first few."""
    lines = [
        "faults: "
        + ", ".join(f"{f.kind} [{f.started:.3f}, {f.ended:.3f}] {f.detail}" for f in history.faults)
    ]
    for rule in sorted({v.rule for v in violations}):
        found = [v.text for v in violations if v.rule == rule]
        lines.append(f"({rule}) {len(found)} violation(s):")
        lines += [f"    {text}" for text in found[:examples]]
    return "\n".join(lines)
