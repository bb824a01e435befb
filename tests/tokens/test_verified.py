"""The verified-token memo: thread-safe eviction, a byte budget, the session state kept raw."""

from __future__ import annotations

import tracemalloc

from authsvc.tokens.verified import VerifiedTokens
from tests.helpers.dense_tokens import KEYS, NOW, POLICY, dense_state, hammer, verified


def test_concurrent_gets_and_puts_never_raise() -> None:
    cache = VerifiedTokens(8)
    tokens = [verified({}, session) for session in range(32)]

    def put() -> None:
        for token, claims in tokens:
            cache.put(token, claims)

    def get() -> None:
        # Asked with no keys, a remembered token is found withdrawn and removed: the removal
        # races the eviction of a full cache.
        for token, _claims in tokens:
            cache.get(token, {}, (), POLICY, now=NOW)

    assert hammer(put, put, get, get) == []
    assert len(cache) <= 8


def test_a_remembered_token_hands_out_its_state_parsed_from_its_text() -> None:
    cache = VerifiedTokens(10)
    state = {"theme": "dark", "nested": {"list": [1, 2, {}]}}
    token, claims = verified(state)
    cache.put(token, claims)
    for _ in range(2):
        hit = cache.get(token, KEYS, (), POLICY, now=NOW)
        assert hit is not None
        assert dict(hit.sess) == state
        assert (hit.sub, hit.sid, hit.roles, hit.exp) == (
            claims.sub,
            claims.sid,
            claims.roles,
            claims.exp,
        )
    empty, empty_claims = verified({}, 1)
    cache.put(empty, empty_claims)
    hit = cache.get(empty, KEYS, (), POLICY, now=NOW)
    assert hit is not None
    assert dict(hit.sess) == {}


def test_tokens_with_the_densest_state_stay_within_the_byte_budget() -> None:
    budget = 1024 * 1024
    cache = VerifiedTokens(1_000_000, budget)
    state = dense_state()
    token, _ = verified(state)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for session in range(3 * budget // len(token)):
            cache.put(*verified(state, session))
            assert cache.bytes <= budget
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # Full: the budget is spent, not merely respected by remembering nothing.
    assert cache.bytes > budget - 2 * (len(token) + 2048)
    # What the process really holds matches the accounting (generous margin: what tracemalloc
    # sees includes the interpreter's own allocations meanwhile).
    assert grown <= 1.25 * budget
