"""What every settings group shares: where it reads from, and the key timing margin."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

# Covers clock skew between instances and downstream services in the key rotation timeline.
KEY_TIMING_MARGIN_SECONDS = 60


class SettingsGroup(BaseSettings):
    """Where every group reads from: AUTHSVC_* variables, then `.env`; frozen once validated."""

    model_config = SettingsConfigDict(
        env_prefix="AUTHSVC_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )
