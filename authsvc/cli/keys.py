"""`authsvc keys ...`: the signing keys, listed, rotated, revoked and re-encrypted."""

from __future__ import annotations

import hmac
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from authsvc.cli.common import database, fail, load_settings
from authsvc.clock import SystemClock
from authsvc.config import Settings, SigningAlgorithm
from authsvc.errors import KeyDecryptionError, MissingSetting, RaceLost
from authsvc.keys import lifecycle as key_lifecycle
from authsvc.keys.encryption import KeyEncryptor
from authsvc.mfa import factors
from authsvc.mfa.sealing import SecretSealer
from authsvc.storage.models import SigningKey

keys_app = typer.Typer(help="Signing keys: list, rotate, revoke, re-encrypt.", no_args_is_help=True)


@contextmanager
def key_session() -> Iterator[tuple[Settings, Session, KeyEncryptor]]:
    """A database session and the key encryptor; commits when the command succeeds."""
    settings = load_settings()
    if settings.hs256_mode:
        raise fail(
            "AUTHSVC_JWT_SECRETS is set (HS256 mode): no key is stored; rotate by putting a new "
            "secret first in the list, revoke by removing one"
        )
    try:
        encryptor = KeyEncryptor(settings.require_key_encryption_secret())
    except MissingSetting as exc:
        raise fail(str(exc)) from None
    with database(settings) as db:
        try:
            yield settings, db, encryptor
            db.commit()
        except RaceLost:
            raise fail("another instance won") from None
        except KeyDecryptionError as exc:
            raise fail(str(exc)) from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _describe(key: SigningKey) -> dict[str, str | None]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "state": key.state,
        "created": _iso(key.created_at),
        "activate_at": _iso(key.activate_at),
        "activated": _iso(key.activated_at),
        "retire_after": _iso(key.retire_after),
        "retired": _iso(key.retired_at),
        "revoked": _iso(key.revoked_at),
    }


@keys_app.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array, for scripts.")] = False,
) -> None:
    """Show every key: kid, alg, state, created, activated, retire-after."""
    with key_session() as (_settings, db, _encryptor):
        keys = [_describe(key) for key in key_lifecycle.list_keys(db)]
    if as_json:
        typer.echo(json.dumps(keys, indent=2))
        return
    columns = ("kid", "alg", "state", "created", "activate_at", "activated", "retire_after")
    rows = [[name.upper().replace("_", "-") for name in columns]]
    rows += [
        [_short_time(key[name]) if name != "kid" else str(key[name]) for name in columns]
        for key in keys
    ]
    widths = [max(len(row[index]) for row in rows) for index in range(len(columns))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        typer.echo("  ".join(cells).rstrip())


def _short_time(value: str | None) -> str:
    return "-" if value is None else value[:19].replace("T", " ")


@keys_app.command("rotate")
def keys_rotate(
    alg: Annotated[
        SigningAlgorithm | None, typer.Option(help="Default: AUTHSVC_SIGNING_ALGORITHM.")
    ] = None,
    now: Annotated[
        bool,
        typer.Option(
            "--now",
            help="Sign with the new key at once: only for one instance with no downstream caches.",
        ),
    ] = False,
) -> None:
    """Add the next key: published at once, signing after the publish-ahead delay."""
    with key_session() as (settings, db, encryptor):
        key = key_lifecycle.rotate(
            db,
            encryptor,
            key_lifecycle.RotationPolicy.from_settings(settings),
            now=SystemClock().now(),
            alg=alg.value if alg is not None else None,
            immediately=now,
        )
        described = _describe(key)
    typer.echo(json.dumps(described))


@keys_app.command("revoke")
def keys_revoke(kid: str) -> None:
    """Withdraw a key at once; its tokens are refused, and a successor signs if it was active."""
    with key_session() as (settings, db, encryptor):
        result = key_lifecycle.revoke(
            db,
            encryptor,
            key_lifecycle.RotationPolicy.from_settings(settings),
            kid,
            now=SystemClock().now(),
        )
        described = {
            "revoked": result.revoked.kid,
            "successor": result.successor.kid if result.successor is not None else None,
        }
    typer.echo(json.dumps(described))


@keys_app.command("reencrypt")
def keys_reencrypt(
    new_secret_stdin: Annotated[
        bool,
        typer.Option("--new-secret-stdin", help="Read the new secret from standard input."),
    ] = False,
) -> None:
    """Re-encrypt every private key and TOTP secret from AUTHSVC_KEY_ENCRYPTION_SECRET to a new
    secret."""
    if not new_secret_stdin:
        raise fail("pass --new-secret-stdin and give the new secret on standard input")
    new_secret = sys.stdin.readline().rstrip("\r\n")
    if len(new_secret) < 32:
        raise fail("the new secret must be at least 32 characters (`openssl rand -base64 32`)")
    with key_session() as (settings, db, old):
        if hmac.compare_digest(settings.require_key_encryption_secret(), new_secret):
            raise fail("the new secret is the one already configured")
        result = key_lifecycle.reencrypt(db, old, KeyEncryptor(new_secret), now=SystemClock().now())
        # TOTP secrets are sealed under the same operator secret: they move with the keys.
        resealed = factors.reseal_all(
            db, SecretSealer(settings.require_key_encryption_secret()), SecretSealer(new_secret)
        )
    typer.echo(
        json.dumps(
            {
                "reencrypted": result.reencrypted,
                "already_new": result.already_new,
                "factor_secrets": resealed,
            }
        )
    )
    typer.echo(
        "now set AUTHSVC_KEY_ENCRYPTION_SECRET to the new secret on every instance", err=True
    )
