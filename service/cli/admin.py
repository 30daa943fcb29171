"""Operator commands: database migrations and API keys."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import typer

from service.cli.common import app, fail, open_sessions
from service.config import Settings
from service.errors import FaceverError

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (stored hashed; a key is shown once, when created).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Migrate FACEVER_DATABASE_URL to REVISION (default: the latest)."""
    from service.db.migrate import upgrade

    upgrade(Settings().database_url, revision)
    typer.echo(f"database at {revision}")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin | client")] = "client",
    name: Annotated[str, typer.Option(help="who or what uses the key")] = "cli",
) -> None:
    """Create a key and print it (the only time it is shown)."""
    from service import auth
    from service.db.engine import write_session

    try:
        with open_sessions(Settings()) as sessions, write_session(sessions) as session:
            info, key = auth.create_key(session, name, role)
    except FaceverError as error:
        fail(error)
    typer.echo(json.dumps({"id": info.id, "name": info.name, "role": info.role, "key": key}))


@keys_app.command("list")
def keys_list() -> None:
    """List keys (id, name, role, prefix, revoked), one JSON object per line."""
    from service import auth

    with open_sessions(Settings()) as sessions, sessions() as session:
        for info in auth.list_keys(session):
            typer.echo(json.dumps({**dataclasses.asdict(info), "created_at": info.created_at.isoformat()}))


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="the key's id (see `keys list`)")]) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    from service import auth
    from service.db.engine import write_session

    try:
        with open_sessions(Settings()) as sessions, write_session(sessions) as session:
            auth.revoke_key(session, key_id)
    except FaceverError as error:
        fail(error)
    typer.echo(f"revoked key {key_id}")
