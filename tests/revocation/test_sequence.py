"""The numbering of Redis announcements: what a listener takes for a lost one, and what not."""

from __future__ import annotations

from authsvc.revocation.channels.protocol import decode_announcement
from authsvc.revocation.channels.redis import _Sequence


def test_numbered_and_unnumbered_payloads_are_read() -> None:
    assert decode_announcement("u1 3 8:41") == decode_announcement(b"u1 3 8:41")
    numbered = decode_announcement("u1 3 8:41")
    assert numbered is not None and numbered.sequence == (8, 41)
    plain = decode_announcement("u1 3")
    assert plain is not None and (plain.user_id, plain.version, plain.sequence) == ("u1", 3, None)
    for bad in ("u1", "u1 x", "u1 3 8", "u1 3 a:1", "u1 3 8:1 extra", " 3", "u" * 200 + " 1"):
        assert decode_announcement(bad) is None, bad


def test_numbers_in_order_are_complete_and_a_skipped_one_is_a_gap() -> None:
    sequence = _Sequence(db=8, counter=10)
    assert sequence.accept((8, 9))  # published before the counter was read: nothing missing
    assert sequence.accept((8, 11))
    assert sequence.accept((8, 12))
    assert sequence.accept((8, 11))  # repeated by a retry
    assert not sequence.accept((8, 14))  # 13 never came


def test_other_databases_and_unnumbered_announcements_are_not_followed() -> None:
    sequence = _Sequence(db=8, counter=10)
    assert sequence.accept((3, 500))
    assert sequence.accept(None)
    assert sequence.accept((8, 11))


def test_the_counter_may_run_ahead_for_one_interval_but_not_two() -> None:
    sequence = _Sequence(db=8, counter=10)
    assert sequence.check(12)  # 11 and 12 may still be on their way
    assert sequence.accept((8, 11)) and sequence.accept((8, 12))
    assert sequence.check(12)
    assert sequence.check(13)  # 13 taken by a publisher that could not publish...
    assert not sequence.check(13)  # ...and never arrived


def test_a_counter_that_went_back_is_a_gap() -> None:
    sequence = _Sequence(db=8, counter=10)
    assert sequence.accept((8, 11))
    assert not sequence.check(2)  # the Redis database was emptied
