"""What every settings group shares: where it reads from, and the key timing margin."""

from __future__ import annotations

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from authsvc.config.files import SettingFilesSource

# Covers clock skew between instances and downstream services in the key rotation timeline.
KEY_TIMING_MARGIN_SECONDS = 60


class SettingsGroup(BaseSettings):
    """Where every group reads from: AUTHSVC_* variables, then AUTHSVC_*_FILE files, then
    `.env`; frozen once validated."""

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
        files = SettingFilesSource(settings_cls)
        return init_settings, env_settings, files, dotenv_settings, file_secret_settings
