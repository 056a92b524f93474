"""The `corpusforge` command. Each module in `corpusforge/commands/` registers its commands.

Commands run Prefect flows, so every CLI run is a flow run in the workspace's Prefect database.
Errors the user can fix are printed as one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError

from corpusforge.commands import (
    audit,
    dedup,
    demo,
    doctor,
    ingest,
    pii,
    run,
    sample,
    serve,
    store,
    tokenize,
    train,
)
from corpusforge.errors import CorpusforgeError
from corpusforge.settings import validation_message

app = typer.Typer(
    name="corpusforge",
    help="Privacy-aware corpus preparation and LLM training (web, books, wiki -> tokens -> model).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


# An explicit list: the command set is fixed in code, never discovered or named at run time.
COMMAND_MODULES = (
    sample,
    ingest,
    dedup,
    pii,
    tokenize,
    train,
    store,
    audit,
    run,
    serve,
    doctor,
    demo,
)
for _module in COMMAND_MODULES:
    _module.register(app)


def main() -> None:
    try:
        app()
    except CorpusforgeError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except ValidationError as exc:
        typer.echo(f"error: invalid {exc.title}: {validation_message(exc)}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
