"""`authsvc introspection-client new`: credentials for callers of POST /introspect."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from pydantic import ValidationError

from authsvc.cli.common import fail
from authsvc.config import Settings, describe_validation_error
from authsvc.services.introspection import new_client_secret

introspection_app = typer.Typer(help="Clients of POST /introspect.", no_args_is_help=True)


@introspection_app.command("new")
def introspection_client_new(
    client_id: Annotated[str, typer.Argument(help="A name for the calling service.")],
) -> None:
    """Print a new client secret and the AUTHSVC_INTROSPECTION_CLIENTS entry that admits it."""
    secret, digest = new_client_secret()
    entry = f"{client_id}:{digest}"
    try:
        Settings(_env_file=None, introspection_clients=[entry])
    except ValidationError as exc:
        raise fail(describe_validation_error(exc)) from None
    typer.echo(json.dumps({"client_id": client_id, "client_secret": secret, "entry": entry}))
