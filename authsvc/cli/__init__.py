"""The `authsvc` command; one module per command group."""

from __future__ import annotations

import typer

from authsvc.cli.introspection import introspection_app
from authsvc.cli.keys import keys_app
from authsvc.cli.server import db_app, openapi, serve
from authsvc.cli.sessions import sessions_app
from authsvc.cli.users import users_app

app = typer.Typer(help="authsvc: stateless JWT authentication service.", no_args_is_help=True)
app.command()(serve)
app.command()(openapi)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(sessions_app, name="sessions")
app.add_typer(keys_app, name="keys")
app.add_typer(introspection_app, name="introspection-client")


def main() -> None:
    app()
