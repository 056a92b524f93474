"""The `corpusforge` command. Each module in `corpusforge/commands/` registers its commands.

Commands run Prefect flows, so every CLI run is a flow run in the workspace's Prefect database.
Errors the user can fix are printed as one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import logging
import sys

import typer
from pydantic import ValidationError

from corpusforge.commands import (
    align,
    audit,
    dedup,
    demo,
    doctor,
    evaluate,
    ingest,
    pii,
    run,
    sample,
    serve,
    server,
    store,
    tokenize,
    train,
)
from corpusforge.commands import filter as filter_command  # `filter` would shadow the builtin
from corpusforge.core.console import log_path, print_error, record_unexpected
from corpusforge.core.errors import CorpusforgeError
from corpusforge.core.settings import validation_message

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
    filter_command,
    dedup,
    pii,
    tokenize,
    train,
    align,
    evaluate,
    store,
    audit,
    run,
    serve,
    server,
    doctor,
    demo,
)
for _module in COMMAND_MODULES:
    _module.register(app)


def main() -> None:
    """Run a command; every failure ends in one line on stderr and a non-zero exit code.

    Tracebacks go to the workspace log (`<workspace>/logs/corpusforge.log`), which the line
    names; the console never shows one.
    """
    try:
        app()
    except SystemExit as exc:  # click ends every command this way, success included
        if exc.code not in (0, None):
            raise  # a usage error: nothing heavy was loaded, and a caller may catch it
        _exit_now(0)
    except CorpusforgeError as exc:
        _fail(str(exc), exc)
    except ValidationError as exc:
        _fail(f"invalid {exc.title}: {validation_message(exc)}", exc)
    except FileNotFoundError as exc:  # e.g. a file removed while a run read it
        _fail(f"{exc.filename or exc}: no such file or directory", exc)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug or an environment failure: the details go to the log
        _fail(record_unexpected(exc))


def _exit_now(code: int) -> None:
    """End the process without the interpreter's own teardown: the exit hooks run (Prefect
    sends its last events and logs, log files are flushed), but freeing a heap that holds
    Prefect, Arrow and numba, and waiting for idle pool workers to wind down, took seconds
    after the work was done (the workers exit with their parent: corpusforge.core.processes)."""
    import atexit
    import contextlib
    import multiprocessing
    import os

    # The command is done: its worker processes are idle (multiprocessing's exit hook would
    # wait for them, and the pool's own shutdown, skipped here, would not have asked them to go).
    for child in multiprocessing.active_children():
        child.kill()
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _fail(message: str, exc: BaseException | None = None) -> None:
    where = log_path()
    if exc is not None and where is not None:
        record_unexpected(exc)  # the traceback, for whoever debugs it
        message = f"{message} (details: {where})"
    print_error(message)
    logging.disable(logging.CRITICAL)  # shutdown noise (server stop) after the error line
    sys.exit(2)


if __name__ == "__main__":
    main()
