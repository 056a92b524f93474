"""A terminal progress bar for a stage step: units done, documents per second, time left.

Shown only when stderr is a terminal (and `CORPUSFORGE_PROGRESS` is not `0`), so logs, pipes
and CI stay quiet; the Prefect driver also reports progress to the UI as an artifact.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def progress_wanted() -> bool:
    return os.environ.get("CORPUSFORGE_PROGRESS", "1") != "0" and sys.stderr.isatty()


class StepProgress:
    """`with StepProgress("pii: scrub", units) as p: ... p.advance(1, documents=n)`."""

    def __init__(self, description: str, total: int):
        self.description = description
        self.total = total
        self.documents = 0
        self._started = time.monotonic()
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> StepProgress:
        if progress_wanted() and self.total > 0:
            from rich.errors import LiveError
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                transient=False,
            )
            try:
                self._bar.start()
            except LiveError:  # another display (a pipeline's stage bar) owns the terminal
                self._bar = None
                return self
            self._task = self._bar.add_task(self.description, total=self.total, rate="")
        return self

    def advance(self, units: int = 1, *, documents: int = 0) -> None:
        self.documents += documents
        if self._bar is None:
            return
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = f"{self.documents / elapsed:,.0f} docs/s" if self.documents else ""
        self._bar.update(self._task, advance=units, rate=rate)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
