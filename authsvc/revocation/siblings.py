"""What the worker processes of one `authsvc serve` share: a revocation counter in a file.

A worker learns of another worker's revocation by the push channel, as a remote instance does,
so the client that has its logout's answer could meet the old cache on its next request. `serve`
creates one 8-byte file before it starts the workers; each maps it. A worker that commits a
token-version bump applies it to its own cache and then, before answering, adds one to the
counter (under a file lock, so no increment is lost); every worker reads the counter on each
check (one memory read) and forgets what it cached when it moved.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Set by `serve` for its workers; not a setting.
SIBLINGS_ENV = "AUTHSVC_SIBLINGS_FILE"
_COUNTER = struct.Struct("=Q")


class SiblingCounter:
    """The counter shared by the workers of one server, mapped into this process."""

    def __init__(self, path: Path):
        self._fd = os.open(path, os.O_RDWR)
        self._map = mmap.mmap(self._fd, _COUNTER.size)

    @classmethod
    def from_environment(cls) -> SiblingCounter | None:
        """The counter `serve` created for its workers, if this process is one of them."""
        path = os.environ.get(SIBLINGS_ENV)
        if not path or not Path(path).exists():
            return None
        return cls(Path(path))

    def value(self) -> int:
        counter: int = _COUNTER.unpack_from(self._map)[0]
        return counter

    def bump(self) -> None:
        """Add one, serialised with the other workers by a lock on the file."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            _COUNTER.pack_into(self._map, 0, self.value() + 1)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


@contextmanager
def sibling_counter_file() -> Iterator[Path]:
    """A zeroed counter file for the workers about to start, named in the environment."""
    fd, name = tempfile.mkstemp(prefix="authsvc-siblings-")
    try:
        os.write(fd, bytes(_COUNTER.size))
        os.close(fd)
        os.environ[SIBLINGS_ENV] = name
        yield Path(name)
    finally:
        os.environ.pop(SIBLINGS_ENV, None)
        Path(name).unlink(missing_ok=True)
