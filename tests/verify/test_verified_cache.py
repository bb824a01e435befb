"""The verifier's cache of verified tokens: thread-safe, within its byte budget, state as text."""

from __future__ import annotations

import tracemalloc
from typing import Any

from authsvc.verify import StaticKeys, TokenVerifier, VerifiedTokenCache
from tests.helpers.clock import FakeClock
from tests.helpers.dense_tokens import KEYS, NOW, POLICY, dense_state, hammer, verified


class AlwaysCurrent:
    """A token-version source for which every token is current."""

    def current_version(self, user_id: str, *, token: str, claimed: int) -> int | None:
        return claimed

    def close(self) -> None:
        pass


def verifier(cache_bytes: int = 8 * 1024 * 1024) -> TokenVerifier:
    return TokenVerifier(
        POLICY.issuer,
        versions=AlwaysCurrent(),
        audience=POLICY.audience,
        keys=StaticKeys(KEYS),
        clock=FakeClock(NOW),
        cache_size=1_000_000,
        cache_bytes=cache_bytes,
    )


def test_concurrent_gets_and_puts_never_raise() -> None:
    cache = VerifiedTokenCache(8)
    check = verifier()
    sessions = [check.verify(token) for token, _ in (verified({}, n) for n in range(32))]
    tokens = [verified({}, n)[0] for n in range(32)]
    now = NOW.timestamp()

    def put() -> None:
        for token, session in zip(tokens, sessions, strict=True):
            cache.put(token, session)

    def get() -> None:
        # With no keys a remembered token is dropped: the removal races the eviction.
        for token in tokens:
            cache.get(token, now, {})

    assert hammer(put, put, get, get) == []
    assert len(cache) <= 8


def test_a_cached_token_hands_out_its_state_read_only() -> None:
    check = verifier()
    state: dict[str, Any] = {"theme": "dark", "nested": {"list": [1, 2, {}]}}
    token, _ = verified(state)
    first = check.verify(token)
    for _ in range(2):
        again = check.verify(token)
        assert dict(again.state) == state
        assert dict(again.claims.sess) == state
        assert (again.user_id, again.session_id, again.roles) == (
            first.user_id,
            first.session_id,
            first.roles,
        )
    assert check.stats.cache_hits == 2
    assert not hasattr(again.state, "__setitem__")


def test_tokens_with_the_densest_state_stay_within_the_byte_budget() -> None:
    budget = 1024 * 1024
    check = verifier(budget)
    state = dense_state()
    token, _ = verified(state)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for session in range(3 * budget // len(token)):
            check.verify(verified(state, session)[0])
            assert check.cache.bytes <= budget
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert check.cache.bytes > budget - 2 * (len(token) + 2048)
    # Generous: what tracemalloc sees includes the interpreter's own allocations meanwhile.
    assert grown <= 1.25 * budget
