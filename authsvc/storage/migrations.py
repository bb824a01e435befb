"""Run the Alembic migrations shipped with the package, from the CLI or the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from authsvc.storage.engine import normalise_url


def migrations_dir() -> Path:
    """alembic/ beside the package in a checkout; authsvc/migrations inside an installed wheel."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package.parent / "alembic", package / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("the authsvc migrations are missing from this installation")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser treats % as interpolation; a password may contain one.
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return config


def upgrade_database(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade_database(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
