"""`corpusforge store ...`: the encrypted, access-controlled checkpoint store.

Every command except `init` acts for the principal of `--token` (env CORPUSFORGE_TOKEN);
refusals are one-line errors and are recorded in the audit log.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
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


@contextlib.contextmanager
def _one_line() -> Iterator[None]:
    """An operating-system failure (permissions, a full disk, a missing folder) is one line
    on stderr, like every other refusal, not a traceback."""

    try:
        yield
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        raise InputError(f"{where}{exc.strerror or type(exc).__name__}") from None


def _refuse(store, action: str, obj: str, message: str):
    """Audit a refusal found by the CLI itself, then raise it as one line."""

    store.record_refusal(action, obj, message)
    raise InputError(message)


def _read_metadata(store, name: str, path: Path, meta: list[str] | None) -> dict:
    obj = f"checkpoint:{name}"
    metadata: dict = {}
    if path is not None:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
            _refuse(store, "put", obj, f"--metadata {path}: cannot be read ({why})")
        try:
            metadata = json.loads(text)
        except json.JSONDecodeError as exc:
            _refuse(
                store,
                "put",
                obj,
                f"--metadata {path}: not valid JSON (line {exc.lineno}, column {exc.colno})",
            )
        if not isinstance(metadata, dict):
            _refuse(store, "put", obj, f"--metadata {path}: must hold a JSON object")
    for item in meta or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _refuse(store, "put", obj, f"--meta {key or item!r}: expected KEY=VALUE")
        try:
            metadata[key] = json.loads(value)
        except json.JSONDecodeError:
            metadata[key] = value
    return metadata


def _ttl(store, principal: str, ttl_days: float | None) -> timedelta | None:
    """--ttl-days: left out means no expiry. Values no lifetime can have (NaN, infinite,
    beyond a timedelta) are refused here; zero, negative and too long ones by the store,
    after it has checked that the caller may issue tokens at all."""
    if ttl_days is None:
        return None
    if not math.isfinite(ttl_days) or abs(ttl_days) > 999_999:
        _refuse(
            store,
            "token.issue",
            f"principal:{principal}",
            "--ttl-days must be more than 0 and at most 3650 (leave it out for a token "
            "without expiry)",
        )
    return timedelta(days=ttl_days)


def _mode(text: str) -> int:

    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777 or not mode & 0o400:
        raise InputError(f"--mode {text}: expected octal permission bits with owner read, e.g. 600")
    return mode


@store_app.command("init")
def init(
    workspace: WorkspaceOption = None,
    admin: str = typer.Option("user:admin", help="name of the first admin principal"),
) -> None:
    """Create the master key (0600), the registry, an admin and svc:trainer; print tokens once."""
    from corpusforge.model.store import bootstrap_store  # lazy: SQLAlchemy, cryptography

    with _one_line():
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
    ttl_days: float | None = typer.Option(
        None, help="expire after this many days (> 0; leave out for no expiry)"
    ),
    workspace: WorkspaceOption = None,
    token: TokenOption = None,
) -> None:
    """Issue a token for PRINCIPAL (admin only); printed once. Without --ttl-days the token
    does not expire; --ttl-days must be more than 0."""
    store = _open(workspace, token, None)
    typer.echo(store.issue_token(principal, _ttl(store, principal, ttl_days)))


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
    """Encrypt and store the checkpoint directory LOCAL_DIR as NAME (once: a name that
    exists, or that a concurrent put stores first, is refused)."""
    store = _open(workspace, token, store_url)
    metadata = _read_metadata(store, name, metadata_file, meta)
    with _one_line():
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
    mode: str = typer.Option(
        "600",
        "--mode",
        help="octal mode of the decrypted files (folders get the matching search bits); "
        "default 600: only you can read them",
    ),
    raw: bool = typer.Option(
        False, "--raw", help="only the stored files: no consolidated model.safetensors"
    ),
) -> None:
    """Fetch, verify and decrypt checkpoint NAME into DEST (a new or empty folder). A sharded
    training checkpoint also gets its weights consolidated into model.safetensors, so DEST is a
    Hugging Face folder (`from_pretrained` loads it) that still holds the resumable state;
    `--raw` writes the stored files only."""
    file_mode = _mode(mode)
    store = _open(workspace, token, store_url)
    with _one_line():
        out = Path(store.get_checkpoint(name, dest, mode=file_mode))
        if not raw and _is_sharded_training_checkpoint(out):
            from corpusforge.model.checkpoint import write_hf_weights  # lazy: torch

            write_hf_weights(store, name, out)
            (out / "model.safetensors").chmod(file_mode)
    typer.echo(str(out))


def _is_sharded_training_checkpoint(path: Path) -> bool:
    return (
        (path / "model" / ".metadata").is_file()
        and (path / "config.json").is_file()
        and not (path / "model.safetensors").exists()
    )


@store_app.command("export")
def export(
    name: str,
    dest: Path,
    workspace: WorkspaceOption = None,
    token: TokenOption = None,
    store_url: UrlOption = None,
) -> None:
    """Write the consolidated Hugging Face export of checkpoint NAME into DEST (a new or empty
    folder): config.json, model.safetensors (gathered from the weight shards), tokenizer and
    generation config; loads with from_pretrained. Files 0600."""
    from corpusforge.model.checkpoint import export_checkpoint  # lazy: torch

    with _one_line():
        out = export_checkpoint(_open(workspace, token, store_url), name, dest)
    typer.echo(str(out))


@store_app.command("list")
def list_(
    prefix: str = typer.Argument(""),
    workspace: WorkspaceOption = None,
    token: TokenOption = None,
    store_url: UrlOption = None,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List the checkpoints your clearance covers, and damaged ones (admins see their
    names and may delete them; others see how many there are)."""
    with _one_line():
        listing = _open(workspace, token, store_url).listing(prefix)
    for c in listing["checkpoints"]:
        if as_json:
            typer.echo(json.dumps(c, sort_keys=True))
        else:
            affected = " AFFECTED-BY-ERASURE" if c["affected"] else ""
            typer.echo(
                f"{c['name']}\t{c['classification']}\t{c['files']} files\t"
                f"{c['bytes']} bytes\t{c['created_by']}{affected}"
            )
    for d in listing["damaged"]:
        if as_json:
            typer.echo(json.dumps(d, sort_keys=True))
        else:
            typer.echo(f"{d['name']}\tDAMAGED\t{d['reason']}")
    if listing["damaged"]:
        typer.echo(
            f"warning: {len(listing['damaged'])} damaged checkpoint(s): the manifest cannot be "
            "verified; restore it from a backup or `corpusforge store delete NAME`",
            err=True,
        )
    if listing["damaged_hidden"]:
        typer.echo(
            f"warning: {listing['damaged_hidden']} damaged checkpoint(s) not shown; ask an admin",
            err=True,
        )


@store_app.command("delete")
def delete(
    name: str,
    workspace: WorkspaceOption = None,
    token: TokenOption = None,
    store_url: UrlOption = None,
) -> None:
    """Delete checkpoint NAME (admin only; also a damaged one)."""
    with _one_line():
        _open(workspace, token, store_url).delete_checkpoint(name)
    typer.echo(f"deleted {name}")


@store_app.command("rotate-key")
def rotate_key(
    workspace: WorkspaceOption = None,
    token: TokenOption = None,
    store_url: UrlOption = None,
) -> None:
    """New master key; re-wrap every data key in every store this workspace has written to
    (no checkpoint is re-encrypted). Old keys are retired only when nothing needs them."""
    with _one_line():
        r = _open(workspace, token, store_url).rotate_key()
    typer.echo(
        f"master key {r['old_key_id']} -> {r['new_key_id']}: re-wrapped "
        f"{r['data_keys']} data keys in {r['checkpoints']} checkpoints "
        f"across {r['stores']} store(s)"
    )
    if r["kept"]:
        typer.echo(
            f"warning: kept old key(s) {', '.join(r['kept'])}: {len(r['damaged'])} damaged "
            "checkpoint(s) may still need them (store list shows them); delete or restore "
            "them, then rerun rotate-key",
            err=True,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")
