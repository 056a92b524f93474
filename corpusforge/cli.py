"""The `corpusforge` command. Each module in `corpusforge/commands/` registers its commands.

Commands run Prefect flows, so every CLI run is a flow run in the workspace's Prefect database.
Errors the user can fix are printed as one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from corpusforge.errors import CorpusforgeError

app = typer.Typer(
    name="corpusforge",
    help="Privacy-aware corpus preparation and LLM training (web, books, wiki -> tokens -> model).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_commands() -> None:
    import corpusforge.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"corpusforge.commands.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_commands()


def main() -> None:
    try:
        app()
    except CorpusforgeError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
