"""Verified tokens made in process, with the densest session state a token may carry."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from authsvc.tokens.access import (
    AccessClaims,
    Grant,
    SigningMaterial,
    TokenPolicy,
    VerificationKey,
    claim_size,
    issue_access_token,
    verify_access_token,
)

POLICY = TokenPolicy(issuer="https://auth.example", audience="authsvc")
SECRET = b"a test secret of thirty-two bytes!"
SIGNER = SigningMaterial(kid="k1", alg="HS256", key=SECRET)
KEYS = {"k1": VerificationKey(kid="k1", alg="HS256", key=SECRET)}
NOW = datetime(2026, 1, 1, tzinfo=UTC)
# AUTHSVC_SESSION_STATE_MAX_BYTES at its maximum.
STATE_LIMIT = 2048


def dense_state() -> dict[str, Any]:
    """The state of at most STATE_LIMIT bytes that parses into the most objects: empty ones,
    3 bytes of JSON each and a whole dict once parsed."""
    state: dict[str, Any] = {"s": []}
    while claim_size({"s": [*state["s"], {}]}) <= STATE_LIMIT:
        state["s"].append({})
    return state


def verified(state: dict[str, Any], session: int = 0) -> tuple[str, AccessClaims]:
    """A token of session number `session` carrying `state`, and its verified claims."""
    grant = Grant(f"user-{session:06d}", f"session-{session:06d}", 0, ("member",), state)
    token, _ = issue_access_token(SIGNER, POLICY, grant, now=NOW, lifetime=timedelta(minutes=15))
    return token, verify_access_token(token, KEYS, POLICY, now=NOW)


@contextmanager
def fast_thread_switching() -> Iterator[None]:
    """Threads switch every microsecond, so that races show within a short run."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def hammer(*work: Callable[[], object], seconds: float = 3) -> list[BaseException]:
    """Run each of `work` in a loop on its own thread for `seconds`, or until one raises;
    what they raised."""
    failures: list[BaseException] = []
    stop = threading.Event()

    def loop(step: Callable[[], object]) -> None:
        try:
            while not stop.is_set():
                step()
        except BaseException as exc:
            failures.append(exc)
            stop.set()

    threads = [threading.Thread(target=loop, args=(step,)) for step in work]
    with fast_thread_switching():
        for thread in threads:
            thread.start()
        stop.wait(timeout=seconds)
        stop.set()
        for thread in threads:
            thread.join()
    return failures
