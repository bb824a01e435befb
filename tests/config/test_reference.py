"""docs/configuration.md is what the settings render, and shows no secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from authsvc.config import GROUPS, Settings
from authsvc.config.reference import render_reference
from tests.helpers.paths import REPO_ROOT

COMMITTED = REPO_ROOT / "docs" / "configuration.md"


def _row(reference: str, variable: str) -> list[str]:
    rows = [line for line in reference.splitlines() if line.startswith(f"| `{variable}` |")]
    assert len(rows) == 1, f"{variable} should have exactly one row"
    return [cell.strip() for cell in rows[0].strip("|").split(" | ")]


def test_committed_reference_matches_the_settings() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render_reference(), (
        "the settings changed: run `make config-docs` and commit docs/configuration.md"
    )


def test_every_setting_belongs_to_exactly_one_group() -> None:
    grouped = [name for group in GROUPS for name in group.model_fields]
    assert sorted(grouped) == sorted(Settings.model_fields)
    assert len(grouped) == len(set(grouped))


def test_every_variable_has_a_row_with_a_description() -> None:
    reference = render_reference()
    for name in Settings.model_fields:
        variable, _default, _accepted, description = _row(reference, f"AUTHSVC_{name.upper()}")
        assert description, f"{variable} has no description"


def test_the_reference_shows_defaults_never_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = "s3cret-" + "x" * 40
    monkeypatch.setenv("AUTHSVC_KEY_ENCRYPTION_SECRET", secret)
    monkeypatch.setenv("AUTHSVC_JWT_SECRETS", f"{secret}a,{secret}b")
    monkeypatch.setenv("AUTHSVC_PORT", "9999")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"AUTHSVC_KEY_ENCRYPTION_SECRET={secret}\n")
    reference = render_reference()
    assert secret not in reference
    assert _row(reference, "AUTHSVC_KEY_ENCRYPTION_SECRET")[1] == "(none)"
    assert _row(reference, "AUTHSVC_JWT_SECRETS")[1] == "(none)"
    assert _row(reference, "AUTHSVC_PORT")[1] == "`8000`"


def test_the_reference_shows_choices_and_ranges() -> None:
    reference = render_reference()
    assert _row(reference, "AUTHSVC_COOKIE_SECURE")[1:3] == ["`true`", "`true`, `false`, `auto`"]
    assert _row(reference, "AUTHSVC_PORT")[2] == "integer ≥ 1, ≤ 65535"
    assert _row(reference, "AUTHSVC_ACCESS_TOKEN_TTL_SECONDS")[1] == "`900` (15 min)"


def test_the_module_writes_the_reference_to_the_path_given(tmp_path: Path) -> None:
    target = tmp_path / "configuration.md"
    result = subprocess.run(
        [sys.executable, "-m", "authsvc.config.reference", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert target.read_text(encoding="utf-8") == render_reference()
