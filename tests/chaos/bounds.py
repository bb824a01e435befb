"""How soon each kind of request must see a revocation: the one place the checker's bounds live.

docs/sessions.md states the guarantee: a revocation is refused on the very next request by the
instance that made it, within the push delay by the others; a refresh reads the session's row,
so it is exact everywhere. Tighten a bound here when the service promises more.
"""

from __future__ import annotations

import os

from tests.helpers.sessions import PUSH_BOUND_SECONDS

# Whether every worker of the revoking instance applies the bump before the answer. Today only
# the worker that committed does; its siblings learn by the channel like another instance.
SIBLING_WORKERS_EXACT = False

# Whether ending ONE session (DELETE /sessions/{sid}) refuses that session's access tokens too.
# Today they live until they expire (docs/sessions.md); CHAOS_CHECK_ENDED=1 checks it anyway.
ENDED_SESSION_REFUSES_ACCESS = os.environ.get("CHAOS_CHECK_ENDED") == "1"

# Answers a loaded service may give outside any fault: shedding load is not a failure.
OVERLOAD_CODES = frozenset({"password_work_busy"})

# Access tokens live 15 minutes: a run longer than that sees tokens expire on their own.
ACCESS_TOKEN_TTL_SECONDS = 900.0

# After an instance is back (healthy), nginx tries it again after its fail_timeout (2 s).
RECOVERY_MARGIN_SECONDS = 3.0

# The paths that present an access token and answer from the token-version cache.
CACHED_PATHS = frozenset({"session", "verify"})


def propagation_bound(kind: str, *, same_instance: bool) -> float:
    """Seconds after a revocation's answer by which a request of `kind` must be refused."""
    if kind not in CACHED_PATHS:
        return 0.0  # the refresh token and the session row are read from the database
    if same_instance and SIBLING_WORKERS_EXACT:
        return 0.0
    return PUSH_BOUND_SECONDS
