"""Remembering verified tokens within a byte budget, with their session state kept as text.

A token's `sess` claim is whatever its user stored (up to the configured limit), and parsed it
takes many times its text: a kilobyte of empty objects is some 40 KB of dicts. A remembered
token therefore keeps its state as JSON text, parsed again when a caller reads it; that parse
lives as long as the caller's request.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from authsvc.tokens.access import AccessClaims

V = TypeVar("V")

# What a memo's own dicts spend on one entry (hash, key and value pointers, index, the spare
# room a dict keeps to stay sparse, the order's links, the size's int), measured with tracemalloc
# on CPython 3.11 and rounded up.
ENTRY_OVERHEAD_BYTES = 320


class TokenState(Mapping[str, Any]):
    """A verified token's `sess` claim, kept as its JSON text and parsed when first read.

    A memo keeps one that is never read; each caller gets a `fresh` one, whose parse lives as
    long as the caller holds it.
    """

    __slots__ = ("_parsed", "_text")

    def __init__(self, text: str):
        self._text = text
        self._parsed: dict[str, Any] | None = None

    @classmethod
    def of(cls, state: Mapping[str, Any]) -> TokenState:
        return cls(json.dumps(dict(state), separators=(",", ":")))

    def fresh(self) -> TokenState:
        return TokenState(self._text)

    def _state(self) -> dict[str, Any]:
        if self._parsed is None:
            self._parsed = json.loads(self._text)
        return self._parsed

    def __getitem__(self, key: str) -> Any:
        return self._state()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._state())

    def __len__(self) -> int:
        return len(self._state())

    def __contains__(self, key: object) -> bool:
        return key in self._state()

    def __repr__(self) -> str:
        return f"TokenState({self._text})"


def remembered(claims: AccessClaims) -> AccessClaims:
    """`claims` as a memo keeps them: a state, if any, as its JSON text."""
    if not claims.sess:
        return claims
    return copy_of(claims, sess=TokenState.of(claims.sess))


def with_state(claims: AccessClaims) -> AccessClaims:
    """Remembered claims as a caller gets them: with a state of its own to parse."""
    if type(claims.sess) is not TokenState:
        return claims
    return copy_of(claims, sess=claims.sess.fresh())


_T = TypeVar("_T")


def copy_of(value: _T, **changes: object) -> _T:
    """A dataclass instance with some fields changed, made without running its __init__."""
    # A field-for-field copy: `dataclasses.replace` runs __init__ and costs several times as
    # much, and a token with state is copied on every request that presents it.
    clone: _T = object.__new__(type(value))
    clone.__dict__.update(value.__dict__, **changes)
    return clone


# Named once: `str | bytes | ...` written inside the loop builds a new union on every turn,
# which made measuring an entry cost a third of a token's cold verification.
_LEAVES = (str, bytes, int, float, bool, datetime, type(None))
_LEAF_TYPES = frozenset(_LEAVES)
_SEQUENCES = (tuple, list, set, frozenset)


def footprint(*values: object) -> int:
    """Bytes `values` take, with everything they reach through dataclasses and containers;
    an object reached twice counts once."""
    seen: set[int] = set()
    pending = list(values)
    total = 0
    while pending:
        value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        total += sys.getsizeof(value)
        if type(value) in _LEAF_TYPES or isinstance(value, _LEAVES):
            continue
        if isinstance(value, TokenState):
            pending.append(value._text)
        elif isinstance(value, _SEQUENCES):
            pending.extend(value)
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, MappingProxyType):
            pending.append(dict(value))  # a copy, of the same size as the dict it shows
        elif hasattr(value, "__dict__"):
            pending.append(vars(value))
        else:
            raise TypeError(f"cannot measure a {type(value).__name__}")
    return total


class TokenMemo(Generic[V]):
    """Values by token text within a byte budget; when full, the earliest put leaves first.

    `get` is the dict's own `get`, with no lock (the hot path: every request presenting a token
    seen before); every change takes the lock, so an eviction never races a removal. The values
    are ordered for the eviction: deleting a plain dict's first key walks over every slot
    deleted before it until the dict is next resized, which made a put cost tens of µs once
    tokens rotate through a full memo; `popitem(last=False)` takes constant time.
    """

    def __init__(self, max_bytes: int, max_entries: int | None = None):
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._values: OrderedDict[str, V] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self.get = self._values.get

    def put(self, token: str, value: V, size: int) -> bool:
        """Remember `value` (taking `size` bytes, its token's text included); False when it
        cannot fit in the budget at all."""
        size += ENTRY_OVERHEAD_BYTES
        if size > self.max_bytes or self.max_entries == 0:
            return False
        with self._lock:
            if token in self._values:
                return True
            while self._values and (
                self._bytes + size > self.max_bytes
                or (self.max_entries is not None and len(self._values) >= self.max_entries)
            ):
                oldest, _ = self._values.popitem(last=False)
                self._bytes -= self._sizes.pop(oldest)
            self._values[token] = value
            self._sizes[token] = size
            self._bytes += size
        return True

    def discard(self, token: str) -> None:
        with self._lock:
            self._remove(token)

    def _remove(self, token: str) -> None:
        if self._values.pop(token, None) is not None:
            self._bytes -= self._sizes.pop(token)

    @property
    def bytes(self) -> int:
        """Bytes the remembered values take by their accounting, the memo's own share included."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._values)
