"""`corpusforge store ...`: the encrypted, access-controlled checkpoint store.

Every command except `init` acts for the principal of `--token` (env CORPUSFORGE_TOKEN);
refusals are one-line errors and are recorded in the audit log.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from corpusforge.commands._common import WorkspaceOption, use_workspace
from corpusforge.core.errors import InputError

store_app = typer.Typer(help="Encrypted, access-controlled checkpoint store.", no_args_is_help=True)
principal_app = typer.Typer(help="Principals (people and services).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (shown once, stored hashed).", no_args_is_help=True)
store_app.add_typer(principal_app, name="principal")
store_app.add_typer(token_app, name="token")

TokenOption = Annotated[
    str | None,
    typer.Option("--token", envvar="CORPUSFORGE_TOKEN", help="API token (prefer the env var)."),
]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--store-url",
        envvar="CORPUSFORGE_STORE_URL",
        help="fsspec URL of the store (default: the workspace's store/checkpoints).",
    ),
]


def _open(workspace, token, url):
    from corpusforge.model.store import open_store  # lazy: SQLAlchemy, cryptography

    return open_store(use_workspace(workspace), token, url=url)


@store_app.command("init")
def init(
    workspace: WorkspaceOption = None,
    admin: str = typer.Option("user:admin", help="name of the first admin principal"),
) -> None:
    """Create the master key (0600), the registry, an admin and svc:trainer; print tokens once."""
    from corpusforge.model.store import bootstrap_store  # lazy: SQLAlchemy, cryptography

    tokens = bootstrap_store(use_workspace(workspace), admin=admin)
    typer.echo("store initialised; these tokens are shown once and stored only as hashes:")
    for name, token in tokens.items():
        typer.echo(f"{name}\t{token}")


@principal_app.command("add")
def principal_add(
    name: str,
    role: list[str] = typer.Option(..., "--role", help="admin|trainer|evaluator|auditor"),
    clearance: str = typer.Option("internal", help="public|internal|restricted"),
    service: bool = typer.Option(False, "--service", help="a service identity, not a person"),
    workspace: WorkspaceOption = None,
    token: TokenOption = None,
) -> None:
    """Add a principal (admin only)."""
    _open(workspace, token, None).add_principal(
        name, role, clearance, "service" if service else "user"
    )
    typer.echo(f"added {name}: roles {sorted(set(role))}, clearance {clearance}")


@principal_app.command("list")
def principal_list(workspace: WorkspaceOption = None, token: TokenOption = None) -> None:
    """List principals with roles and clearance (admin only)."""
    store = _open(workspace, token, None)
    store._authorize("grant", "principals")
    for name, p in sorted(store.registry.principals().items()):
        typer.echo(f"{name}\t{p['kind']}\t{','.join(p['roles'])}\t{p['clearance']}")


@token_app.command("issue")
def token_issue(
    principal: str,
    ttl_days: float | None = typer.Option(None, help="expire after this many days"),
    workspace: WorkspaceOption = None,
    token: TokenOption = None,
) -> None:
    """Issue a token for PRINCIPAL (admin only); printed once."""
    ttl = timedelta(days=ttl_days) if ttl_days else None
    typer.echo(_open(workspace, token, None).issue_token(principal, ttl))


@token_app.command("revoke")
def token_revoke(
    token_id: str = typer.Argument(..., help="the token id (cft_<id>_...) or the whole token"),
    workspace: WorkspaceOption = None,
    token: TokenOption = None,
) -> None:
    """Revoke a token at once (admin only)."""
    store = _open(workspace, token, None)
    store.revoke_token(token_id)
    typer.echo(f"revoked token {store.registry_token_id(token_id)}")


@store_app.command("grant")
def grant(
    principal: str,
    role: list[str] | None = typer.Option(None, "--role", help="replace the roles"),
    clearance: str | None = typer.Option(None, help="set the clearance"),
    workspace: WorkspaceOption = None,
    token: TokenOption = None,
) -> None:
    """Change a principal's roles and/or clearance (admin only)."""
    record = _open(workspace, token, None).grant(principal, role or None, clearance)
    typer.echo(f"{principal}: roles {record['roles']}, clearance {record['clearance']}")


@store_app.command("put")
def put(
    name: str,
    local_dir: Path,
    meta: list[str] | None = typer.Option(None, "--meta", help="KEY=JSON_VALUE (repeatable)"),
    metadata_file: Path | None = typer.Option(None, "--metadata", help="JSON metadata file"),
    workspace: WorkspaceOption = None,
    token: TokenOption = None,
    store_url: UrlOption = None,
) -> None:
    """Encrypt and store the checkpoint directory LOCAL_DIR as NAME."""
    metadata = json.loads(metadata_file.read_text()) if metadata_file else {}
    for item in meta or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--meta {key}: expected KEY=VALUE")
        try:
            metadata[key] = json.loads(value)
        except json.JSONDecodeError:
            metadata[key] = value
    store = _open(workspace, token, store_url)
    store.put_checkpoint(name, local_dir, metadata)
    info = store.info(name)
    typer.echo(
        f"stored {name}: {info['files']} files, {info['bytes']} bytes, "
        f"classification {info['classification']}"
    )


@store_app.command("get")
def get(
    name: str,
    dest: Path,
    workspace: WorkspaceOption = None,
    token: TokenOption = None,
    store_url: UrlOption = None,
) -> None:
    """Fetch, verify and decrypt checkpoint NAME into DEST."""
    out = _open(workspace, token, store_url).get_checkpoint(name, dest)
    typer.echo(str(out))


@store_app.command("list")
def list_(
    prefix: str = typer.Argument(""),
    workspace: WorkspaceOption = None,
    token: TokenOption = None,
    store_url: UrlOption = None,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List the checkpoints your clearance covers."""
    for c in _open(workspace, token, store_url).list_checkpoints(prefix):
        if as_json:
            typer.echo(json.dumps(c, sort_keys=True))
        else:
            affected = " AFFECTED-BY-ERASURE" if c["affected"] else ""
            typer.echo(
                f"{c['name']}\t{c['classification']}\t{c['files']} files\t"
                f"{c['bytes']} bytes\t{c['created_by']}{affected}"
            )


@store_app.command("delete")
def delete(
    name: str,
    workspace: WorkspaceOption = None,
    token: TokenOption = None,
    store_url: UrlOption = None,
) -> None:
    """Delete checkpoint NAME (admin only)."""
    _open(workspace, token, store_url).delete_checkpoint(name)
    typer.echo(f"deleted {name}")


@store_app.command("rotate-key")
def rotate_key(
    workspace: WorkspaceOption = None,
    token: TokenOption = None,
    store_url: UrlOption = None,
) -> None:
    """New master key; re-wrap every data key (no checkpoint is re-encrypted)."""
    r = _open(workspace, token, store_url).rotate_key()
    typer.echo(
        f"master key {r['old_key_id']} -> {r['new_key_id']}: re-wrapped "
        f"{r['data_keys']} data keys in {r['checkpoints']} checkpoints"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")
