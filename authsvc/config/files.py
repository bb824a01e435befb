"""`AUTHSVC_<NAME>_FILE`: a setting's value read from a file, for secrets kept out of the
environment (Docker and Compose secrets under /run/secrets, a Kubernetes Secret mounted as
files). The variable names the file; its contents are the value, as the variable itself would
give it, less the line break that editors and `echo` leave at the end.

`.env` may name files the same way. As with every variable, the environment wins over `.env`:
a file named in the environment wins over the setting in `.env`, and a setting in the
environment over a file named in `.env` (which is then not read). Setting both `AUTHSVC_<NAME>`
and `AUTHSVC_<NAME>_FILE` in the same place is refused, since one of them would be ignored
without a word. A file that cannot be read, or is larger than any setting needs, stops the start
with its variable and path named, never its contents.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings
from pydantic_settings.sources import DotEnvSettingsSource, PydanticBaseEnvSettingsSource

FILE_SUFFIX = "_FILE"
# Larger than any setting: a JSON list of providers with their secrets fits many times over.
MAX_FILE_BYTES = 64 * 1024


class SettingsFileError(ValueError):
    """A `*_FILE` variable that cannot be honoured; the message names it, never a value."""


class SettingFilesSource(PydanticBaseEnvSettingsSource):
    """Settings source: each field's `<prefix><NAME>_FILE` variable, read from the file."""

    def __init__(self, settings_cls: type[BaseSettings], dotenv: DotEnvSettingsSource | None):
        super().__init__(settings_cls)
        self._dotenv = dotenv

    def __call__(self) -> dict[str, Any]:
        # Each place once per load, its names in upper case (names are case-insensitive); the
        # environment first, as it wins.
        dotenv = self._dotenv.env_vars if self._dotenv is not None else {}
        self._places = (
            ("the environment", {name.upper(): value for name, value in os.environ.items()}),
            (".env", {name.upper(): value for name, value in dotenv.items() if value is not None}),
        )
        return super().__call__()

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        variable = f"{self.env_prefix}{field_name}".upper()
        for place, given in self._places:
            path = given.get(variable + FILE_SUFFIX)
            if path is None:
                if variable in given:
                    # The setting itself, given where it wins over any file named further on.
                    break
                continue
            if variable in given:
                raise SettingsFileError(
                    f"{variable} and {variable}{FILE_SUFFIX} are both set in {place}; "
                    "keep one of them"
                )
            return _read(variable + FILE_SUFFIX, Path(path)), field_name, False
        return None, field_name, False


def _read(variable: str, path: Path) -> str:
    try:
        with path.open("rb") as file:
            contents = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SettingsFileError(f"{variable}: cannot read {path}: {reason}") from None
    if len(contents) > MAX_FILE_BYTES:
        raise SettingsFileError(f"{variable}: {path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = contents.decode("utf-8")
    except UnicodeDecodeError:
        raise SettingsFileError(f"{variable}: {path} is not UTF-8 text") from None
    return text.removesuffix("\n").removesuffix("\r")
