"""What every settings group shares: where it reads from, and the key timing margin."""

from __future__ import annotations

from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from authsvc.config.files import SettingFilesSource

# Covers clock skew between instances and downstream services in the key rotation timeline.
KEY_TIMING_MARGIN_SECONDS = 60


class SettingsGroup(BaseSettings):
    """Where every group reads from: AUTHSVC_* variables, then AUTHSVC_*_FILE files (named in
    the environment or in `.env`), then `.env`; frozen once validated."""

    model_config = SettingsConfigDict(
        env_prefix="AUTHSVC_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        dotenv = dotenv_settings if isinstance(dotenv_settings, DotEnvSettingsSource) else None
        files = SettingFilesSource(settings_cls, dotenv)
        return init_settings, env_settings, files, dotenv_settings, file_secret_settings
