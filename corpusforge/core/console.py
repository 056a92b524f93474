"""What a CLI user sees when something fails: one line on stderr; the details in a log file.

Prefect's console handler prints the traceback of every failed task and flow run. The CLI
keeps Prefect's one-line run messages on the console and sends the full records, tracebacks
included, to `<workspace>/logs/corpusforge.log`, which the final error line names. Errors
never carry document text or PII (see corpusforge.core.errors), so neither does the log.
"""

from __future__ import annotations

import logging
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

LOG_NAME = "corpusforge.log"

_log_path: Path | None = None
_file_handler: logging.Handler | None = None


class _WithoutTraceback(logging.Formatter):
    """Formats a record as the wrapped formatter does, minus exception and stack text."""

    def __init__(self, inner: logging.Formatter | None):
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def log_path() -> Path | None:
    """The workspace log of this CLI process, once `use_log_file` has named it."""
    return _log_path


def use_log_file(logs_dir: Path) -> Path:
    """Name `logs_dir` as this process's log; records go there once `quiet_console_tracebacks`
    attaches the handler. Not before: Prefect leaves out its console handler when the root
    logger already has one of the user's when it is imported."""
    global _log_path, _file_handler
    logs_dir.mkdir(parents=True, exist_ok=True)
    path = logs_dir / LOG_NAME
    if _log_path != path:
        if _file_handler is not None:
            logging.getLogger().removeHandler(_file_handler)
        _file_handler = logging.FileHandler(path, encoding="utf-8", delay=True)
        _file_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        _file_handler.setLevel(logging.INFO)
        _log_path = path
    return path


def _attach_file_handler() -> None:
    root = logging.getLogger()
    if _file_handler is not None and _file_handler not in root.handlers:
        root.addHandler(_file_handler)


def quiet_console_tracebacks() -> None:
    """Strip tracebacks from Prefect's console output (call after Prefect is imported).

    Prefect installs its console handler on the root logger when it is imported (replacing
    the root's handlers), so this wraps whatever console handlers are there now and puts the
    file handler of `use_log_file` back, which keeps every traceback.
    """
    _attach_file_handler()
    for handler in logging.getLogger().handlers:
        is_console = isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        )
        if is_console and not isinstance(handler.formatter, _WithoutTraceback):
            handler.setFormatter(_WithoutTraceback(handler.formatter))


def record_unexpected(exc: BaseException) -> str:
    """Write `exc`'s traceback to the log; return the one line the user sees.

    The line names the exception's type, not its message: an unexpected error's message may
    quote data (a value, a row) that must not reach the console.
    """
    where = _log_path
    if where is not None:
        try:
            with open(where, "a", encoding="utf-8") as fh:
                fh.write(f"{datetime.now(UTC).isoformat()} unexpected error\n")
                fh.write("".join(traceback.format_exception(exc)))
        except OSError:
            where = None
    detail = f"; details in {where}" if where else ""
    return f"unexpected {type(exc).__name__}{detail}"


def one_line(message: str) -> str:
    """A message as one line (the CLI contract), whatever the library put in it."""
    return " ".join(str(message).split())


def print_error(message: str) -> None:
    sys.stderr.write(f"error: {one_line(message)}\n")
    sys.stderr.flush()
