"""A chaotic run's history keeps every revocation promise (docs/sessions.md, "The history
checker"). `make chaos` runs it longer; CHAOS_SEED repeats a run's choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.checker import Checker, summary
from tests.chaos.harness import ChaosConfig, run_chaos

pytestmark = [pytest.mark.server, pytest.mark.postgres]

# The run inside `make test`: short enough for a loaded 2-core machine.
SHORT_RUN_SECONDS = 30.0


def test_a_chaotic_run_keeps_every_revocation_promise(postgres_url: str, tmp_path: Path) -> None:
    config = ChaosConfig.from_env(seconds=SHORT_RUN_SECONDS)
    run = run_chaos(postgres_url, tmp_path, config)
    calls = run.history.calls
    assert len(calls) > 50, f"too little happened to check: {len(calls)} calls"
    violations = Checker(run.history, run.rows).check()
    assert not violations, (
        f"seed {config.seed}: {len(violations)} violation(s) in {len(calls)} calls\n"
        f"{summary(run.history, violations)}\nrepeat with: {config.reproduce()}"
    )
